"""Pods leaving a CloneSet on the real control plane: PVC reuse, and the specified-delete label.

A pod deleted by someone else is replaced; with ``volumeClaimTemplates`` the replacement reuses
the instance id and the PVC unless ``scaleStrategy.disablePVCReuse``. A pod labelled
``apps.kruise.io/specified-delete`` is replaced within the update strategy's maxSurge /
maxUnavailable (a real watch on the pods records every readiness change in between).
"""

from __future__ import annotations

from flotilla.runtime.kube import PODS, JsonObject
from tests.integration.cloneset.conftest import Stack, watching_pods
from tests.integration.cloneset.test_cloneset_stack import (
    PVCS_PATH,
    cloneset,
    eventually,
    manifest,
    pods,
    status_is,
)
from tests.support.polling import eventually_async
from workers.cloneset.lowering import CLONESETS

INSTANCE_ID = "apps.kruise.io/cloneset-instance-id"


async def _claims(stack: Stack) -> dict[str, JsonObject]:
    """The live PVCs by instance id."""
    listing = await stack.api.get(PVCS_PATH.format(ns=stack.namespace))
    return {
        c["metadata"]["labels"][INSTANCE_ID]: c
        for c in listing.get("items", [])
        if not c["metadata"].get("deletionTimestamp")
    }


async def _all_claim_names(stack: Stack) -> set[str]:
    """Every PVC, terminating ones included."""
    listing = await stack.api.get(PVCS_PATH.format(ns=stack.namespace))
    return {c["metadata"]["name"] for c in listing.get("items", [])}


async def _with_claims(stack: Stack, disable_reuse: bool) -> dict[str, JsonObject]:
    """A CloneSet of 2 pods with one PVC each; the pods by instance id, once all are there."""
    body = manifest(stack.namespace, 2)
    body["spec"]["volumeClaimTemplates"] = [
        {
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }
    ]
    if disable_reuse:
        body["spec"]["scaleStrategy"] = {"disablePVCReuse": True}
    await stack.api.create(CLONESETS.path(stack.namespace), body)

    async def two_of_each() -> bool:
        return len(await pods(stack)) == 2 and len(await _claims(stack)) == 2

    await eventually(two_of_each, 60, "2 pods and 2 PVCs")
    by_id = {p["metadata"]["labels"][INSTANCE_ID]: p for p in await pods(stack)}
    assert set(by_id) == set(await _claims(stack))
    return by_id


async def _replaced(stack: Stack, victim: JsonObject) -> dict[str, JsonObject]:
    """Delete ``victim`` as a user would; the pods by instance id once a replacement is there."""
    await stack.api.delete(PODS.path(stack.namespace, victim["metadata"]["name"]))
    old_uid = victim["metadata"]["uid"]

    async def replaced() -> dict[str, JsonObject]:
        current = await pods(stack)
        if len(current) != 2 or old_uid in {p["metadata"]["uid"] for p in current}:
            return {}
        return {p["metadata"]["labels"][INSTANCE_ID]: p for p in current}

    return await eventually_async(replaced, within=90, interval=0.5, what="a replacement pod")


async def test_deleted_pod_is_replaced_on_its_instance_id_and_pvc(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    before = await _with_claims(stack, disable_reuse=False)
    claims = await _claims(stack)
    victim_id = sorted(before)[0]
    after = await _replaced(stack, before[victim_id])
    assert set(after) == set(before)  # the replacement has the deleted pod's instance id
    new = after[victim_id]
    assert new["metadata"]["name"] == before[victim_id]["metadata"]["name"]
    volume = {"name": "data", "persistentVolumeClaim": {"claimName": f"data-web-{victim_id}"}}
    assert volume in new["spec"]["volumes"]
    now = await _claims(stack)
    # the very same PVC objects: nothing deleted or recreated them
    assert {i: c["metadata"]["uid"] for i, c in now.items()} == {
        i: c["metadata"]["uid"] for i, c in claims.items()
    }
    assert await _all_claim_names(stack) == {f"data-web-{i}" for i in before}


async def test_disable_pvc_reuse_deletes_the_pvc_and_gives_a_new_id(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    before = await _with_claims(stack, disable_reuse=True)
    claims = await _claims(stack)
    victim_id, kept_id = sorted(before)
    after = await _replaced(stack, before[victim_id])
    assert kept_id in after
    assert victim_id not in after
    [new_id] = set(after) - {kept_id}

    async def claims_follow_pods() -> bool:
        return await _all_claim_names(stack) == {f"data-web-{kept_id}", f"data-web-{new_id}"}

    await eventually(claims_follow_pods, 60, "the deleted pod's PVC gone, one new PVC for the new pod")
    now = await _claims(stack)
    assert now[kept_id]["metadata"]["uid"] == claims[kept_id]["metadata"]["uid"]
    assert now[new_id]["metadata"]["uid"] not in {c["metadata"]["uid"] for c in claims.values()}
    volume = {"name": "data", "persistentVolumeClaim": {"claimName": f"data-web-{new_id}"}}
    assert volume in after[new_id]["spec"]["volumes"]


def _ready_names(live: dict[str, JsonObject]) -> set[str]:
    """Pods counted Ready: Ready condition True and not terminating."""
    return {
        name
        for name, pod in live.items()
        if not pod["metadata"].get("deletionTimestamp")
        and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (pod.get("status") or {}).get("conditions") or []
        )
    }


async def test_specified_delete_label_replaces_the_pod_surge_first(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    strategy = {"maxSurge": 1, "maxUnavailable": 0}
    await stack.api.create(CLONESETS.path(stack.namespace), manifest(stack.namespace, 2, strategy=strategy))
    await eventually(lambda: status_is(stack, replicas=2, readyReplicas=2), 90, "2 ready")
    originals = sorted(p["metadata"]["name"] for p in await pods(stack))
    victim, survivor = originals
    async with watching_pods(stack) as watch:
        await stack.api.patch(
            PODS.path(stack.namespace, victim),
            {"metadata": {"labels": {"apps.kruise.io/specified-delete": "true"}}},
            "merge",
        )

        async def replaced() -> bool:
            names = {p["metadata"]["name"] for p in await pods(stack)}
            gone = victim not in names and len(names) == 2
            return gone and await status_is(stack, replicas=2, readyReplicas=2, availableReplicas=2)

        await eventually(replaced, 90, "labelled pod replaced")
    [replacement] = {p["metadata"]["name"] for p in await pods(stack)} - {survivor}
    assert (await cloneset(stack))["spec"]["replicas"] == 2

    history = list(watch.history())
    counts = [len(_ready_names(live)) for live in history]
    assert min(counts) >= 2, f"Ready pods dropped below replicas: {counts}"
    # the replacement was Ready before the labelled pod started terminating
    terminating = next(
        i
        for i, live in enumerate(history)
        if live.get(victim, {}).get("metadata", {}).get("deletionTimestamp") or victim not in live
    )
    assert replacement in _ready_names(history[terminating - 1])
    assert max(len(live) for live in history) == 3  # one surge pod, never more
