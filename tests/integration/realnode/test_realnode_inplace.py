"""A real node (containerd + kubelet) next to the kwok nodes: a pulled image runs, and
CloneSet's in-place image update is done by the real kubelet.

1. A pod that tolerates the node's taint and selects its label is scheduled there by
   kube-scheduler, the kubelet pulls its image from the loopback registry (the node's containerd
   has no copy: a real pull) and the pod goes Ready.
2. A CloneSet of 2 pods pinned to the node (InPlaceIfPossible) changes image v1 -> v2 (v2 only in
   the registry): the kubelet restarts each container with the new image (restartCount 1, a new
   containerID and imageID), every pod keeps its UID and its IP, and in every pod version the
   watch saw, ``InPlaceUpdateReady`` is True only when the kubelet already reported the new
   imageID (kruise's ``DefaultCheckInPlaceUpdateCompleted`` against a real kubelet, not kwok).
"""

from __future__ import annotations

import time

from flotilla.devcluster.realnode import NODE_KEY, NODE_NAME, RealNode
from flotilla.runtime.kube import JsonObject, Resource
from tests.integration.cloneset.conftest import Stack, watching_pods
from tests.integration.cloneset.test_cloneset_stack import (
    cloneset,
    eventually,
    manifest,
    patch_spec,
    pods,
    status_is,
)
from workers.cloneset.lowering import CLONESETS

INPLACE_READY = "InPlaceUpdateReady"
POD_RESOURCE = Resource("", "v1", "pods")


def _on_real_node(spec: JsonObject) -> JsonObject:
    """Pod spec fields that place a pod on the real node (and keep its shutdown short)."""
    return {
        **spec,
        "nodeSelector": {NODE_KEY: "true"},
        "tolerations": [{"key": NODE_KEY, "operator": "Exists", "effect": "NoSchedule"}],
        "terminationGracePeriodSeconds": 2,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
    }


def _ready(pod: JsonObject) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _container(pod: JsonObject) -> JsonObject:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return dict(statuses[0])


def _inplace_ready(pod: JsonObject) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == INPLACE_READY and c.get("status") == "True" for c in conditions)


async def _pulled_pod_goes_ready(stack: Stack, node: RealNode) -> None:
    image = node.images["v3"]
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pulled", "namespace": stack.namespace, "labels": {"app": "pulled"}},
        "spec": _on_real_node(
            {"containers": [{"name": "main", "image": image, "imagePullPolicy": "Always"}]}
        ),
    }
    path = POD_RESOURCE.path(stack.namespace, "pulled")
    await stack.api.create(POD_RESOURCE.path(stack.namespace), body)

    async def ready() -> bool:
        return _ready(await stack.api.get(path))

    await eventually(ready, 120, "the pod pulled from the loopback registry Ready")
    pod = await stack.api.get(path)
    assert pod["spec"]["nodeName"] == NODE_NAME
    status = _container(pod)
    assert status["image"] == image
    assert status["imageID"].startswith(f"{image.rsplit(':', 1)[0]}@sha256:"), status
    assert status["ready"] is True
    await stack.api.delete(path)


async def test_pulled_pod_then_cloneset_in_place_update_on_the_real_node(
    real_node: RealNode, cloneset_stack: Stack
) -> None:
    stack = cloneset_stack
    print(f"\nreal node: start -> Ready {real_node.startup_seconds:.1f}s")
    started = time.monotonic()
    await _pulled_pod_goes_ready(stack, real_node)
    print(f"real node: pod pulled from the loopback registry -> Ready {time.monotonic() - started:.1f}s")

    v1, v2 = real_node.images["v1"], real_node.images["v2"]
    body = manifest(stack.namespace, 2, image=v1, strategy={"type": "InPlaceIfPossible", "maxUnavailable": 2})
    template = body["spec"]["template"]
    template["spec"] = _on_real_node(template["spec"])
    await stack.api.create(CLONESETS.path(stack.namespace), body)
    started = time.monotonic()
    await eventually(lambda: status_is(stack, readyReplicas=2), 120, "2 pods Ready on the real node")
    print(f"real node: CloneSet of 2 created -> 2 ready {time.monotonic() - started:.1f}s")
    before = {p["metadata"]["name"]: p for p in await pods(stack)}
    assert {p["spec"]["nodeName"] for p in before.values()} == {NODE_NAME}
    old_ids = {_container(p)["imageID"] for p in before.values()}
    [old_id] = old_ids
    assert old_id, before

    async with watching_pods(stack) as watch:
        started = time.monotonic()
        await patch_spec(stack, {"template": {"spec": {"containers": [{"name": "app", "image": v2}]}}})
        await eventually(
            lambda: status_is(
                stack, observedGeneration=2, updatedReplicas=2, updatedReadyReplicas=2, readyReplicas=2
            ),
            180,
            "both pods updated in place by the kubelet",
        )
        print(f"real node: in-place v1 -> v2, 2 pods -> updated + ready {time.monotonic() - started:.1f}s")

    after = {p["metadata"]["name"]: p for p in await pods(stack)}
    assert set(after) == set(before)
    for name, pod in after.items():
        old, new = before[name], _container(pod)
        assert pod["metadata"]["uid"] == old["metadata"]["uid"]
        assert pod["status"]["podIP"] == old["status"]["podIP"] != ""
        assert pod["spec"]["containers"][0]["image"] == v2
        assert new["image"] == v2
        assert new["imageID"] != old_id
        assert new["imageID"].startswith(f"{v2.rsplit(':', 1)[0]}@sha256:")
        assert new["containerID"] != _container(old)["containerID"]
        assert new["restartCount"] == 1
        assert _inplace_ready(pod)
    status = (await cloneset(stack))["status"]
    assert status["currentRevision"] == status["updateRevision"]

    # Every pod version the watch saw after the update began: InPlaceUpdateReady True only once
    # the kubelet reports the new imageID; and each pod went through False (the gate held it).
    went_false: set[str] = set()
    for kind, pod in watch.events:
        name = pod["metadata"]["name"]
        if kind == "DELETED" or pod["spec"]["containers"][0]["image"] != v2:
            continue
        if not _inplace_ready(pod):
            went_false.add(name)
            continue
        reported = _container(pod)
        assert reported.get("imageID") not in ("", old_id, None), (
            f"{name}: InPlaceUpdateReady True while the kubelet reported {reported}"
        )
    assert went_false == set(after), f"pods never held by InPlaceUpdateReady False: {set(after) - went_false}"
