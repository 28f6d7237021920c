"""Issue 13's benchmark: a sidecar image upgrade of N pods, SidecarSet in place vs a rolling update
of the owning Deployment (the alternative a user has without SidecarSet), on one control plane.

``.venv/bin/python -m benchmarks.sidecarset [--pods 1000] [--repeats 3] [--quick]`` starts its own
control plane (component default client limits, kwok nodes charging ``--pod-start-ms`` /
``--container-restart-ms`` like a kubelet, default 2000 / 500) with NATS, the watcher and the
sidecarset worker; then per repeat, the two variants interleaved and their order rotated, each on
a Deployment of N pods (an ``app`` container and a ``log`` sidecar, the template injected as
``webhook.sidecarset.inject`` injects it, so both variants start from the same pods):

- ``sidecarset``: the SidecarSet's sidecar image changed (``maxUnavailable`` 25 %): patch ->
  status ``observedGeneration`` current and ``updatedPods == updatedReadyPods == readyPods == N``;
  the Flotilla SidecarSet worker patches each pod's sidecar image and kwok restarts that
  container alone;
- ``deployment``: the Deployment template's sidecar image changed (its default rolling update,
  maxSurge 25 %, maxUnavailable 25 %): patch -> ``updatedReplicas == readyReplicas == replicas ==
  N`` with ``observedGeneration`` current (kube-controller-manager recreates every pod).

Each run records the seconds, the pods recreated (pod UIDs before vs after) and the app
container's restarts (summed restartCount of the pods that stayed; a recreated pod's app
container is a new one, counted as one restart: it stopped). Each Deployment (and SidecarSet) is
deleted and its pods gone before the next run. Writes a JSON result and prints a markdown table
of medians (min-max) and the paired ratio Deployment / SidecarSet (the speed-up). See
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
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
from flotilla.runtime.errors import NotFound
from flotilla.runtime.kube import PODS, JsonObject, KubeClient, Resource
from schemas.kruise import rules
from webhook.sidecarset import inject

NAMESPACE = "bench"
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
SIDECARSETS = Resource("apps.kruise.io", "v1beta1", "sidecarsets", "SidecarSet", namespaced=False)
VARIANTS = ("sidecarset", "deployment")
SIDECAR_A, SIDECAR_B = "log:v1", "log:v2"
MAX_UNAVAILABLE = "25%"
RUN_TIMEOUT_S = 1800.0
TOLERATIONS = [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]


def sidecarset_manifest(name: str) -> dict[str, Any]:
    """The SidecarSet as kruise's webhook stores it (defaults and hashes)."""
    return rules.default(
        "SidecarSet",
        {
            "apiVersion": SIDECARSETS.api_version,
            "kind": "SidecarSet",
            "metadata": {"name": name},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "namespace": NAMESPACE,
                "containers": [{"name": "log", "image": SIDECAR_A}],
                "updateStrategy": {"type": "RollingUpdate", "maxUnavailable": MAX_UNAVAILABLE},
            },
        },
    )


def injected_template(name: str, sidecarset: JsonObject) -> dict[str, Any]:
    """The Deployment's pod template with the sidecar as the pod webhook injects it."""
    pod: dict[str, Any] = {
        "metadata": {"namespace": NAMESPACE, "labels": {"app": name}, "annotations": {}},
        "spec": {"containers": [{"name": "app", "image": "app:v1"}], "tolerations": TOLERATIONS},
    }
    ops = inject(pod, [sidecarset], {"kubernetes.io/metadata.name": NAMESPACE}, dt.datetime.now(dt.UTC))
    if not ops:
        raise RuntimeError(f"the SidecarSet {name} does not match its Deployment's template")
    for op in ops:
        _, section, field = str(op["path"]).split("/")
        pod[section][field] = op["value"]
    return {"metadata": {"labels": pod["metadata"]["labels"], "annotations": pod["metadata"]["annotations"]},
            "spec": pod["spec"]}  # fmt: skip


def deployment_manifest(name: str, replicas: int, template: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template},
    }


def deployment_ready(obj: JsonObject, replicas: int, generation: int = 0) -> bool:
    """Every replica of the Deployment's current template exists and is ready, and no old one is
    left (``replicas`` counts old and new pods)."""
    status = obj.get("status") or {}
    metadata = obj.get("metadata") or {}
    return bool(
        status.get("observedGeneration", 0) >= max(generation, int(metadata.get("generation", 0)))
        and status.get("updatedReplicas") == replicas
        and status.get("readyReplicas") == replicas
        and status.get("replicas") == replicas
    )


def sidecarset_done(obj: JsonObject, pods: int, generation: int) -> bool:
    """The SidecarSet saw its spec and every matched pod runs it, ready."""
    status = obj.get("status") or {}
    counts = ("matchedPods", "updatedPods", "readyPods", "updatedReadyPods")
    return bool(status.get("observedGeneration") == generation and all(status.get(k) == pods for k in counts))


def app_restarts(before: dict[str, JsonObject], after: dict[str, JsonObject]) -> tuple[int, int]:
    """(pods recreated, app-container restarts): a pod of ``before`` (by UID) missing ``after`` was
    recreated, its app container stopped once; a pod in both adds its app container's restarts."""
    recreated = len(set(before) - set(after))
    restarts = recreated
    for uid in set(before) & set(after):
        restarts += _app_restart_count(after[uid]) - _app_restart_count(before[uid])
    return recreated, restarts


def _app_restart_count(pod: JsonObject) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    return sum(int(s.get("restartCount", 0)) for s in statuses if s.get("name") == "app")


async def _pods(client: KubeClient, name: str) -> dict[str, JsonObject]:
    listed = await client.get(PODS.path(NAMESPACE), {"labelSelector": f"app={name}"})
    return {str(p["metadata"]["uid"]): p for p in listed.get("items", [])}


async def run_once(client: KubeClient, variant: str, name: str, n: int) -> dict[str, Any]:
    """One timed run; the Deployment, its pods and the SidecarSet are gone when it returns."""
    set_path = SIDECARSETS.path("", name)
    path = DEPLOYMENTS.path(NAMESPACE, name)
    stored = await client.create(SIDECARSETS.path(""), sidecarset_manifest(name))
    ok, seconds, recreated, restarts = False, 0.0, 0, 0
    try:
        await client.create(
            DEPLOYMENTS.path(NAMESPACE), deployment_manifest(name, n, injected_template(name, stored))
        )

        async def up() -> bool:
            return deployment_ready(await client.get(path), n) and sidecarset_done(
                await client.get(set_path), n, int(stored["metadata"]["generation"])
            )

        ok = await until(up, RUN_TIMEOUT_S)
        if ok:
            before = await _pods(client, name)
            started = time.monotonic()
            if variant == "sidecarset":
                current = await client.get(set_path)
                spec = dict(current["spec"])
                spec["containers"] = [{**c, "image": SIDECAR_B} for c in spec["containers"]]
                wanted = rules.default("SidecarSet", {**current, "spec": spec}, current)
                written = await client.replace(set_path, wanted)
                generation = int(written["metadata"]["generation"])

                async def done() -> bool:
                    return sidecarset_done(await client.get(set_path), n, generation)

            else:
                patch = {
                    "spec": {"template": {"spec": {"containers": [{"name": "log", "image": SIDECAR_B}]}}}
                }
                written = await client.patch(path, patch, "strategic")
                generation = int(written["metadata"]["generation"])

                async def done() -> bool:
                    return deployment_ready(await client.get(path), n, generation)

            ok = await until(done, RUN_TIMEOUT_S)
            seconds = time.monotonic() - started
            recreated, restarts = app_restarts(before, await _pods(client, name))
    finally:
        await delete_and_wait_gone(client, path, NAMESPACE, name, RUN_TIMEOUT_S)
        with contextlib.suppress(NotFound):
            await client.delete(set_path)
    return {
        "variant": variant,
        "name": name,
        "n": n,
        "seconds": round(seconds, 3) if ok else None,
        "pods_recreated": recreated,
        "app_restarts": restarts,
        "error": None if ok else f"not done within {RUN_TIMEOUT_S:.0f}s",
    }


async def run_all(plane: BenchPlane, n: int, repeats: int) -> list[dict[str, Any]]:
    async with KubeClient.from_environment(plane.env.kubeconfig) as client:

        async def run(_scenario: str, variant: str, repeat: int) -> dict[str, Any]:
            return await run_once(client, variant, f"{variant}-r{repeat}", n)

        def describe(record: dict[str, Any]) -> str:
            return (
                f"{record['variant']} N={n} r{record['repeat']}: {sidebyside.took(record)}, "
                f"{record['pods_recreated']} pods recreated, {record['app_restarts']} app-container restarts"
            )

        return await sidebyside.run_side_by_side(VARIANTS, repeats, run, describe)


def render_markdown(records: Sequence[dict[str, Any]], n: int) -> str:
    """Medians (min-max) per variant, the paired speed-up Deployment / SidecarSet, and the app
    containers' restarts (the most of any repeat)."""
    cells = [sidebyside.seconds_cell(records, variant) for variant in VARIANTS]
    speedup = sidebyside.paired_ratio(records, "deployment", "sidecarset")
    restarts = {
        v: max((r["app_restarts"] for r in records if r["variant"] == v), default=0) for v in VARIANTS
    }
    return (
        "| N | SidecarSet in place (s) | Deployment rolling update (s) | speed-up | app restarts"
        " (SidecarSet / Deployment) |\n|---|---|---|---|---|\n"
        f"| {n} | {cells[0]} | {cells[1]} | {f'{speedup:.2f}x' if speedup else 'not measured'} |"
        f" {restarts['sidecarset']} / {restarts['deployment']} |\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sidecarset", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--pods", type=int, default=1000, help="pods of the Deployment (default 1000)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pod-start-ms", type=int, default=2000)
    parser.add_argument("--container-restart-ms", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="50 pods, 1 repeat")
    parser.add_argument("--output", type=Path, help="JSON result file (default: in the run folder)")
    args = parser.parse_args(argv)
    if args.quick:
        args.pods, args.repeats = 50, 1
    run_dir = new_run_dir("bench-sidecarset")
    output: Path = args.output or run_dir / "sidecarset-results.json"
    delays = KubeletDelays(args.pod_start_ms, args.container_restart_ms)
    result: dict[str, Any] = {
        **result_header("sidecarset", "benchmarks.sidecarset", argv if argv is not None else sys.argv[1:]),
        "pods": args.pods,
        "repeats": args.repeats,
        "max_unavailable": MAX_UNAVAILABLE,
        "kubelet": {"pod_start_ms": args.pod_start_ms, "container_restart_ms": args.container_restart_ms},
        "records": [],
    }
    nodes = max(3, -(-args.pods // 100))
    sidebyside.log(f"starting the control plane ({nodes} kwok nodes) in {run_dir}")
    plane = BenchPlane.start(
        "default", run_dir, NAMESPACE, pods_per_node=110, kubelet_delays=delays, nodes=nodes,
        crds=("sidecarsets.apps.kruise.io",),
    )  # fmt: skip
    try:
        os.environ["POD_NAMESPACE"] = NAMESPACE  # the worker keeps the SidecarSets' revisions here
        plane.start_flotilla("sidecarset")
        result["records"] = asyncio.run(run_all(plane, args.pods, args.repeats))
    finally:
        plane.stop()
    sidebyside.write_result(result, output, render_markdown(result["records"], args.pods))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
