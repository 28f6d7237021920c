"""volumeClaimTemplates changes on the real control plane (kruise e2e "CloneSet Update with
VolumeClaimTemplate changes", test/e2e/apps/v1alpha1/cloneset.go).

With ``RecreatePodWhenChangeVCTInCloneSetGate`` (on in kruise's e2e through AllAlpha) an image
change that comes with a claim-template change recreates the pods under InPlaceIfPossible: new
instance ids, and the old PVCs deleted with their pods, new ones made from the new templates
(checkPodsDoRecreate / checkPVCsDoRecreate with recreate=true). A claims-only change makes no new
revision and touches nothing; a later image-only change still recreates (the new revision records
the claims of now); InPlaceOnly updates in place and keeps the PVCs. With the gate off (kruise's
default) the image change is in place and the PVCs stay.

The default test control plane has no volume provisioner, so the PVCs stay Pending and the pods
unscheduled; the CloneSet allows every pod to be unavailable (maxUnavailable 100%) so the update
proceeds, and the checks read pods, PVCs and the CloneSet status through the API server.
"""

from __future__ import annotations

from typing import Any

import pytest

from flotilla.runtime.features import FEATURE_GATES_ENV
from flotilla.runtime.kube import JsonObject
from tests.integration.cloneset.conftest import Stack
from tests.integration.cloneset.test_cloneset_stack import PVCS_PATH, cloneset, eventually, manifest, pods
from workers.cloneset.lowering import CLONESETS

INSTANCE_ID = "apps.kruise.io/cloneset-instance-id"
REPLICAS = 2


@pytest.fixture
def vct_gate_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker the next fixture starts reads its gates from the environment."""
    monkeypatch.setenv(FEATURE_GATES_ENV, "RecreatePodWhenChangeVCTInCloneSetGate=true")


@pytest.fixture
def vct_gate_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FEATURE_GATES_ENV, raising=False)


def _claim(name: str, size: str) -> JsonObject:
    return {
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }


def _claims(vol1: str, vol2: str) -> list[JsonObject]:
    return [_claim("data-vol1", vol1), _claim("data-vol2", vol2)]


async def _live_claims(stack: Stack) -> list[JsonObject]:
    listing = await stack.api.get(PVCS_PATH.format(ns=stack.namespace))
    return [c for c in listing.get("items", []) if not c["metadata"].get("deletionTimestamp")]


def _ids(objs: list[JsonObject]) -> set[str]:
    return {o["metadata"]["labels"][INSTANCE_ID] for o in objs}


def _size(claim: JsonObject) -> str:
    return str(claim["spec"]["resources"]["requests"]["storage"])


class _Snapshot:
    def __init__(self, pod_list: list[JsonObject], claims: list[JsonObject]) -> None:
        self.pod_ids = _ids(pod_list)
        self.pod_uids = {p["metadata"]["uid"] for p in pod_list}
        self.claim_names = {c["metadata"]["name"] for c in claims}
        self.claim_uids = {c["metadata"]["uid"] for c in claims}
        self.sizes = {c["metadata"]["name"].split("-web-")[0]: _size(c) for c in claims}
        self.claims = claims


async def _settled(stack: Stack) -> _Snapshot | None:
    """Pods and PVCs once every pod is at the update revision and each has its two PVCs."""
    cs = await cloneset(stack)
    status = cs.get("status") or {}
    if status.get("observedGeneration") != cs["metadata"]["generation"]:
        return None
    if status.get("updatedReplicas") != REPLICAS or status.get("replicas") != REPLICAS:
        return None
    pod_list, claims = await pods(stack), await _live_claims(stack)
    if len(pod_list) != REPLICAS or len(claims) != 2 * REPLICAS or _ids(claims) != _ids(pod_list):
        return None
    if any(
        p["metadata"]["labels"].get("controller-revision-hash") != status["updateRevision"] for p in pod_list
    ):
        return None
    return _Snapshot(pod_list, claims)


async def _wait_settled(stack: Stack, what: str, accept: Any = None) -> _Snapshot:
    found: list[_Snapshot] = []

    async def check() -> bool:
        snap = await _settled(stack)
        if snap is None or (accept is not None and not accept(snap)):
            return False
        found.append(snap)
        return True

    await eventually(check, 120, what)
    return found[-1]


async def _patch(stack: Stack, spec: JsonObject) -> None:
    await stack.api.patch(CLONESETS.path(stack.namespace, "web"), {"spec": spec}, "merge")


def _strategy(kind: str) -> JsonObject:
    return {"type": kind, "maxUnavailable": "100%"}


async def _create(stack: Stack) -> _Snapshot:
    body = manifest(stack.namespace, REPLICAS, strategy=_strategy("ReCreate"))
    body["spec"]["volumeClaimTemplates"] = _claims("1Gi", "1Gi")
    await stack.api.create(CLONESETS.path(stack.namespace), body)
    return await _wait_settled(stack, f"{REPLICAS} pods with 2 PVCs each")


async def test_claims_change_recreates_pods_and_pvcs(vct_gate_on: None, cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    first = await _create(stack)
    revisions = await stack.api.get(f"/apis/apps/v1/namespaces/{stack.namespace}/controllerrevisions")
    assert {
        r["metadata"]["annotations"]["kruise.io/cloneset-volumeclaimtemplate-hash"]
        for r in revisions["items"]
    } == {
        "2066247556"  # kruise's hash of these templates (Go program, see the unit tests)
    }

    # image + claims under InPlaceIfPossible: recreated, new PVCs from the new templates
    await _patch(
        stack,
        {
            "template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}},
            "volumeClaimTemplates": _claims("2Gi", "1Gi"),
            "updateStrategy": _strategy("InPlaceIfPossible"),
        },
    )
    second = await _wait_settled(
        stack, "pods recreated with new ids", lambda s: not (s.pod_ids & first.pod_ids)
    )
    assert not second.claim_names & first.claim_names, "the old PVCs must be gone, new ones made"
    assert second.sizes == {"data-vol1": "2Gi", "data-vol2": "1Gi"}

    # claims only: no new revision, no pod or PVC touched
    generation = (await cloneset(stack))["metadata"]["generation"]
    await _patch(stack, {"volumeClaimTemplates": _claims("2Gi", "2Gi")})
    third = await _wait_settled(stack, "observed", lambda s: True)
    assert (await cloneset(stack))["metadata"]["generation"] == generation + 1
    assert (third.pod_uids, third.claim_uids) == (second.pod_uids, second.claim_uids)
    assert third.sizes == {"data-vol1": "2Gi", "data-vol2": "1Gi"}

    # image only: the new revision records vol2's new size -> recreated, all PVCs 2Gi
    await _patch(stack, {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:3"}]}}})
    fourth = await _wait_settled(stack, "pods recreated again", lambda s: not (s.pod_ids & third.pod_ids))
    assert not fourth.claim_names & third.claim_names
    assert fourth.sizes == {"data-vol1": "2Gi", "data-vol2": "2Gi"}

    # InPlaceOnly ignores the claims hash: in place, same pods, same PVCs
    await _patch(
        stack,
        {
            "template": {"spec": {"containers": [{"name": "app", "image": "nginx:4"}]}},
            "volumeClaimTemplates": _claims("3Gi", "3Gi"),
            "updateStrategy": _strategy("InPlaceOnly"),
        },
    )
    fifth = await _wait_settled(stack, "updated in place", lambda s: s.pod_uids == fourth.pod_uids)
    assert fifth.claim_uids == fourth.claim_uids
    assert {p["spec"]["containers"][0]["image"] for p in await pods(stack)} == {"nginx:4"}


async def test_gate_off_updates_in_place_and_keeps_pvcs(
    vct_gate_default: None, cloneset_stack: Stack
) -> None:
    stack = cloneset_stack
    first = await _create(stack)
    await _patch(
        stack,
        {
            "template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}},
            "volumeClaimTemplates": _claims("2Gi", "1Gi"),
            "updateStrategy": _strategy("InPlaceIfPossible"),
        },
    )
    second = await _wait_settled(stack, "updated in place", lambda s: s.pod_uids == first.pod_uids)
    assert second.claim_uids == first.claim_uids
    assert second.sizes == {"data-vol1": "1Gi", "data-vol2": "1Gi"}
    assert {p["spec"]["containers"][0]["image"] for p in await pods(stack)} == {"nginx:2"}
