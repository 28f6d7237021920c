"""The speed limit of kruise's in-place update: a plain client loop making exactly its pod writes.

``python -m benchmarks.harness.inplaceloop --kubeconfig K --namespace NS --prefix P --count N
--template pod.json --selector app=X --image IMG`` first creates the N pods as the protocol loop
does (``rawloop``: kruise's readiness gates, set True after each create), prints ``ready`` and
waits for a line on stdin; then updates every pod in place at once, with kruise's writes and
nothing else: ``InPlaceUpdateReady`` False (``pods/status``), the patch (container image, the
``apps.kruise.io/inplace-update-state`` annotation and the lifecycle state ``Updating``), and,
once the pod reports the new image running (one watch over the selector), ``InPlaceUpdateReady``
True and the lifecycle state back to ``Normal`` (kruise's ``refreshPodState``). The N pods start
``Normal`` (their creation is not timed). It prints one JSON line
``{"updated": N, "errors": E, "seconds": S}`` and stays alive until stdin closes, like the raw
loop. No batches, no ``maxUnavailable``: the limit a controller speaking kruise's protocol can
approach. Started by ``benchmarks/cloneset_scenarios.py`` (variant ``protocol-inplace``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks.harness.rawloop import (
    LIFECYCLE_STATE,
    LIFECYCLE_TIMESTAMP,
    create_pods,
    lifecycle_move,
    protocol_pod,
)
from flotilla.runtime.errors import KubeError
from flotilla.runtime.kube import PODS, KubeClient

INPLACE_UPDATE_READY = "InPlaceUpdateReady"
INPLACE_UPDATE_STATE = "apps.kruise.io/inplace-update-state"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def ready_condition(status: str) -> dict[str, Any]:
    """The strategic-merge ``pods/status`` patch setting ``InPlaceUpdateReady`` to ``status``."""
    condition: dict[str, Any] = {"type": INPLACE_UPDATE_READY, "status": status, "lastTransitionTime": _now()}
    if status == "False":
        condition["reason"] = "StartInPlaceUpdate"
    return {"status": {"conditions": [condition]}}


def image_patch(container: str, image: str) -> dict[str, Any]:
    """The in-place patch: the container's image and kruise's update-state annotation."""
    now = _now()
    state = {"revision": "protocol-loop", "updateTimestamp": now, "lastContainerStatuses": {}}
    return {
        "metadata": {
            "labels": {LIFECYCLE_STATE: "Updating"},
            "annotations": {INPLACE_UPDATE_STATE: orjson.dumps(state).decode(), LIFECYCLE_TIMESTAMP: now},
        },
        "spec": {"containers": [{"name": container, "image": image}]},
    }


def running_image(pod: dict[str, Any], container: str) -> str | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container and "running" in (status.get("state") or {}):
            return str(status.get("image"))
    return None


async def update_in_place(
    client: KubeClient, namespace: str, names: list[str], selector: str, container: str, image: str
) -> tuple[int, int]:
    """Update every pod in ``names`` in place at once: (updated, errors)."""
    arrived = {name: asyncio.Event() for name in names}
    listed = await client.get(PODS.path(namespace), {"labelSelector": selector, "limit": "1"})
    version = str((listed.get("metadata") or {}).get("resourceVersion", ""))

    async def follow() -> None:
        nonlocal version
        while True:
            params = {"labelSelector": selector, "resourceVersion": version, "allowWatchBookmarks": "true"}
            async for event in client.watch(PODS.path(namespace), params):
                pod = event.get("object") or {}
                version = str((pod.get("metadata") or {}).get("resourceVersion", version))
                name = str((pod.get("metadata") or {}).get("name", ""))
                if name in arrived and running_image(pod, container) == image:
                    arrived[name].set()

    updated = errors = 0

    async def one(name: str) -> None:
        nonlocal updated, errors
        status = PODS.path(namespace, name, "status")
        try:
            await client.patch(status, ready_condition("False"), "strategic")
            await client.patch(PODS.path(namespace, name), image_patch(container, image), "strategic")
            await arrived[name].wait()
            await client.patch(status, ready_condition("True"), "strategic")
            await client.patch(PODS.path(namespace, name), lifecycle_move("Normal", _now()), "strategic")
            updated += 1
        except KubeError as err:
            errors += 1
            print(f"update {name}: {err}", file=sys.stderr)

    watcher = asyncio.create_task(follow())
    try:
        await asyncio.gather(*(one(name) for name in names))
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, KubeError):
            await watcher
    return updated, errors


async def _main(args: argparse.Namespace, template: dict[str, Any]) -> int:
    async with KubeClient.from_environment(Path(args.kubeconfig), limit=args.count) as client:
        _, errors = await create_pods(
            client, args.namespace, args.prefix, args.count, template, args.count, protocol=True
        )
        if errors:
            print(f"setup: {errors} pods not created", file=sys.stderr)
            return 1
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        started = time.monotonic()
        names = [f"{args.prefix}-{index}" for index in range(args.count)]
        container = template["spec"]["containers"][0]["name"]
        updated, errors = await update_in_place(
            client, args.namespace, names, args.selector, container, args.image
        )
        seconds = time.monotonic() - started
    print(orjson.dumps({"updated": updated, "errors": errors, "seconds": seconds}).decode(), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    return 0 if errors == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--template", required=True, help="a pod manifest (JSON) without a name")
    parser.add_argument("--selector", required=True, help="a label selector matching the N pods")
    parser.add_argument("--image", required=True, help="the first container's new image")
    args = parser.parse_args()
    template = protocol_pod(orjson.loads(Path(args.template).read_bytes()))
    template["metadata"]["labels"][LIFECYCLE_STATE] = "Normal"  # as if already moved: setup is not timed
    return asyncio.run(_main(args, template))


if __name__ == "__main__":
    raise SystemExit(main())
