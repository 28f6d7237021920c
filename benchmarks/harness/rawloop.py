"""The speed limit of pod creation: a plain parallel client loop, run as its own process.

``python -m benchmarks.harness.rawloop --kubeconfig K --namespace NS --prefix P --count N
--template pod.json [--concurrency C]`` builds its API client (the runtime's aiohttp
`KubeClient`, no client-side rate limit), warms the connection up, prints ``ready`` and waits
for a line on stdin; then it creates the N pods (names ``P-0`` ... ``P-<N-1>``) with at most C
requests in flight (with ``--protocol``, exactly the writes kruise's CloneSet makes for a new
pod: the create, with the lifecycle state ``PreparingNormal``; the one status PATCH that sets the
template's readiness-gate conditions True, see `PROTOCOL_CONDITIONS`; and, once the scheduler has
bound the pod, the lifecycle label PATCH to ``Normal`` (kruise's ``refreshPodState``), found by a
watch), prints one JSON line: ``{"created": N, "errors": E, "seconds": S}`` and
stays alive until stdin closes (so its CPU and peak RSS can be read like a controller's).
It runs in a separate process so the harness measures it like a controller (its own CPU,
not sharing the harness's event loop). Started by ``benchmarks/cloneset_scenarios.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from flotilla.runtime.errors import KubeError
from flotilla.runtime.kube import PODS, KubeClient

#: The readiness gates kruise's CloneSet pod declares (``InPlaceUpdateReady`` from the CloneSet,
#: ``KruisePodReady`` from kruise's pod webhook) and that its controllers set True right after the
#: create, in one ``pods/status`` patch: the kubelet reports a pod Ready only once they are True.
PROTOCOL_CONDITIONS = ("InPlaceUpdateReady", "KruisePodReady")


def protocol_pod(template: dict[str, Any]) -> dict[str, Any]:
    """``template`` with kruise's readiness gates added (the protocol loop's pod)."""
    pod = copy.deepcopy(template)
    spec = pod.setdefault("spec", {})
    spec["readinessGates"] = [{"conditionType": c} for c in PROTOCOL_CONDITIONS]
    metadata = pod.setdefault("metadata", {})
    metadata.setdefault("labels", {})[LIFECYCLE_STATE] = "PreparingNormal"
    return pod


def bound_and_preparing(pod: dict[str, Any], prefix: str) -> str | None:
    """The name of ``pod`` when it is one of ``prefix``'s, bound to a node and still PreparingNormal."""
    metadata = pod.get("metadata") or {}
    name = str(metadata.get("name", ""))
    if not name.startswith(f"{prefix}-") or not (pod.get("spec") or {}).get("nodeName"):
        return None
    return name if (metadata.get("labels") or {}).get(LIFECYCLE_STATE) == "PreparingNormal" else None


async def move_bound_pods_to_normal(client: KubeClient, namespace: str, prefix: str) -> None:
    """Follow the namespace's PreparingNormal pods; move each of ``prefix``'s to Normal once bound.

    Runs until cancelled; a watch that ends is resumed from its last resourceVersion."""
    selector = f"{LIFECYCLE_STATE}=PreparingNormal"
    listed = await client.get(PODS.path(namespace), {"labelSelector": selector})
    version = str((listed.get("metadata") or {}).get("resourceVersion", ""))
    moved: set[str] = set()

    async def move(name: str) -> None:
        try:
            await client.patch(PODS.path(namespace, name), lifecycle_move("Normal", _now()), "strategic")
        except KubeError as err:
            print(f"lifecycle {name}: {err}", file=sys.stderr)

    pending: set[asyncio.Task[None]] = set()
    while True:
        params = {"labelSelector": selector, "resourceVersion": version, "allowWatchBookmarks": "true"}
        async for event in client.watch(PODS.path(namespace), params):
            pod = event.get("object") or {}
            version = str((pod.get("metadata") or {}).get("resourceVersion", version))
            name = bound_and_preparing(pod, prefix) if event.get("type") != "DELETED" else None
            if name is not None and name not in moved:
                moved.add(name)
                task = asyncio.create_task(move(name))
                pending.add(task)
                task.add_done_callback(pending.discard)


#: kruise's pod lifecycle label and its timestamp annotation (``apps.kruise.io`` pub types).
LIFECYCLE_STATE = "lifecycle.apps.kruise.io/state"
LIFECYCLE_TIMESTAMP = "lifecycle.apps.kruise.io/timestamp"


def lifecycle_move(state: str, now: str) -> dict[str, Any]:
    """kruise's ``UpdatePodLifecycle`` patch (strategic merge, no resourceVersion)."""
    return {"metadata": {"labels": {LIFECYCLE_STATE: state}, "annotations": {LIFECYCLE_TIMESTAMP: now}}}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def conditions_true(now: str) -> dict[str, Any]:
    """The strategic-merge ``pods/status`` patch setting every protocol condition True."""
    return {
        "status": {
            "conditions": [
                {"type": c, "status": "True", "lastTransitionTime": now} for c in PROTOCOL_CONDITIONS
            ]
        }
    }


async def create_pods(
    client: KubeClient,
    namespace: str,
    prefix: str,
    count: int,
    template: dict[str, Any],
    concurrency: int,
    protocol: bool = False,
) -> tuple[int, int]:
    """Create ``count`` pods from ``template`` with ``concurrency`` pods in flight (``protocol``:
    each create followed by its conditions patch): (created, errors)."""
    path = PODS.path(namespace)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(index)
    created = errors = 0

    async def work() -> None:
        nonlocal created, errors
        while True:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            pod = copy.deepcopy(template)
            pod.setdefault("metadata", {})["name"] = f"{prefix}-{index}"
            try:
                await client.create(path, pod)
                if protocol:
                    status = PODS.path(namespace, pod["metadata"]["name"], "status")
                    await client.patch(status, conditions_true(_now()), "strategic")
                created += 1
            except KubeError as err:
                errors += 1
                print(f"create {prefix}-{index}: {err}", file=sys.stderr)

    await asyncio.gather(*(work() for _ in range(max(1, concurrency))))
    return created, errors


async def _main(args: argparse.Namespace, template: dict[str, Any]) -> int:
    async with KubeClient.from_environment(Path(args.kubeconfig), limit=args.concurrency) as client:
        await client.get(PODS.path(args.namespace), {"limit": "1"})  # TLS handshake, auth, discovery done
        lifecycle = (
            asyncio.create_task(move_bound_pods_to_normal(client, args.namespace, args.prefix))
            if args.protocol
            else None
        )
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        started = time.monotonic()
        created, errors = await create_pods(
            client, args.namespace, args.prefix, args.count, template, args.concurrency, args.protocol
        )
        seconds = time.monotonic() - started
        print(orjson.dumps({"created": created, "errors": errors, "seconds": seconds}).decode(), flush=True)
        # Stay alive (and measurable, still moving bound pods to Normal) until the harness closes stdin.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if lifecycle is not None:
            lifecycle.cancel()
            with contextlib.suppress(asyncio.CancelledError, KubeError):
                await lifecycle
    return 0 if errors == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--template", required=True, help="a pod manifest (JSON) without a name")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--protocol",
        action="store_true",
        help="kruise's pod writes: readiness gates set True after each create, lifecycle Normal once bound",
    )
    args = parser.parse_args()
    template = orjson.loads(Path(args.template).read_bytes())
    if args.protocol:
        template = protocol_pod(template)
    return asyncio.run(_main(args, template))


if __name__ == "__main__":
    raise SystemExit(main())
