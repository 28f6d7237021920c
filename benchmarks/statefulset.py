"""Issue 12's benchmark: the Advanced StatefulSet worker vs the built-in StatefulSet
(kube-controller-manager) on one control plane, side by side.

``.venv/bin/python -m benchmarks.statefulset [--ordered 100] [--parallel 500] [--update 500]
[--repeats 3] [--quick]`` starts its own control plane (component default client limits, kwok
nodes charging ``--pod-start-ms`` / ``--container-restart-ms`` like a kubelet, default 2000 / 500)
with NATS, the watcher and the statefulset worker; then per repeat, the two variants interleaved
and their order rotated:

- ``ordered``: OrderedReady 0 -> N, create -> ``readyReplicas == N``;
- ``parallel``: Parallel 0 -> M, create -> ``readyReplicas == M``;
- ``update``: M pods (Parallel) at one image, then the image changed: patch -> every pod at the
  update revision and ready (``updatedReadyReplicas == M``, ``currentRevision == updateRevision``
  for the Advanced StatefulSet; ``updatedReplicas == readyReplicas == M`` and the revisions equal
  for the built-in one). The Advanced StatefulSet updates ``InPlaceIfPossible`` with
  ``maxUnavailable`` 100 % (Parallel); the built-in StatefulSet rolls one pod at a time (its only
  GA RollingUpdate).

Each object is deleted and its pods gone before the next run. Writes a JSON result and prints a
markdown table of medians (min-max) and the paired ratio ASTS / built-in. See docs/benchmarks.md.
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
from flotilla.devcluster.kwok_nodes import KubeletDelays
from flotilla.runtime.kube import JsonObject, KubeClient, Resource

NAMESPACE = "bench"
ASTS = Resource("apps.kruise.io", "v1beta1", "statefulsets", "StatefulSet")
BUILTIN = Resource("apps", "v1", "statefulsets", "StatefulSet")
VARIANTS = ("asts", "builtin")
SCENARIOS = ("ordered", "parallel", "update")
IMAGE_A, IMAGE_B = "nginx:1.25", "nginx:1.26"
RUN_TIMEOUT_S = 900.0


def manifest(variant: str, name: str, replicas: int, parallel: bool) -> JsonObject:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "serviceName": name,
        "podManagementPolicy": "Parallel" if parallel else "OrderedReady",
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {
                "containers": [{"name": "main", "image": IMAGE_A}],
                "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
            },
        },
    }
    if variant == "asts":
        spec["template"]["spec"]["readinessGates"] = [{"conditionType": "InPlaceUpdateReady"}]
        rolling: dict[str, Any] = {"podUpdatePolicy": "InPlaceIfPossible"}
        if parallel:
            rolling["maxUnavailable"] = "100%"
        spec["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": rolling}
    resource = ASTS if variant == "asts" else BUILTIN
    return {
        "apiVersion": resource.api_version,
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": spec,
    }


def scaled(obj: JsonObject, replicas: int) -> bool:
    status = obj.get("status") or {}
    return bool(status.get("readyReplicas") == replicas and status.get("replicas") == replicas)


def updated(obj: JsonObject, replicas: int, variant: str, first: str) -> bool:
    status = obj.get("status") or {}
    rolled = status.get("updateRevision") not in (None, first)
    if variant == "asts":
        done = status.get("updatedReadyReplicas") == replicas
    else:
        done = status.get("updatedReplicas") == replicas and status.get("readyReplicas") == replicas
    return bool(rolled and done and status.get("currentRevision") == status.get("updateRevision"))


async def run_once(client: KubeClient, scenario: str, variant: str, name: str, n: int) -> dict[str, Any]:
    """One timed run; the object and its pods are gone when it returns."""
    resource = ASTS if variant == "asts" else BUILTIN
    path = resource.path(NAMESPACE, name)
    parallel = scenario != "ordered"
    started = time.monotonic()
    await client.create(resource.path(NAMESPACE), manifest(variant, name, n, parallel))

    async def up() -> bool:
        return scaled(await client.get(path), n)

    ok = await until(up, RUN_TIMEOUT_S)
    if ok and scenario == "update":
        first = str(((await client.get(path)).get("status") or {}).get("updateRevision"))
        started = time.monotonic()
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": IMAGE_B}]}}}}
        await client.patch(path, patch, "strategic" if variant == "builtin" else "merge")

        async def rolled() -> bool:
            return updated(await client.get(path), n, variant, first)

        ok = await until(rolled, RUN_TIMEOUT_S)
    seconds = time.monotonic() - started
    await delete_and_wait_gone(client, path, NAMESPACE, name, RUN_TIMEOUT_S)
    return {
        "scenario": scenario,
        "variant": variant,
        "name": name,
        "n": n,
        "seconds": round(seconds, 3) if ok else None,
        "error": None if ok else f"not done within {RUN_TIMEOUT_S:.0f}s",
    }


async def run_all(plane: BenchPlane, sizes: dict[str, int], repeats: int) -> list[dict[str, Any]]:
    async with KubeClient.from_environment(plane.env.kubeconfig) as client:

        async def run(scenario: str, variant: str, repeat: int) -> dict[str, Any]:
            name = f"{variant}-{scenario}-r{repeat}"
            return await run_once(client, scenario, variant, name, sizes[scenario])

        def describe(record: dict[str, Any]) -> str:
            scenario, outcome = record["scenario"], sidebyside.took(record)
            return f"{scenario} {record['variant']} N={sizes[scenario]} r{record['repeat']}: {outcome}"

        return await sidebyside.run_side_by_side(VARIANTS, repeats, run, describe, SCENARIOS)


def render_markdown(records: Sequence[dict[str, Any]], sizes: dict[str, int]) -> str:
    lines = [
        "| scenario | N | Advanced StatefulSet (s) | built-in StatefulSet (s) | ratio ASTS / built-in |",
        "|---|---|---|---|---|",
    ]
    for scenario in SCENARIOS:
        mine = [r for r in records if r["scenario"] == scenario]
        cells = [sidebyside.seconds_cell(mine, variant) for variant in VARIANTS]
        ratio = sidebyside.paired_ratio(mine, "asts", "builtin")
        shown = f"{ratio:.2f}x" if ratio else "not measured"
        lines.append(f"| {scenario} | {sizes[scenario]} | {cells[0]} | {cells[1]} | {shown} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.statefulset", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--ordered", type=int, default=100, help="OrderedReady 0 -> N (default 100)")
    parser.add_argument("--parallel", type=int, default=500, help="Parallel 0 -> M (default 500)")
    parser.add_argument("--update", type=int, default=500, help="image update of M pods (default 500)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pod-start-ms", type=int, default=2000)
    parser.add_argument("--container-restart-ms", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="N=10, M=30, 1 repeat")
    parser.add_argument("--output", type=Path, help="JSON result file (default: in the run folder)")
    args = parser.parse_args(argv)
    if args.quick:
        args.ordered, args.parallel, args.update, args.repeats = 10, 30, 30, 1
    sizes = {"ordered": args.ordered, "parallel": args.parallel, "update": args.update}
    run_dir = new_run_dir("bench-statefulset")
    output: Path = args.output or run_dir / "statefulset-results.json"
    delays = KubeletDelays(args.pod_start_ms, args.container_restart_ms)
    result: dict[str, Any] = {
        **result_header("statefulset", "benchmarks.statefulset", argv if argv is not None else sys.argv[1:]),
        "sizes": sizes,
        "repeats": args.repeats,
        "kubelet": {"pod_start_ms": args.pod_start_ms, "container_restart_ms": args.container_restart_ms},
        "records": [],
    }
    nodes = max(3, -(-max(sizes.values()) // 100))
    sidebyside.log(f"starting the control plane ({nodes} kwok nodes) in {run_dir}")
    plane = BenchPlane.start(
        "default", run_dir, NAMESPACE, pods_per_node=110, kubelet_delays=delays, nodes=nodes,
        crds=("statefulsets.apps.kruise.io",),
    )  # fmt: skip
    try:
        plane.start_flotilla("statefulset")
        result["records"] = asyncio.run(run_all(plane, sizes, args.repeats))
    finally:
        plane.stop()
    sidebyside.write_result(result, output, render_markdown(result["records"], sizes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
