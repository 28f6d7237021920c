"""Issue 16 at cluster scale: 100 CloneSets x 100 pods in one namespace on 20 kwok nodes.

``.venv/bin/python -m benchmarks.scale [--quick] [--no-kruise] [--idle-seconds S]`` (``make
bench-scale``; ``--quick``: 10 x 20 pods on 4 nodes, a smoke run of a few minutes) starts a
control plane (``BenchPlane``, ``unlimited`` client limits) with Flotilla's watcher and one
CloneSet worker and, in order:

1. creates a tenth of the CloneSets (1,000 pods), waits for every pod Ready, reads the RSS (now
   and peak so far) of the watcher and the worker, and counts one reconcile's API reads
   (``cloneset_reads``: the worker's own ``observe`` with Flotilla paused); then the rest
   (10,000 pods), the same readings;
2. idle cost: CPU seconds per minute of every component over ``--idle-seconds`` (default 330,
   longer than the watcher's 300 s +-10 % resync period, whose count in the window is reported);
3. rolls every CloneSet in place (image v1 -> v2, ``InPlaceIfPossible``) with 1 worker, starts 2
   more workers and rolls them back with 3: the throughput ratio;
4. stops the extra workers, kills (SIGKILL) the one left, touches every CloneSet while it is
   down and restarts it: time to ready and to every key reconciled (its log);
5. kills the watcher and restarts it as it was (it resumes from its checkpoint: time to ready,
   triggers published), then kills it and starts it without a checkpoint (a fresh checkpoint
   scope): time to every key re-triggered and reconciled.

Then, unless ``--no-kruise``, the same cluster shape on a second control plane under
kruise-manager v1.9.1 (the conformance launcher, ``flotilla/conformance/kruise_manager.py``,
kruise's CRDs, 5000 QPS): the same two stages' RSS, the idle window, one roll, and a SIGKILL +
restart timed to every CloneSet's ``Finished syncing CloneSet``. Writes a JSON result in the run
folder and prints `scale_report.render_report`'s tables (``--report FILE`` re-renders one).
See docs/benchmarks.md, "At cluster scale".
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from benchmarks import cloneset_workloads as wl
from benchmarks.cloneset_reads import paused, per_call, reads_row
from benchmarks.harness.controlplane import BenchPlane, _probe
from benchmarks.harness.procstat import ProcessMeter, cpu_seconds, peak_rss_bytes, rss_bytes
from benchmarks.harness.promscrape import counters
from benchmarks.harness.runs import result_header
from benchmarks.scale_pods import CountingTracker
from benchmarks.scale_report import (
    FULL,
    QUICK,
    Shape,
    flag_value,
    flotilla_reconciled_keys,
    kruise_reconciled_keys,
    per_minute,
    render_report,
    with_flag,
)
from flotilla.conformance import kruise_manager
from flotilla.conformance.specs import kruise_source
from flotilla.devcluster.env import new_run_dir
from flotilla.devcluster.ports import free_port
from flotilla.devcluster.process import ManagedProcess
from flotilla.devcluster.toolchain import ensure_binaries
from flotilla.runtime.kube import KubeClient, Resource
from schemas.bus.envelope import KeyParts
from workers.cloneset.worker import observe
from workers.runtime.observe import ApiStateReader

NAMESPACE = "scale"
#: Every benchmark pod carries this label (the tracker's selector); each CloneSet selects ``app=<name>``.
POD_LABEL = ("bench-scale", "1")
WATCHER = "flotilla-watcher"
WORKER = "flotilla-worker-cloneset"
KRUISE = "kruise-manager"
KRUISE_QPS = 5000
REVISIONS = Resource("apps", "v1", "controllerrevisions")
TOUCH_ANNOTATION = "bench.flotilla.dev/touched"
#: API requests the benchmark itself has in flight at once (creates, patches).
FAN_OUT = 16


def _log(message: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def names(shape: Shape) -> list[str]:
    return [f"scale-{i:03d}" for i in range(shape.clonesets)]


def cloneset(name: str, replicas: int, image: str) -> dict[str, Any]:
    """The CloneSet benchmark's InPlaceIfPossible CloneSet, its pods also labelled `POD_LABEL`."""
    obj = wl.cloneset(name, replicas, image, "InPlaceIfPossible")
    obj["spec"]["template"]["metadata"]["labels"][POD_LABEL[0]] = POD_LABEL[1]
    return obj


async def fan_out(calls: Sequence[Callable[[], Awaitable[Any]]]) -> None:
    """Run ``calls`` with at most `FAN_OUT` in flight."""
    gate = asyncio.Semaphore(FAN_OUT)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with gate:
            await call()

    await asyncio.gather(*(one(c) for c in calls))


# ---------------------------------------------------------------------- logs
class LogFollower:
    """The text a process's log gained since `mark` (whole lines only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.text = ""

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0
        self.text = ""

    def read(self) -> str:
        if self.path.exists():
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
            complete = chunk.rfind(b"\n") + 1
            self.offset += complete
            self.text += chunk[:complete].decode(errors="replace")
        return self.text


async def until_keys(
    followers: Sequence[LogFollower], parse: Callable[[str], set[str]], expected: set[str], limit_s: float
) -> tuple[float | None, int]:
    """Poll the logs until every expected key was reconciled: (monotonic time then, or None at
    the limit; how many expected keys were seen)."""
    deadline = time.monotonic() + limit_s
    seen: set[str] = set()
    while True:
        for follower in followers:
            seen |= parse(follower.read()) & expected
        if seen >= expected:
            return time.monotonic(), len(seen)
        if time.monotonic() > deadline:
            return None, len(seen)
        await asyncio.sleep(0.2)


async def until_ready(url: str, limit_s: float) -> float | None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if await asyncio.to_thread(_probe(url)):
            return time.monotonic()
        await asyncio.sleep(0.1)
    return None


def _http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read()).decode()


async def flotilla_counter(url: str, name: str) -> float:
    try:
        text = await asyncio.to_thread(_http_get, url)
    except OSError:
        return 0.0
    return sum(counters(text, {name: ()}).values())


# ---------------------------------------------------------------------- one plane
class Scale:
    """What both planes do: create the CloneSets in two stages, read memory, idle, roll."""

    def __init__(self, plane: BenchPlane, client: KubeClient, shape: Shape, args: argparse.Namespace) -> None:
        self.plane, self.client, self.shape, self.args = plane, client, shape, args
        self.tracker = CountingTracker(client, NAMESPACE, f"{POD_LABEL[0]}={POD_LABEL[1]}")
        self.created: list[str] = []
        self.image = wl.IMAGE_V1

    def keys(self) -> set[str]:
        return {f"{NAMESPACE}/{name}" for name in self.created}

    async def create(self, count: int) -> float:
        """Create CloneSets until ``count`` exist; the seconds until every pod was Ready."""
        new = names(self.shape)[len(self.created) : count]
        path = wl.CLONESETS.path(NAMESPACE)
        started = time.monotonic()
        await fan_out(
            [
                partial(self.client.create, path, cloneset(n, self.shape.pods_per_cloneset, self.image))
                for n in new
            ]
        )
        self.created += new
        size = len(self.created) * self.shape.pods_per_cloneset
        try:
            done = await self.tracker.wait_until(
                lambda _: self.tracker.settled(size, self.image), 180 + size * 0.2
            )
        except TimeoutError:
            raise RuntimeError(
                f"{self.tracker.updated(self.image)}/{size} pods Ready after creating "
                f"{len(self.created)} CloneSets"
            ) from None
        return done - started

    async def stage(self, processes: Sequence[str]) -> dict[str, Any]:
        """RSS now and peak so far of ``processes``, and how many objects the watch streams hold."""
        await asyncio.sleep(5.0)  # the last status writes
        pids = self.plane.component_pids()
        revisions = (await self.client.get(REVISIONS.path(NAMESPACE))).get("items") or []
        pods = self.tracker.live
        return {
            "clonesets": len(self.created),
            "pods": pods,
            "objects": pods + len(self.created) + len(revisions),
            "rss": {
                p: {"rss_bytes": rss_bytes(pids[p]), "peak_bytes": peak_rss_bytes(pids[p])} for p in processes
            },
        }

    async def idle(self, watcher_metrics: str | None) -> dict[str, Any]:
        """CPU seconds per minute of every component over the idle window (after 10 s to settle)."""
        await asyncio.sleep(10.0)
        pids = self.plane.component_pids()
        resyncs = "flotilla_watcher_resyncs_total"
        before_resyncs = await flotilla_counter(watcher_metrics, resyncs) if watcher_metrics else None
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        started = time.monotonic()
        _log(f"idle: measuring CPU for {self.args.idle_seconds:.0f} s")
        await asyncio.sleep(self.args.idle_seconds)
        window = time.monotonic() - started
        after = {name: cpu_seconds(pid) for name, pid in pids.items()}
        per_min = {name: per_minute(before[name], after[name], window) for name in pids}
        out: dict[str, Any] = {"window_seconds": window, "cpu_per_minute": per_min}
        if watcher_metrics and before_resyncs is not None:
            out["resyncs"] = int(await flotilla_counter(watcher_metrics, resyncs) - before_resyncs)
        return out

    async def roll(self, image: str, label: str) -> dict[str, Any]:
        """Patch every CloneSet's image; time until every pod is Ready on it (in place: no pod created)."""
        size = len(self.created) * self.shape.pods_per_cloneset
        uids = set(self.tracker.uids_seen)
        meter = ProcessMeter(self.plane.component_pids())
        meter.start()
        started = time.monotonic()
        await fan_out(
            [
                partial(self.client.patch, wl.CLONESETS.path(NAMESPACE, n), wl.image_patch(image))
                for n in self.created
            ]
        )
        record: dict[str, Any] = {"image": image}
        try:
            done = await self.tracker.wait_until(
                lambda _: self.tracker.settled(size, image), 180 + size * 0.3
            )
            record["seconds"] = done - started
        except TimeoutError:
            record["error"] = f"timed out with {self.tracker.updated(image)}/{size} pods Ready on {image}"
        usage, busy = meter.stop()
        record["usage"] = {name: asdict(u) for name, u in usage.items()}
        record["machine_busy"] = busy
        record["pods_created"] = len(self.tracker.uids_seen - uids)
        self.image = image
        _log(f"{label}: {record.get('seconds', record.get('error'))}")
        return record


# ---------------------------------------------------------------------- Flotilla
def start_worker(plane: BenchPlane, name: str) -> ManagedProcess:
    """One more CloneSet worker: the first worker's command line on its own port and log."""
    port = free_port()
    argv = with_flag(plane.flotilla[WORKER].argv, "--http-port", str(port))
    process = ManagedProcess(name, argv, plane.env.run_dir / "logs" / f"{name}.log")
    process.start()
    plane.flotilla[name] = process
    plane.metrics_urls[name] = f"http://127.0.0.1:{port}/metrics"
    process.wait_until(_probe(f"http://127.0.0.1:{port}/readyz"), 120, "ready (/readyz)")
    return process


def stop_worker(plane: BenchPlane, name: str) -> None:
    plane.flotilla.pop(name).stop(timeout=15)
    plane.metrics_urls.pop(name, None)


def _readyz(plane: BenchPlane, name: str) -> str:
    return plane.metrics_urls[name].replace("/metrics", "/readyz")


async def reads_of_one_reconcile(
    plane: BenchPlane, client: KubeClient, scale: Scale, observes: int
) -> list[str]:
    """``cloneset_reads``' figures for the first CloneSet, with Flotilla paused."""
    reader = ApiStateReader(client)
    key = KeyParts("cloneset", NAMESPACE, scale.created[0])

    async def one_observe() -> None:
        snapshot = await observe(reader, key)
        found = len(snapshot.observed.pods) if snapshot.observed is not None else 0
        if found != scale.shape.pods_per_cloneset:
            raise RuntimeError(
                f"observe found {found} pods of {key.name}, not {scale.shape.pods_per_cloneset}"
            )

    with paused(plane):
        per = await per_call(client, observes, one_observe)
    return reads_row(f"{len(scale.created)} CloneSets", per)


async def worker_restart(plane: BenchPlane, scale: Scale) -> dict[str, Any]:
    """Kill the one worker, touch every CloneSet while it is down, restart it."""
    process = plane.flotilla[WORKER]
    follower = LogFollower(process.log_path)
    process.kill()
    await fan_out(
        [
            partial(
                scale.client.patch,
                wl.CLONESETS.path(NAMESPACE, n),
                {"metadata": {"annotations": {TOUCH_ANNOTATION: str(time.time())}}},
            )
            for n in scale.created
        ]
    )
    await asyncio.sleep(2.0)  # the watcher publishes the triggers; they wait in the stream
    follower.mark()
    started = time.monotonic()
    process.start()
    ready = await until_ready(_readyz(plane, WORKER), 120)
    done, seen = await until_keys([follower], flotilla_reconciled_keys, scale.keys(), 300)
    return {
        "ready_seconds": None if ready is None else ready - started,
        "keys_seconds": None if done is None else done - started,
        "keys_expected": len(scale.keys()),
        "keys_seen": seen,
    }


async def watcher_restart(plane: BenchPlane, scale: Scale, cold: bool) -> dict[str, Any]:
    """Kill the watcher and start it again: as it was (resumes from its checkpoint), or with a
    fresh lease name, which is also its checkpoint scope: it lists and triggers every key."""
    process = plane.flotilla[WATCHER]
    process.kill()
    if cold:
        lease = f"{flag_value(process.argv, '--lease-name')}-cold"
        process = ManagedProcess(
            process.name, with_flag(process.argv, "--lease-name", lease), process.log_path
        )
        plane.flotilla[WATCHER] = process
    workers = [LogFollower(p.log_path) for name, p in plane.flotilla.items() if name.startswith(WORKER)]
    for follower in workers:
        follower.mark()
    published = "flotilla_events_published_total"
    started = time.monotonic()
    process.start()
    ready = await until_ready(_readyz(plane, WATCHER), 120)
    out: dict[str, Any] = {"ready_seconds": None if ready is None else ready - started}
    if cold:
        done, seen = await until_keys(workers, flotilla_reconciled_keys, scale.keys(), 300)
        out.update(
            keys_seconds=None if done is None else done - started,
            keys_expected=len(scale.keys()),
            keys_seen=seen,
        )
    else:
        await asyncio.sleep(5.0)
    out["triggers"] = int(await flotilla_counter(plane.metrics_urls[WATCHER], published))
    return out


async def run_flotilla(
    plane: BenchPlane, shape: Shape, args: argparse.Namespace, out: dict[str, Any]
) -> None:
    """Flotilla's figures, into ``out`` as each is taken (an interrupted run keeps them)."""
    out.update({"stages": [], "rolls": []})
    async with KubeClient.from_environment(plane.env.kubeconfig) as client:
        scale = Scale(plane, client, shape, args)
        await scale.tracker.start()
        try:
            for count in (shape.first_stage(), shape.clonesets):
                seconds = await scale.create(count)
                stage = await scale.stage((WATCHER, WORKER))
                stage["setup_seconds"] = seconds
                stage["reads"] = await reads_of_one_reconcile(plane, client, scale, args.observes)
                out["stages"].append(stage)
                _log(f"flotilla: {stage['pods']} pods Ready in {seconds:.1f} s; {stage['rss']}")
            out["idle"] = await scale.idle(plane.metrics_urls[WATCHER])
            out["rolls"].append({"workers": 1, **await scale.roll(wl.IMAGE_V2, "roll, 1 worker")})
            extra = [f"{WORKER}-{i}" for i in range(1, args.workers)]
            for name in extra:
                start_worker(plane, name)
            out["rolls"].append(
                {"workers": args.workers, **await scale.roll(wl.IMAGE_V1, f"roll, {args.workers} workers")}
            )
            for name in extra:
                stop_worker(plane, name)
            out["worker_restart"] = await worker_restart(plane, scale)
            _log(f"worker restart: {out['worker_restart']}")
            out["watcher_restart_resume"] = await watcher_restart(plane, scale, cold=False)
            _log(f"watcher restart (checkpoint): {out['watcher_restart_resume']}")
            out["watcher_restart_cold"] = await watcher_restart(plane, scale, cold=True)
            _log(f"watcher restart (no checkpoint): {out['watcher_restart_cold']}")
        finally:
            await scale.tracker.stop()


# ---------------------------------------------------------------------- kruise-manager
async def kruise_restart(plane: BenchPlane, process: ManagedProcess, scale: Scale) -> dict[str, Any]:
    health = flag_value(process.argv, "--health-probe-addr")
    follower = LogFollower(process.log_path)
    process.kill()
    follower.mark()
    started = time.monotonic()
    process.start()
    assert process.pid is not None
    plane.env.extra_pids[KRUISE] = process.pid
    ready = await until_ready(f"http://{health}/readyz", 180)
    done, seen = await until_keys([follower], kruise_reconciled_keys, scale.keys(), 300)
    return {
        "ready_seconds": None if ready is None else ready - started,
        "keys_seconds": None if done is None else done - started,
        "keys_expected": len(scale.keys()),
        "keys_seen": seen,
    }


async def run_kruise(
    plane: BenchPlane, process: ManagedProcess, shape: Shape, args: argparse.Namespace, out: dict[str, Any]
) -> None:
    """kruise-manager's figures, into ``out`` as each is taken (an interrupted run keeps them)."""
    out["stages"] = []
    async with KubeClient.from_environment(plane.env.kubeconfig) as client:
        scale = Scale(plane, client, shape, args)
        await scale.tracker.start()
        try:
            for count in (shape.first_stage(), shape.clonesets):
                seconds = await scale.create(count)
                stage = await scale.stage((KRUISE,))
                stage["setup_seconds"] = seconds
                out["stages"].append(stage)
                _log(f"kruise: {stage['pods']} pods Ready in {seconds:.1f} s; {stage['rss']}")
            out["idle"] = await scale.idle(None)
            out["roll"] = await scale.roll(wl.IMAGE_V2, "kruise-manager roll")
            out["restart"] = await kruise_restart(plane, process, scale)
            _log(f"kruise-manager restart: {out['restart']}")
        finally:
            await scale.tracker.stop()


# ---------------------------------------------------------------------- main
def joined(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One result from runs of one side each (``--no-kruise``, ``--kruise-only``), for the report.

    The header (commit, times, load) is the first run's; each later run's own header is kept
    under ``runs`` so the report can say that the two sides ran apart.
    """
    if len(results) == 1:
        return results[0]
    first, *others = results
    if any(other["shape"] != first["shape"] for other in others):
        raise SystemExit("--report: the results are of different shapes; they cannot be compared")
    out = dict(first)
    out["runs"] = [{k: v for k, v in r.items() if k not in ("flotilla", "kruise")} for r in results]
    for other in others:
        for side in ("flotilla", "kruise"):
            if side in other:
                if side in out:
                    raise SystemExit(f"--report: two results have the {side} side")
                out[side] = other[side]
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK.describe()}, idle window 30 s")
    parser.add_argument("--clonesets", type=int, help=f"default {FULL.clonesets}")
    parser.add_argument("--pods", type=int, help=f"pods per CloneSet, default {FULL.pods_per_cloneset}")
    parser.add_argument("--nodes", type=int, help=f"kwok nodes, default {FULL.nodes}")
    parser.add_argument("--workers", type=int, default=3, help="CloneSet worker replicas of the second roll")
    parser.add_argument("--idle-seconds", type=float, help="idle window (default 330; --quick 30)")
    parser.add_argument("--observes", type=int, default=5, help="observe calls per reads reading")
    sides = parser.add_mutually_exclusive_group()
    sides.add_argument("--no-kruise", action="store_true", help="skip the kruise-manager plane")
    sides.add_argument("--kruise-only", action="store_true", help="only the kruise-manager plane")
    parser.add_argument("--output", type=Path, help="JSON result (default: in the run folder)")
    parser.add_argument(
        "--report",
        type=Path,
        nargs="+",
        help="only re-render saved JSON results (a Flotilla-only and a kruise-only run are joined)",
    )
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    args.shape = Shape(
        clonesets=args.clonesets or base.clonesets,
        pods_per_cloneset=args.pods or base.pods_per_cloneset,
        nodes=args.nodes or base.nodes,
    )
    if args.idle_seconds is None:
        args.idle_seconds = 30.0 if args.quick else 330.0
    if args.workers < 2:
        parser.error("--workers must be at least 2 (the second roll is compared with the first, 1 worker)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        print(render_report(joined([orjson.loads(path.read_bytes()) for path in args.report])))
        return 0
    shape: Shape = args.shape
    result: dict[str, Any] = {
        **result_header("scale", "benchmarks.scale", list(argv if argv is not None else sys.argv[1:])),
        "shape": asdict(shape),
        "quick": bool(args.quick),
        "idle_seconds": args.idle_seconds,
    }
    per_node = -(-shape.pods // shape.nodes) + 10
    run_dir = new_run_dir("bench-scale")
    output: Path = args.output or run_dir / "scale-results.json"
    _log(f"{shape.describe()}; Flotilla plane in {run_dir}")

    def save() -> None:
        result["host"]["loadavg_at_end"] = os.getloadavg()
        output.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))

    if not args.kruise_only:
        plane = BenchPlane.start("unlimited", run_dir, NAMESPACE, pods_per_node=per_node, nodes=shape.nodes)
        try:
            plane.start_flotilla("cloneset")
            result["flotilla"] = {}
            asyncio.run(run_flotilla(plane, shape, args, result["flotilla"]))
        finally:
            save()  # before the (slow) stop: an interrupted stop loses nothing measured
            plane.stop()
    if not args.no_kruise:
        kruise_dir = new_run_dir("bench-scale-kruise")
        _log(f"kruise-manager plane in {kruise_dir}")
        plane = BenchPlane.start(
            "unlimited", kruise_dir, NAMESPACE, pods_per_node=per_node, nodes=shape.nodes, crds=()
        )
        try:
            binary = ensure_binaries([KRUISE])[KRUISE]
            limits = (f"--rest-config-qps={KRUISE_QPS}", f"--rest-config-burst={KRUISE_QPS * 2}")
            process = kruise_manager.start(plane.env, binary, kruise_source(), limits)
            result["kruise"] = {}
            asyncio.run(run_kruise(plane, process, shape, args, result["kruise"]))
        finally:
            save()
            plane.stop()
    result["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    save()
    print(render_report(result))
    print(f"results: {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
