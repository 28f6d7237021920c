"""Issue 17's truth benchmark: an image update of N pods on the real node (containerd + runc + a
kubelet), CloneSet in place vs recreate, with and without image pre-download.

``.venv/bin/python -m benchmarks.inplace_real [--pods 20] [--repeats 3]`` (``make
bench-inplace-real``; root: it starts the real node, one per machine, so queue for it with
``flock /tmp/flotilla-realnode.queue``) starts its own control plane (no kwok node) and the real
node (`flotilla.devcluster.realnode`), Flotilla's watcher, the cloneset worker (gate
``PreDownloadImageForInPlaceUpdate`` on), the imagepulljob and nodeimage workers, and ``flotilla
node-agent`` for the node (it pulls the NodeImage's images through the CRI). One CloneSet of N
pods pinned to the node (its taint tolerated) runs the whole time; each run changes its image to
an image made for that run alone (distinct content, pushed to the loopback registry; the node's
containerd has no copy, checked before the timed step), so every pull is a real one. Per repeat
the three variants, interleaved, their order rotated:

- ``recreate``: strategy ReCreate; the image patched -> every pod replaced by a new one, whose
  start pulls the image (kruise creates no pre-download job for ReCreate);
- ``inplace``: strategy InPlaceIfPossible, no pre-download (``image-predownload-min-updated-ready-pods:
  N`` holds it back until the rollout is over); the image patched -> the kubelet restarts each
  container with the new image, pulling it at the first restart;
- ``inplace-predownload``: strategy InPlaceIfPossible with ``partition: N`` first: the image
  patched (no pod may update yet), the cloneset worker creates its ImagePullJob for the pods'
  node, the node agent pulls the image (untimed: ``predownload_seconds``), the image is checked
  to be on the node; then the timed step: ``partition: 0``, the rollout proceeds on pulled images.

``--controller kruise`` runs the same on kruise-manager v1.9.1 + kruise-daemon for the node
(kruise's CRDs and webhooks, every alpha gate on as kruise's e2e has it), for a row side by side.
Every variant uses kruise's default batch (``maxUnavailable`` 20 %, no surge). Timed: the patch
that lets the rollout go -> N live pods, each Ready and running the new image (the status the
kubelet reports), as ``benchmarks/cloneset.py`` times an update (`benchmarks.harness.podwatch`).
Each run also records the pods created (N for recreate, 0 in place) and whether the image was
on the node when the timed step began (False for the first two variants, True once pre-downloaded);
after each run the image of the run before (no container runs it any more) is removed from
containerd. Each run also records where its pods' seconds went (``inplace_phases``: per pod,
controller -> patch, kubelet -> container running, controller -> InPlaceUpdateReady, kubelet ->
Ready). Writes a JSON result, prints a markdown table of medians (min-max) and the paired ratios
recreate / in place, per repeat, and the per-pod hops per variant (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from benchmarks import cloneset_workloads as wl
from benchmarks.harness import sidebyside
from benchmarks.harness.controlplane import BenchPlane
from benchmarks.harness.podwatch import all_updated
from benchmarks.harness.runs import result_header, until
from benchmarks.inplace_phases import PhaseTracker, phases, render_phases
from flotilla.conformance.realnode import (
    runtime_socket_link,
    socket_path,
    start_kruise_daemon,
    start_node_agent,
    wait_node_image,
)
from flotilla.devcluster.env import new_run_dir
from flotilla.devcluster.ports import LOOPBACK
from flotilla.devcluster.process import ComponentError, unwind_on_sigterm
from flotilla.devcluster.realnode import NODE_KEY, RealNode
from flotilla.devcluster.toolchain import ensure_binaries
from flotilla.runtime.kube import JsonObject, KubeClient, Resource
from workers.cloneset.predownload import MIN_UPDATED_READY_PODS_ANNOTATION

NAMESPACE = "bench"
NAME = "real"
IMAGE_PULL_JOBS = Resource("apps.kruise.io", "v1beta1", "imagepulljobs", "ImagePullJob")
VARIANTS = ("recreate", "inplace", "inplace-predownload")
STEP_TIMEOUT_S = 300.0
#: The node agent watches ContainerRecreateRequests too (its readiness waits for that list).
CRDS = (
    "clonesets.apps.kruise.io",
    "imagepulljobs.apps.kruise.io",
    "nodeimages.apps.kruise.io",
    "containerrecreaterequests.apps.kruise.io",
)
GATES = "PreDownloadImageForInPlaceUpdate=true"


def cloneset(pods: int, image: str) -> dict[str, Any]:
    """The benchmark's CloneSet (`cloneset_workloads.cloneset`) pinned to the real node."""
    body = wl.cloneset(NAME, pods, image, "InPlaceIfPossible")
    spec = body["spec"]["template"]["spec"]
    spec["nodeSelector"] = {NODE_KEY: "true"}
    spec["tolerations"] = [{"key": NODE_KEY, "operator": "Exists", "effect": "NoSchedule"}]
    spec["enableServiceLinks"] = False
    return body


def strategy_patch(variant: str, pods: int) -> dict[str, Any]:
    """The update strategy a variant runs under (set before its image changes). ``inplace`` asks for
    ``pods`` updated ready pods before any pre-download (kruise's
    ``image-predownload-min-updated-ready-pods``), so none starts before its rollout is over: with
    ``maxUnavailable`` below N kruise would otherwise pull beside the first batch."""
    kind = "ReCreate" if variant == "recreate" else "InPlaceIfPossible"
    partition = pods if variant == "inplace-predownload" else 0
    hold = str(pods) if variant == "inplace" else None
    return {
        "metadata": {"annotations": {MIN_UPDATED_READY_PODS_ANNOTATION: hold}},
        "spec": {"updateStrategy": {"type": kind, "partition": partition}},
    }


def pull_job_done(jobs: Sequence[JsonObject], image: str) -> bool:
    """An ImagePullJob for ``image`` finished with its node succeeded."""
    for job in jobs:
        status = job.get("status") or {}
        if (job.get("spec") or {}).get("image") == image and status.get("succeeded", 0) >= 1:
            return True
    return False


@contextlib.asynccontextmanager
async def tidy_unless_interrupted(tidy: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
    """Run ``tidy`` after the block when it ends or fails, but not when the run is interrupted:
    Ctrl-C (the main task cancelled by ``asyncio.run``, or KeyboardInterrupt) and SIGTERM
    (SystemExit, :func:`flotilla.devcluster.process.unwind_on_sigterm`) are BaseExceptions that go
    straight to :func:`run_on_real_node`'s teardown; tidying first would poll the CloneSet for up
    to ``STEP_TIMEOUT_S`` against a plane that may be stopping."""
    try:
        yield
    except Exception:
        await tidy()
        raise
    await tidy()


class Bench:
    """The CloneSet of N pods on the real node, and the runs made on it."""

    def __init__(self, client: KubeClient, node: RealNode, pods: int) -> None:
        self.client = client
        self.node = node
        self.pods = pods
        self.path = wl.CLONESETS.path(NAMESPACE, NAME)
        self.tracker = PhaseTracker(client, NAMESPACE, f"app={NAME}")
        #: The image of the run before (still in containerd: the pods ran it until this run).
        self.previous: str | None = None

    async def setup(self) -> float:
        """Create the CloneSet on image v1 (imported on the node); seconds until all pods Ready."""
        await self.tracker.start()
        started = time.monotonic()
        await self.client.create(wl.CLONESETS.path(NAMESPACE), cloneset(self.pods, self.node.images["v1"]))
        image = self.node.images["v1"]
        done = await self.tracker.wait_until(lambda p: all_updated(p, self.pods, image), STEP_TIMEOUT_S)
        return done - started

    def image_for(self, variant: str, repeat: int) -> str:
        """A new image of its own content in the loopback registry, not on the node."""
        ref = f"{LOOPBACK}:{self.node.registry_port}/flotilla/bench:{variant}-r{repeat}"
        self.node.push_image(ref, f"bench-{variant}-r{repeat}")
        self.node.remove_image(ref)
        return ref

    async def run(self, _scenario: str, variant: str, repeat: int) -> dict[str, Any]:
        image = await asyncio.to_thread(self.image_for, variant, repeat)
        async with tidy_unless_interrupted(lambda: self._after(image)):
            record = await self._update(variant, image)
        return record

    async def _update(self, variant: str, image: str) -> dict[str, Any]:
        record: dict[str, Any] = {"variant": variant, "image": image, "seconds": None, "error": None}
        await self.client.patch(self.path, strategy_patch(variant, self.pods))
        record["on_node_before"] = await asyncio.to_thread(self.node.has_image, image)
        if variant == "inplace-predownload":
            started = time.monotonic()
            await self.client.patch(self.path, wl.image_patch(image))

            async def pulled() -> bool:
                jobs = await self.client.get(IMAGE_PULL_JOBS.path(NAMESPACE))
                return pull_job_done(jobs.get("items") or [], image)

            if not await until(pulled, STEP_TIMEOUT_S):
                record["error"] = f"no ImagePullJob for {image} succeeded within {STEP_TIMEOUT_S:.0f}s"
                await self.client.patch(self.path, {"spec": {"updateStrategy": {"partition": 0}}})
                return record
            record["predownload_seconds"] = round(time.monotonic() - started, 3)
            record["on_node_before"] = await asyncio.to_thread(self.node.has_image, image)
            go = {"spec": {"updateStrategy": {"partition": 0}}}
        else:
            go = wl.image_patch(image)
        before = set(self.tracker.uids_seen)
        self.tracker.arm(image)
        started = time.monotonic()
        await self.client.patch(self.path, go)
        try:
            done = await self.tracker.wait_until(lambda p: all_updated(p, self.pods, image), STEP_TIMEOUT_S)
            record["seconds"] = round(done - started, 3)
        except TimeoutError:
            updated = sum(1 for p in self.tracker.pods.values() if p.ready and p.running_image == image)
            record["error"] = f"timed out with {updated}/{self.pods} pods Ready on the new image"
        record["pods_created"] = len(self.tracker.uids_seen - before)
        record["phases"] = phases(list(self.tracker.marks.values()), self.tracker.armed_at)
        return record

    async def _after(self, image: str) -> None:
        """Between runs: the CloneSet settled, and the image before this one, which runs in no
        container now, out of containerd."""
        await self._settle()
        if self.previous is not None:
            await asyncio.to_thread(self.node.remove_image, self.previous)
        self.previous = image

    async def _settle(self) -> None:
        """Wait until the CloneSet's revisions agree and no pod is terminating (recreate leaves
        old pods stopping after the new ones are Ready)."""

        async def settled() -> bool:
            status = (await self.client.get(self.path)).get("status") or {}
            live = [p for p in self.tracker.pods.values() if not p.deleting]
            return (
                status.get("currentRevision") == status.get("updateRevision")
                and len(live) == len(self.tracker.pods) == self.pods
            )

        await until(settled, STEP_TIMEOUT_S)


def describe(record: dict[str, Any]) -> str:
    extra = f", pre-download {record['predownload_seconds']:.2f} s" if "predownload_seconds" in record else ""
    return (
        f"{record['variant']} r{record['repeat']}: {sidebyside.took(record)}{extra}, "
        f"{record.get('pods_created', '?')} pods created, image on the node before the timed step: "
        f"{record.get('on_node_before')}; per pod (median s): "
        + ", ".join(f"{hop} {value}" for hop, value in (record.get("phases") or {}).items())
    )


def render_markdown(records: Sequence[dict[str, Any]], pods: int, controller: str = "flotilla") -> str:
    """Medians (min-max) per variant, the paired ratios recreate / in place, pre-download time;
    then where each variant's per-pod seconds go (``inplace_phases``)."""
    cells = [sidebyside.seconds_cell(records, variant) for variant in VARIANTS]
    ratios = [sidebyside.paired_ratio(records, "recreate", v) for v in VARIANTS[1:]]
    predownload = [r["predownload_seconds"] for r in records if r.get("predownload_seconds") is not None]
    created = {
        v: max((r.get("pods_created", 0) for r in records if r["variant"] == v), default=0) for v in VARIANTS
    }
    shown = [f"{x:.2f}x" if x else "not measured" for x in ratios]
    pre = f"{statistics.median(predownload):.2f} s" if predownload else "not measured"
    return (
        "| controller | N | recreate (s) | in place (s) | in place, pre-downloaded (s) |"
        " recreate / in place | recreate / in place pre-downloaded | pre-download (untimed, median) |"
        " pods created |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
        f"| {controller} | {pods} | {cells[0]} | {cells[1]} | {cells[2]} | {shown[0]} | {shown[1]} | {pre} |"
        f" {created['recreate']} / {created['inplace']} / {created['inplace-predownload']} |\n"
        "\nPer pod, median seconds of each hop (`benchmarks/inplace_phases.py`):\n\n"
        + render_phases(records, VARIANTS)
    )


async def run_all(plane: BenchPlane, node: RealNode, pods: int, repeats: int) -> dict[str, Any]:
    async with KubeClient.from_environment(plane.env.kubeconfig) as client:
        bench = Bench(client, node, pods)
        try:
            setup = await bench.setup()
            sidebyside.log(f"{pods} pods Ready on v1 in {setup:.1f} s")
            records = await sidebyside.run_side_by_side(VARIANTS, repeats, bench.run, describe)
        finally:
            await bench.tracker.stop()
    return {"setup_seconds": round(setup, 3), "records": records}


def _start_controller(
    plane: BenchPlane, node: RealNode, controller: str, stack: contextlib.ExitStack[bool | None]
) -> None:
    """The controller side on the plane and the node: Flotilla's watcher, cloneset worker (gate on),
    imagepulljob and nodeimage workers and node agent; or kruise-manager v1.9.1 (kruise's e2e
    gates: every alpha gate on, PreDownloadImageForInPlaceUpdate among them) and kruise-daemon
    for the node, as ``make conformance-realnode BASELINE=kruise`` runs them. Stopped by ``stack``."""
    if controller == "kruise":
        plane.start_kruise(None)
        stack.enter_context(runtime_socket_link(socket_path()))
        binary = ensure_binaries(["kruise-daemon"])["kruise-daemon"]
        daemon = start_kruise_daemon(plane.env, binary, node.name)
        stack.callback(daemon.stop, 15)
    else:
        os.environ["FLOTILLA_NODEIMAGE_CREATION_DELAY"] = "0"  # the node is Ready already
        plane.start_flotilla(
            "cloneset", (f"--feature-gates={GATES}",), extra_types=("imagepulljob", "nodeimage")
        )
        agent = start_node_agent(plane.env, node.name, {})
        stack.callback(agent.stop, 15)
    wait_node_image(plane.env, node.name)


class _Stops(Protocol):
    def stop(self) -> None: ...


class _Node(_Stops, Protocol):
    def start(self) -> None: ...


NodeT = TypeVar("NodeT", bound=_Node)
T = TypeVar("T")


def run_on_real_node(
    plane: _Stops,
    make_node: Callable[[], NodeT],
    start_controller: Callable[[NodeT, contextlib.ExitStack[bool | None]], None],
    work: Callable[[NodeT], T],
) -> T:
    """``work`` on a started node with the controller side running; then, however it ends (done,
    an error, Ctrl-C, SIGTERM through ``unwind_on_sigterm``), the teardown of a normal end in its
    order: the controller side (``start_controller``'s ``stack``), the node (its kubelet stops the
    pods first), the control plane; the plane also when stopping the node failed."""
    node: NodeT | None = None
    try:
        with contextlib.ExitStack() as stack:  # the controller side stops before the node
            node = make_node()
            node.start()
            start_controller(node, stack)
            return work(node)
    finally:
        try:
            if node is not None:
                node.stop()  # before the control plane: the kubelet stops the pods
        finally:
            plane.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.inplace_real", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--pods", type=int, default=20, help="pods of the CloneSet (default 20; the node runs 50)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--controller",
        choices=("flotilla", "kruise"),
        default="flotilla",
        help="Flotilla's workers and node agent (default), or kruise-manager + kruise-daemon",
    )
    parser.add_argument("--output", type=Path, help="JSON result file (default: in the run folder)")
    args = parser.parse_args(argv)
    unwind_on_sigterm()  # `kill` tears down as Ctrl-C and a normal end do (run_on_real_node)
    controller: str = args.controller
    run_dir = new_run_dir(f"bench-inplace-real{'-kruise' if controller == 'kruise' else ''}")
    output: Path = args.output or run_dir / "inplace-real-results.json"
    result: dict[str, Any] = {
        **result_header(
            "inplace-real", "benchmarks.inplace_real", argv if argv is not None else sys.argv[1:]
        ),
        "controller": controller,
        "pods": args.pods,
        "repeats": args.repeats,
        "max_unavailable": wl.MAX_UNAVAILABLE,
        "records": [],
    }
    sidebyside.log(f"starting the control plane (no kwok node) and the real node in {run_dir}")
    # kruise-manager installs kruise's own CRDs
    crds = () if controller == "kruise" else CRDS
    plane = BenchPlane.start("default", run_dir, NAMESPACE, pods_per_node=110, nodes=0, crds=crds)
    cluster = plane.env.cluster

    def make_node() -> RealNode:
        if cluster is None or cluster.pki is None:
            raise ComponentError("the real node needs the launcher's own control plane")
        return RealNode(server=cluster.server, ca=cluster.pki.ca, api=cluster.api_request)

    def start_controller(node: RealNode, stack: contextlib.ExitStack[bool | None]) -> None:
        sidebyside.log(f"real node Ready in {node.startup_seconds:.1f} s")
        _start_controller(plane, node, controller, stack)

    def work(node: RealNode) -> dict[str, Any]:
        return asyncio.run(run_all(plane, node, args.pods, args.repeats))

    result.update(run_on_real_node(plane, make_node, start_controller, work))
    sidebyside.write_result(result, output, render_markdown(result["records"], args.pods, controller))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
