"""Advanced StatefulSets on the real control plane (kwok nodes, NATS, watcher, statefulset worker).

OrderedReady scaling around a reserved ordinal, with PVCs per ordinal and whenScaled Delete (a
real watch shows each pod is created only after its predecessor is Running and Ready); Parallel
scaling from ``ordinals.start`` with a recreate rolling update held at a partition; deleting the
set leaves its pods and revisions to the garbage collector; a pod relabelled out of the selector is
released and adopted back, and so is one stripped of every label (found by the namespace-wide
read; its ordinal's create meanwhile sets kruise's ``FailedCreatePod`` condition).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from flotilla.runtime.errors import NotFound
from flotilla.runtime.kube import PODS, JsonObject, Resource
from tests.support.polling import eventually_async
from tests.support.workerstack import Stack, watching_pods
from workers.statefulset.builder import CONTROLLER_REVISIONS, PVCS, STATEFULSETS


def manifest(namespace: str, replicas: int, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{"name": "main", "image": "nginx:1.25"}],
                    "tolerations": [
                        {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}
                    ],
                },
            },
            **spec,
        },
    }


def _ready(pod: JsonObject) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return pod.get("status", {}).get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
    )


async def _pods(stack: Stack) -> dict[str, JsonObject]:
    listing = await stack.api.get(PODS.path(stack.namespace), {"labelSelector": "app=web"})
    return {
        p["metadata"]["name"]: p
        for p in listing.get("items", [])
        if not p["metadata"].get("deletionTimestamp")
    }


async def _claims(stack: Stack) -> set[str]:
    listing = await stack.api.get(PVCS.path(stack.namespace))
    return {
        c["metadata"]["name"] for c in listing.get("items", []) if not c["metadata"].get("deletionTimestamp")
    }


async def _status(stack: Stack) -> JsonObject:
    body = await stack.api.get(STATEFULSETS.path(stack.namespace, "web"))
    return body.get("status") or {}


async def _patch_spec(stack: Stack, spec: JsonObject) -> None:
    await stack.api.patch(STATEFULSETS.path(stack.namespace, "web"), {"spec": spec}, "merge")


async def _converged(stack: Stack, names: set[str]) -> bool:
    pods = await _pods(stack)
    status = await _status(stack)
    return (
        set(pods) == names
        and all(_ready(p) for p in pods.values())
        and status.get("readyReplicas") == len(names)
        and status.get("replicas") == len(names)
    )


PVS = Resource("", "v1", "persistentvolumes")
SIZE = "3Mi"
"""An unusual size, so only this test's PVCs bind the volumes it makes."""


@asynccontextmanager
async def volumes(stack: Stack, count: int) -> AsyncIterator[None]:
    """``count`` hostPath PersistentVolumes for the PVCs to bind (the session's control plane has
    no provisioner; the PV controller binds a class-less PVC to a matching volume)."""
    names = [f"pv-{stack.namespace[-6:]}-{i}" for i in range(count)]
    for name in names:
        body = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": SIZE},
                "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": f"/tmp/{name}"},
                "storageClassName": "",
            },
        }
        await stack.api.create(PVS.path(""), body)
    try:
        yield
    finally:
        for name in names:
            with contextlib.suppress(NotFound):
                await stack.api.delete(PVS.path("", name))


async def test_ordered_ready_reserved_ordinal_pvcs_and_scale_down(sts_stack: Stack) -> None:
    async with volumes(sts_stack, 3):
        await _ordered_ready_reserved_ordinal_pvcs_and_scale_down(sts_stack)


async def _ordered_ready_reserved_ordinal_pvcs_and_scale_down(stack: Stack) -> None:
    claim_spec = {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "",
        "resources": {"requests": {"storage": SIZE}},
    }
    vct = [{"metadata": {"name": "www"}, "spec": claim_spec}]
    body = manifest(
        stack.namespace,
        3,
        reserveOrdinals=[1],
        volumeClaimTemplates=vct,
        persistentVolumeClaimRetentionPolicy={"whenDeleted": "Retain", "whenScaled": "Delete"},
    )
    async with watching_pods(stack) as watch:
        await stack.api.create(STATEFULSETS.path(stack.namespace), body)
        names = {"web-0", "web-2", "web-3"}
        await eventually_async(
            lambda: _converged(stack, names), within=90, interval=0.5, what="web-0, web-2, web-3 ready"
        )
    # OrderedReady: a pod appears only once every lower replica ordinal is Running and Ready
    order = ["web-0", "web-2", "web-3"]
    for live in watch.history():
        for i, name in enumerate(order):
            if name in live:
                assert all(_ready(live[lower]) for lower in order[:i] if lower in live), live.keys()
                assert all(lower in live for lower in order[:i]), f"{name} before {order[:i]}"
    pods = await _pods(stack)
    web3 = pods["web-3"]
    assert web3["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "web-3"
    assert web3["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "3"
    assert web3["spec"]["hostname"] == "web-3"
    assert web3["spec"]["subdomain"] == "web"
    assert {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-3"}} in web3["spec"]["volumes"]
    assert await _claims(stack) == {"www-web-0", "www-web-2", "www-web-3"}
    status = await _status(stack)
    assert status["labelSelector"] == "app=web"
    assert status["volumeClaims"][0]["volumeClaimName"] == "www"
    assert status["currentRevision"] == status["updateRevision"]

    # scale down to 1: web-3 then web-2 go (highest first), and whenScaled Delete takes their PVCs
    await _patch_spec(stack, {"replicas": 1})
    await eventually_async(lambda: _converged(stack, {"web-0"}), within=60, interval=0.5, what="only web-0")

    async def claims_gone() -> bool:
        return await _claims(stack) == {"www-web-0"}

    await eventually_async(claims_gone, within=60, interval=0.5, what="PVCs of web-2 and web-3 collected")


async def test_parallel_start_ordinal_partitioned_recreate_and_deletion(sts_stack: Stack) -> None:
    stack = sts_stack
    body = manifest(
        stack.namespace,
        4,
        podManagementPolicy="Parallel",
        ordinals={"start": 2},
        updateStrategy={"rollingUpdate": {"partition": 2, "maxUnavailable": 2}},
    )
    await stack.api.create(STATEFULSETS.path(stack.namespace), body)
    names = {"web-2", "web-3", "web-4", "web-5"}
    await eventually_async(lambda: _converged(stack, names), within=60, interval=0.5, what="web-2..5 ready")
    first = (await _status(stack))["updateRevision"]

    await _patch_spec(
        stack, {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.26"}]}}}
    )

    async def partitioned() -> JsonObject | None:
        status = await _status(stack)
        pods = await _pods(stack)
        if (
            status.get("updateRevision") == first
            or status.get("updatedReplicas") != 2
            or not await _converged(stack, names)
        ):
            return None
        return {n: p["metadata"]["labels"]["controller-revision-hash"] for n, p in pods.items()}

    revisions = await eventually_async(
        partitioned, within=90, interval=0.5, what="2 pods updated above the partition"
    )
    status = await _status(stack)
    update = status["updateRevision"]
    # partition 2 keeps the first two replicas (web-2, web-3) at the old revision
    assert revisions == {"web-2": first, "web-3": first, "web-4": update, "web-5": update}
    assert status["currentRevision"] == first
    assert status["updatedReadyReplicas"] == 2

    # deleting the set: the garbage collector removes its pods and revisions
    await stack.api.delete(STATEFULSETS.path(stack.namespace, "web"))

    async def collected() -> bool:
        revs = await stack.api.get(CONTROLLER_REVISIONS.path(stack.namespace))
        return not await _pods(stack) and not revs.get("items")

    await eventually_async(collected, within=90, interval=0.5, what="pods and revisions collected")


async def test_scale_subresource_and_in_place_update(sts_stack: Stack) -> None:
    stack = sts_stack
    body = manifest(
        stack.namespace,
        2,
        podManagementPolicy="Parallel",
        updateStrategy={"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "maxUnavailable": 2}},
    )
    body["spec"]["template"]["spec"]["readinessGates"] = [{"conditionType": "InPlaceUpdateReady"}]
    await stack.api.create(STATEFULSETS.path(stack.namespace), body)
    await eventually_async(
        lambda: _converged(stack, {"web-0", "web-1"}), within=60, interval=0.5, what="2 ready"
    )
    # the scale subresource (what kubectl scale and an HPA use) reads status.labelSelector
    scale = await stack.api.get(STATEFULSETS.path(stack.namespace, "web", "scale"))
    assert scale["status"] == {"replicas": 2, "selector": "app=web"}
    await stack.api.patch(
        STATEFULSETS.path(stack.namespace, "web", "scale"), {"spec": {"replicas": 3}}, "merge"
    )
    names = {"web-0", "web-1", "web-2"}
    await eventually_async(lambda: _converged(stack, names), within=60, interval=0.5, what="scaled to 3")
    uids = {n: p["metadata"]["uid"] for n, p in (await _pods(stack)).items()}
    first = (await _status(stack))["updateRevision"]

    await _patch_spec(
        stack, {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.26"}]}}}
    )

    async def rolled() -> bool:
        status = await _status(stack)
        return (
            status.get("updateRevision") != first
            and status.get("updatedReadyReplicas") == 3
            and status.get("currentRevision") == status.get("updateRevision")
            and await _converged(stack, names)
        )

    await eventually_async(rolled, within=90, interval=0.5, what="3 pods updated in place")
    pods = await _pods(stack)
    assert {n: p["metadata"]["uid"] for n, p in pods.items()} == uids, "updated in place, not recreated"
    assert {p["spec"]["containers"][0]["image"] for p in pods.values()} == {"nginx:1.26"}

    # a pod relabelled out of the selector is released (kruise's ClaimPods: the set's
    # ownerReference removed), and adopted again once its labels match
    set_uid = (await stack.api.get(STATEFULSETS.path(stack.namespace, "web")))["metadata"]["uid"]
    pod_path = PODS.path(stack.namespace, "web-2")

    async def owned_by_set(owned: bool) -> bool:
        refs = (await stack.api.get(pod_path))["metadata"].get("ownerReferences") or []
        return any(r.get("uid") == set_uid for r in refs) == owned

    await stack.api.patch(pod_path, {"metadata": {"labels": {"app": "stray"}}}, "strategic")
    await eventually_async(lambda: owned_by_set(False), within=30, interval=0.3, what="web-2 released")
    await stack.api.patch(pod_path, {"metadata": {"labels": {"app": "web"}}}, "strategic")
    await eventually_async(lambda: owned_by_set(True), within=60, interval=0.3, what="web-2 adopted")
    await eventually_async(lambda: _converged(stack, names), within=60, interval=0.5, what="3 ready again")

    # stripped of every label, no label selector finds it; the selector LIST then returns fewer
    # owned pods than status.replicas. The trigger (web-2's own event) names the missing pod, so
    # the worker first takes it for deleted: its ordinal's create meets it (kruise's
    # FailedCreatePod, "already exists") and the re-plan reads the whole namespace, as kruise
    # does: released, and the create meets it again
    labels = (await stack.api.get(pod_path))["metadata"]["labels"]
    await stack.api.patch(pod_path, {"metadata": {"labels": None}}, "merge")
    await eventually_async(
        lambda: owned_by_set(False), within=30, interval=0.3, what="stripped web-2 released"
    )

    async def create_failed(failed: bool) -> bool:
        conditions = (await _status(stack)).get("conditions") or []
        return failed == any(
            c.get("type") == "FailedCreatePod" and "already exists" in c.get("message", "")
            for c in conditions
        )

    await eventually_async(lambda: create_failed(True), within=30, interval=0.3, what="FailedCreatePod")
    await stack.api.patch(pod_path, {"metadata": {"labels": labels}}, "merge")
    await eventually_async(lambda: owned_by_set(True), within=60, interval=0.3, what="web-2 adopted again")
    await eventually_async(lambda: _converged(stack, names), within=60, interval=0.5, what="3 ready, again")
    # the next status write (replicas back to 3) drops the condition
    await eventually_async(lambda: create_failed(False), within=30, interval=0.3, what="FailedCreatePod gone")
