"""Issue 15's benchmark: a BroadcastJob over N kwok nodes to completion vs a DaemonSet rolling
out to the same nodes (kube-controller-manager), side by side.

``.venv/bin/python -m benchmarks.broadcastjob [--nodes 200] [--repeats 3] [--quick]`` starts its
own local control plane with N kwok nodes (+ NATS, + Flotilla's watcher and BroadcastJob worker),
then per repeat, variants interleaved and their order rotated: creates a BroadcastJob
(``completionPolicy: Always``, one pod a node, its pods finished by the kwok Stage keyed on the
``kwok.flotilla.dev/finish`` annotation of the template: test infrastructure, the worker knows
nothing of it) and times create -> ``Complete`` condition with ``succeeded == N``; creates a
DaemonSet with the same pod template and times create -> ``numberReady == N`` (every node's pod
Ready: the DaemonSet's "done"). Each object is deleted and its pods gone before the next run.
Writes a JSON result and prints a markdown table of medians (min-max) and the ratio
BroadcastJob / DaemonSet. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import sidebyside
from benchmarks.harness.controlplane import BenchPlane
from benchmarks.harness.runs import delete_and_wait_gone, result_header, until
from flotilla.devcluster.env import new_run_dir
from flotilla.devcluster.kwok_nodes import FINISH_ANNOTATION
from flotilla.runtime.kube import JsonObject, KubeClient, Resource

NAMESPACE = "bench"
BROADCASTJOBS = Resource("apps.kruise.io", "v1alpha1", "broadcastjobs", "BroadcastJob")
DAEMONSETS = Resource("apps", "v1", "daemonsets", "DaemonSet")
VARIANTS = ("broadcastjob", "daemonset")
#: One run's ceiling: a run that has not finished by then is recorded as an error.
RUN_TIMEOUT_S = 600.0
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)


def _template(name: str, finish: bool) -> JsonObject:
    annotations = {FINISH_ANNOTATION: "Succeeded"} if finish else {}
    return {
        "metadata": {"labels": {"app": name}, "annotations": annotations},
        "spec": {
            "containers": [{"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", "true"]}],
            "restartPolicy": "Never" if finish else "Always",
            # every node of the benchmark's control plane (N kwok nodes)
            "nodeSelector": {"type": "kwok"},
        },
    }


def broadcastjob(name: str) -> JsonObject:
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "BroadcastJob",
        "metadata": {"name": name},
        "spec": {"template": _template(name, finish=True), "completionPolicy": {"type": "Always"}},
    }


def daemonset(name: str) -> JsonObject:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": _template(name, finish=False)},
    }


def broadcastjob_done(obj: JsonObject, nodes: int) -> bool:
    status = obj.get("status") or {}
    conditions = status.get("conditions") or []
    complete = any(c.get("type") == "Complete" and c.get("status") == "True" for c in conditions)
    return complete and status.get("succeeded") == nodes


def daemonset_done(obj: JsonObject, nodes: int) -> bool:
    status = obj.get("status") or {}
    return bool(status.get("numberReady") == nodes and status.get("desiredNumberScheduled") == nodes)


async def run_once(client: KubeClient, variant: str, name: str, nodes: int) -> dict[str, Any]:
    """Create one object, time it to done, delete it and wait for its pods to go."""
    resource, manifest, done = (
        (BROADCASTJOBS, broadcastjob(name), broadcastjob_done)
        if variant == "broadcastjob"
        else (DAEMONSETS, daemonset(name), daemonset_done)
    )
    path = resource.path(NAMESPACE, name)
    started = time.monotonic()
    await client.create(resource.path(NAMESPACE), manifest)

    async def finished() -> bool:
        return done(await client.get(path), nodes)

    ok = await until(finished, RUN_TIMEOUT_S)
    seconds = time.monotonic() - started
    await delete_and_wait_gone(client, path, NAMESPACE, name, RUN_TIMEOUT_S)
    return {"variant": variant, "name": name, "seconds": round(seconds, 3) if ok else None,
            "error": None if ok else f"not done within {RUN_TIMEOUT_S:.0f}s"}  # fmt: skip


def _eligible(node: JsonObject) -> bool:
    """Ready and without the node lifecycle controller's taints: what both controllers count."""
    conditions = {c.get("type"): c.get("status") for c in (node.get("status") or {}).get("conditions") or ()}
    taints = (node.get("spec") or {}).get("taints") or ()
    return conditions.get("Ready") == "True" and not any(
        str(t.get("key", "")).startswith("node.kubernetes.io/") for t in taints
    )


async def wait_nodes_eligible(client: KubeClient, nodes: int) -> None:
    """Every one of the N kwok nodes Ready and untainted before the first run: a job started earlier
    counts fewer nodes (and, Always, completes without the late ones)."""

    async def all_eligible() -> bool:
        listing = await client.get(NODES.path(), {"labelSelector": "type=kwok"})
        return sum(_eligible(n) for n in listing.get("items") or ()) >= nodes

    if not await until(all_eligible, RUN_TIMEOUT_S):
        raise SystemExit(f"the {nodes} kwok nodes were not all Ready and untainted in {RUN_TIMEOUT_S:.0f}s")


async def run_all(plane: BenchPlane, nodes: int, repeats: int) -> list[dict[str, Any]]:
    async with KubeClient.from_environment(plane.env.kubeconfig) as client:
        await wait_nodes_eligible(client, nodes)
        sidebyside.log(f"all {nodes} kwok nodes Ready and untainted")
        for variant in VARIANTS:  # warm-up: caches, informers, first-write paths; not recorded
            await run_once(client, variant, f"warm-{variant}", nodes)

        async def run(_scenario: str, variant: str, repeat: int) -> dict[str, Any]:
            return await run_once(client, variant, f"{variant}-r{repeat}", nodes)

        def describe(record: dict[str, Any]) -> str:
            return f"{record['variant']} N={nodes} r{record['repeat']}: {sidebyside.took(record)}"

        return await sidebyside.run_side_by_side(VARIANTS, repeats, run, describe)


def render_markdown(records: Sequence[dict[str, Any]], nodes: int) -> str:
    lines = [
        "| N nodes | BroadcastJob to Complete (s) | DaemonSet to all Ready (s) | ratio BJ / DS |",
        "|---|---|---|---|",
    ]
    cells = [sidebyside.seconds_cell(records, variant) for variant in VARIANTS]
    ratio = sidebyside.paired_ratio(records, "broadcastjob", "daemonset")
    lines.append(f"| {nodes} | {cells[0]} | {cells[1]} | {f'{ratio:.2f}x' if ratio else 'not measured'} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.broadcastjob", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--nodes", type=int, default=200, help="kwok nodes N (default 200)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="N=20, 1 repeat")
    parser.add_argument("--output", type=Path, help="JSON result file (default: in the run folder)")
    args = parser.parse_args(argv)
    if args.quick:
        args.nodes, args.repeats = 20, 1
    run_dir = new_run_dir("bench-broadcastjob")
    output: Path = args.output or run_dir / "broadcastjob-results.json"
    result: dict[str, Any] = {
        **result_header(
            "broadcastjob", "benchmarks.broadcastjob", argv if argv is not None else sys.argv[1:]
        ),
        "nodes": args.nodes,
        "repeats": args.repeats,
        "kubelet": "kwok, no delays: a bound pod is Ready at once; a BroadcastJob pod then Succeeds",
        "records": [],
    }
    sidebyside.log(f"starting the control plane with {args.nodes} kwok nodes in {run_dir}")
    # the control plane's nodes are the benchmark's N kwok nodes (labelled type=kwok)
    plane = BenchPlane.start(
        "default", run_dir, NAMESPACE, pods_per_node=110, nodes=args.nodes,
        crds=("broadcastjobs.apps.kruise.io",),
    )  # fmt: skip
    try:
        plane.start_flotilla("broadcastjob")
        result["records"] = asyncio.run(run_all(plane, args.nodes, args.repeats))
    finally:
        plane.stop()
    sidebyside.write_result(result, output, render_markdown(result["records"], args.nodes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
