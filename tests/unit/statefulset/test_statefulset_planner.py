"""Advanced StatefulSet planner tables: each step's writes worked out by hand from kruise v1.9.1's
``updateStatefulSet`` (pkg/controller/statefulset/stateful_set_control.go) and its utils."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.statefulset.sts_builders import (
    IMAGE_B,
    UID,
    created_pod,
    created_revision,
    events,
    pod,
    rev_name,
    run,
    status_of,
    steps,
    sts,
)
from workers.runtime import actions as runtime
from workers.statefulset.observed import PlannerConfig
from workers.statefulset.ordinals import parse_range, replica_range, reserved_ordinals

FIRST = run(sts(3))
REV_A = created_revision(FIRST)
A = rev_name(REV_A)
SECOND = run(sts(3, image=IMAGE_B), revisions=[REV_A])
REV_B = created_revision(SECOND)
B = rev_name(REV_B)
REVS = [REV_A, REV_B]


def ready(*ordinals: int, revision: str = A, **kw: Any) -> list[dict[str, Any]]:
    return [pod(o, revision, **kw) for o in ordinals]


# --- ordinals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([1], {1}),
        ([1, "3-5"], {1, 3, 4, 5}),
        (["2-2"], {2}),
        (["5-3"], set()),  # start > end: kruise drops every reserved ordinal
        (["1-2-3"], set()),
        (["a-2"], set()),
        ([0, "x"], set()),
        (None, set()),
    ],
)
def test_reserved_ordinals_parse_as_kruise(entries: list[int | str] | None, expected: set[int]) -> None:
    assert reserved_ordinals(entries) == frozenset(expected)


def test_parse_range_reads_ends_like_go_atoi() -> None:
    assert parse_range("1-3") == (1, 3)
    assert parse_range("+1-3") == (1, 3)  # strconv.Atoi takes a sign
    assert parse_range(" 1-3") is None


@pytest.mark.parametrize(
    ("replicas", "start", "reserved", "ordinals"),
    [
        (3, 0, {1}, (0, 2, 3)),  # the reference's example: replicas 3, reserve [1] -> 0, 2, 3
        (4, 2, {1, 3}, (2, 4, 5, 6)),  # kruise's comment on getStatefulSetReplicasRange
        (3, 0, {2, 3}, (0, 1, 4)),
        (0, 0, {0}, ()),
    ],
)
def test_replica_range(replicas: int, start: int, reserved: set[int], ordinals: tuple[int, ...]) -> None:
    assert replica_range(replicas, start, frozenset(reserved)).ordinals() == ordinals


# --- OrderedReady scale up ------------------------------------------------------------------


def test_ordered_ready_scale_up_one_at_a_time() -> None:
    # step 1/4: nothing exists: the revision, then only web-0
    assert steps(FIRST) == [f"create controllerrevisions {A}", "create pods web-0"]
    assert events(FIRST) == [("Normal", "SuccessfulCreate", "create Pod web-0 in StatefulSet web successful")]
    assert status_of(FIRST)["replicas"] == 0
    assert status_of(FIRST)["updateRevision"] == A
    # step 2/4: web-0 Pending: wait for it
    waiting = run(sts(3), ready(0, phase="Pending", ready=False), [REV_A])
    assert steps(waiting) == []
    assert status_of(waiting)["replicas"] == 1
    assert status_of(waiting)["readyReplicas"] == 0
    # step 3/4: web-0 Running and Ready: web-1
    assert steps(run(sts(3), ready(0), [REV_A])) == ["create pods web-1"]
    # step 4/4: all three ready: nothing to do, status complete
    done = run(
        sts(3),
        ready(0, 1, 2),
        [REV_A],
    )
    assert steps(done) == []
    assert {
        k: status_of(done)[k] for k in ("replicas", "readyReplicas", "currentReplicas", "updatedReplicas")
    } == {
        "replicas": 3,
        "readyReplicas": 3,
        "currentReplicas": 3,
        "updatedReplicas": 3,
    }


def test_min_ready_seconds_holds_ordered_ready_scale_up() -> None:
    body = sts(3, updateStrategy={"rollingUpdate": {"minReadySeconds": 10}})
    result = run(body, ready(0, ready_for=4), [REV_A])
    assert steps(result) == []
    assert result.requeue_after == pytest.approx(6.0)
    assert steps(run(body, ready(0, ready_for=11), [REV_A])) == ["create pods web-1"]


def test_new_pod_identity() -> None:
    body = created_pod(FIRST, "web-0")
    meta = body["metadata"]
    assert meta["labels"]["statefulset.kubernetes.io/pod-name"] == "web-0"
    assert meta["labels"]["apps.kubernetes.io/pod-index"] == "0"
    assert meta["labels"]["controller-revision-hash"] == A
    assert meta["labels"]["lifecycle.apps.kruise.io/state"] == "Normal"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "apps.kruise.io/v1beta1",
            "kind": "StatefulSet",
            "name": "web",
            "uid": UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert body["spec"]["hostname"] == "web-0"
    assert body["spec"]["subdomain"] == "web-svc"
    without_gate = run(sts(1), config=PlannerConfig(pod_index_label=False))
    assert "apps.kubernetes.io/pod-index" not in created_pod(without_gate, "web-0")["metadata"]["labels"]


def test_ordinals_start_needs_its_gate() -> None:
    body = sts(2, podManagementPolicy="Parallel", ordinals={"start": 5})
    assert steps(run(body, revisions=[REV_A])) == ["create pods web-0", "create pods web-1"]
    gated = run(body, revisions=[REV_A], config=PlannerConfig(start_ordinal=True))
    assert steps(gated) == ["create pods web-5", "create pods web-6"]


# --- reserveOrdinals ------------------------------------------------------------------------


def test_parallel_scale_up_skips_reserved_ordinals() -> None:
    body = sts(3, podManagementPolicy="Parallel", reserveOrdinals=[1])
    assert steps(run(body, revisions=[REV_A])) == [
        "create pods web-0",
        "create pods web-2",
        "create pods web-3",
    ]
    body = sts(3, podManagementPolicy="Parallel", reserveOrdinals=["1-2"])
    assert steps(run(body, revisions=[REV_A])) == [
        "create pods web-0",
        "create pods web-3",
        "create pods web-4",
    ]


def test_reserving_a_running_ordinal_under_ordered_ready() -> None:
    # web-0..2 run; reserving 1 moves the third replica to ordinal 3.
    body = sts(3, reserveOrdinals=[1])
    # step 1/3: web-3 is created first (replicas before condemned), and the pass stops there
    assert steps(run(body, ready(0, 1, 2), [REV_A])) == ["create pods web-3"]
    # step 2/3: web-3 not ready yet: web-1 is kept
    assert steps(run(body, [*ready(0, 1, 2), pod(3, A, phase="Pending", ready=False)], [REV_A])) == []
    # step 3/3: web-3 ready: the condemned web-1 goes
    result = run(body, ready(0, 1, 2, 3), [REV_A])
    assert steps(result) == ["delete pods web-1"]
    assert ("Normal", "SuccessfulDelete", "delete Pod web-1 in StatefulSet web successful") in events(result)


# --- Parallel and scaleStrategy.maxUnavailable ----------------------------------------------


def test_parallel_scale_up_creates_every_missing_pod() -> None:
    body = sts(4, podManagementPolicy="Parallel")
    assert steps(run(body, ready(0), [REV_A])) == [
        "create pods web-1",
        "create pods web-2",
        "create pods web-3",
    ]


def test_scale_max_unavailable_bounds_parallel_scaling() -> None:
    body = sts(5, podManagementPolicy="Parallel", scaleStrategy={"maxUnavailable": 2})
    # budget 2: web-0 (1 left), web-1 (0 left: break)
    assert steps(run(body, revisions=[REV_A])) == ["create pods web-0", "create pods web-1"]
    # both unavailable: the budget is spent on them, nothing new
    pending = [pod(0, A, phase="Pending", ready=False), pod(1, A, phase="Pending", ready=False)]
    assert steps(run(body, pending, [REV_A])) == []
    # web-0 ready, web-1 not: one slot left -> web-2, then break
    assert steps(run(body, [pod(0, A), pending[1]], [REV_A])) == ["create pods web-2"]
    # percent of replicas rounds down: 40% of 5 = 2
    body = sts(5, podManagementPolicy="Parallel", scaleStrategy={"maxUnavailable": "40%"})
    assert steps(run(body, revisions=[REV_A])) == ["create pods web-0", "create pods web-1"]


# --- scale down -----------------------------------------------------------------------------


def test_ordered_ready_scale_down_highest_first_one_at_a_time() -> None:
    body = sts(1)
    assert steps(run(body, ready(0, 1, 2), [REV_A])) == ["delete pods web-2"]
    assert steps(run(body, [*ready(0, 1), pod(2, A, deleting=True)], [REV_A])) == []


def test_ordered_ready_scale_down_waits_for_unhealthy_predecessor() -> None:
    # web-1 and web-2 not ready: web-2 is not the first unhealthy pod (web-1 is), so it waits
    body = sts(1)
    result = run(body, [pod(0, A), pod(1, A, ready=False), pod(2, A, ready=False)], [REV_A])
    assert steps(result) == []
    # web-2 alone unhealthy: it is the first unhealthy pod and may go
    assert steps(run(body, [pod(0, A), pod(1, A), pod(2, A, ready=False)], [REV_A])) == ["delete pods web-2"]
    # web-1 unhealthy, web-2 healthy: kruise checks only the condemned pod itself, web-2 goes
    assert steps(run(body, [pod(0, A), pod(1, A, ready=False), pod(2, A)], [REV_A])) == ["delete pods web-2"]


def test_parallel_scale_down_deletes_all_condemned() -> None:
    body = sts(1, podManagementPolicy="Parallel")
    assert steps(run(body, ready(0, 1, 2), [REV_A])) == ["delete pods web-2", "delete pods web-1"]


def test_failed_pod_is_recreated() -> None:
    result = run(sts(2), [pod(0, A, phase="Failed", ready=False), pod(1, A)], [REV_A])
    assert steps(result) == ["delete pods web-0"]


def test_pre_delete_hook_marks_preparing_delete_instead() -> None:
    body = sts(1, lifecycle={"preDelete": {"labelsHandler": {"hold": "true"}}})
    result = run(body, [pod(0, A), pod(1, A, labels={"hold": "true"})], [REV_A])
    assert steps(result) == ["patch pods web-1"]
    patch = result.actions[0].patch  # type: ignore[union-attr]
    assert patch["metadata"]["labels"] == {"lifecycle.apps.kruise.io/state": "PreparingDelete"}


# --- rolling update (ReCreate) --------------------------------------------------------------


def test_recreate_rolling_update_with_partition() -> None:
    body = sts(
        3, image=IMAGE_B, updateStrategy={"rollingUpdate": {"partition": 1}}, status={"currentRevision": A}
    )
    # step 1/4: new revision; the highest ordinal goes first
    first = run(body, ready(0, 1, 2), [REV_A])
    assert steps(first) == [f"create controllerrevisions {B}", "delete pods web-2"]
    # step 2/4: web-2 gone: recreated at the update revision (ordinal 2 >= partition)
    second = run(body, ready(0, 1), REVS)
    assert steps(second) == ["create pods web-2"]
    assert created_pod(second, "web-2")["metadata"]["labels"]["controller-revision-hash"] == B
    assert created_pod(second, "web-2")["spec"]["containers"][0]["image"] == IMAGE_B
    # step 3/4: web-2 ready at B: web-1 next
    assert steps(run(body, [*ready(0, 1), pod(2, B)], REVS)) == ["delete pods web-1"]
    # step 4/4: web-1 at B: web-0 stays below the partition; A is still current
    done = run(body, [pod(0, A), pod(1, B), pod(2, B)], REVS)
    assert steps(done) == []
    assert status_of(done)["currentRevision"] == A
    assert status_of(done)["updatedReplicas"] == 2


def test_new_pod_below_partition_gets_current_revision() -> None:
    body = sts(
        3, image=IMAGE_B, updateStrategy={"rollingUpdate": {"partition": 2}}, status={"currentRevision": A}
    )
    result = run(body, [pod(1, A), pod(2, B)], REVS)
    assert steps(result) == ["create pods web-0"]
    created = created_pod(result, "web-0")
    assert created["metadata"]["labels"]["controller-revision-hash"] == A
    assert created["spec"]["containers"][0]["image"] == "nginx:1.25"


def test_rollout_complete_makes_update_revision_current() -> None:
    body = sts(2, image=IMAGE_B, status={"currentRevision": A})
    status = status_of(run(body, [pod(0, B), pod(1, B)], REVS))
    assert status["currentRevision"] == B
    assert status["currentReplicas"] == 2


def test_max_unavailable_under_parallel() -> None:
    rolling = {"rollingUpdate": {"maxUnavailable": 2}}
    body = sts(
        3,
        image=IMAGE_B,
        podManagementPolicy="Parallel",
        updateStrategy=rolling,
        status={"currentRevision": A},
    )
    assert steps(run(body, ready(0, 1, 2), REVS)) == ["delete pods web-2", "delete pods web-1"]
    # under OrderedReady kruise's webhook refuses maxUnavailable != 1: test_statefulset_invalid
    # one already unavailable: only one more
    body = sts(
        3,
        image=IMAGE_B,
        podManagementPolicy="Parallel",
        updateStrategy=rolling,
        status={"currentRevision": A},
    )
    assert steps(run(body, [pod(0, A), pod(1, A, ready=False), pod(2, A)], REVS)) == [
        "delete pods web-2",
        "delete pods web-1",
    ]


def test_paused_rolling_update_does_nothing() -> None:
    body = sts(
        2, image=IMAGE_B, updateStrategy={"rollingUpdate": {"paused": True}}, status={"currentRevision": A}
    )
    assert steps(run(body, ready(0, 1), REVS)) == []


def test_on_delete_strategy_does_not_update() -> None:
    body = sts(2, image=IMAGE_B, updateStrategy={"type": "OnDelete"}, status={"currentRevision": A})
    assert steps(run(body, ready(0, 1), REVS)) == []
    # a deleted pod comes back at the update revision
    result = run(body, ready(1), REVS)
    assert created_pod(result, "web-0")["metadata"]["labels"]["controller-revision-hash"] == B


def test_unordered_update_by_priority() -> None:
    rolling = {
        "rollingUpdate": {
            "unorderedUpdate": {
                "priorityStrategy": {
                    "weightPriority": [{"weight": 50, "matchSelector": {"matchLabels": {"k": "v"}}}]
                }
            }
        }
    }
    body = sts(
        3,
        image=IMAGE_B,
        podManagementPolicy="Parallel",
        updateStrategy=rolling,
        status={"currentRevision": A},
    )
    pods = [pod(0, A, labels={"k": "v"}), pod(1, A), pod(2, A)]
    # web-0 carries the weight: it goes first, although its ordinal is the lowest
    assert steps(run(body, pods, REVS)) == ["delete pods web-0"]


def test_specified_delete_label() -> None:
    body = sts(3)
    result = run(
        body, [pod(0, A), pod(1, A, labels={"apps.kruise.io/specified-delete": "true"}), pod(2, A)], [REV_A]
    )
    assert steps(result) == ["delete pods web-1"]


# --- PVCs -----------------------------------------------------------------------------------

VCT = [
    {
        "metadata": {"name": "www"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
]


def claim(ordinal: int, owners: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"www-web-{ordinal}",
            "namespace": "ns",
            "uid": f"uid-pvc-{ordinal}",
            "resourceVersion": "3",
            "labels": {"app": "web"},
            "ownerReferences": owners or [],
        },
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def test_claims_are_created_before_their_pod() -> None:
    result = run(sts(1, volumeClaimTemplates=VCT), revisions=[REV_A])
    assert steps(result) == ["create persistentvolumeclaims www-web-0", "create pods web-0"]
    pvc = result.actions[0].body  # type: ignore[union-attr]
    assert pvc["metadata"]["labels"] == {"app": "web"}
    assert "ownerReferences" not in pvc["metadata"]  # Retain / Retain: no owners
    volumes = created_pod(result, "web-0")["spec"]["volumes"]
    assert volumes == [{"name": "www", "persistentVolumeClaim": {"claimName": "www-web-0"}}]
    assert events(result)[0] == (
        "Normal",
        "SuccessfulCreate",
        "create Claim www-web-0 Pod web-0 in StatefulSet web success",
    )
    # the claim exists already: only the pod
    assert steps(run(sts(1, volumeClaimTemplates=VCT), revisions=[REV_A], claims=[claim(0)])) == [
        "create pods web-0"
    ]


def test_when_deleted_delete_owns_claims_by_the_set() -> None:
    policy = {"whenDeleted": "Delete", "whenScaled": "Retain"}
    body = sts(1, volumeClaimTemplates=VCT, persistentVolumeClaimRetentionPolicy=policy)
    pvc = run(body, revisions=[REV_A]).actions[0].body  # type: ignore[union-attr]
    assert pvc["metadata"]["ownerReferences"] == [
        {"apiVersion": "apps.kruise.io/v1beta1", "kind": "StatefulSet", "name": "web", "uid": UID}
    ]
    # gate off: no owners
    gated = run(body, revisions=[REV_A], config=PlannerConfig(auto_delete_pvc=False))
    assert "ownerReferences" not in gated.actions[0].body["metadata"]  # type: ignore[union-attr]


def test_when_scaled_delete_hands_the_claim_to_the_condemned_pod() -> None:
    policy = {"whenDeleted": "Retain", "whenScaled": "Delete"}
    body = sts(
        1,
        podManagementPolicy="Parallel",
        volumeClaimTemplates=VCT,
        persistentVolumeClaimRetentionPolicy=policy,
    )
    result = run(body, ready(0, 1), [REV_A], claims=[claim(0), claim(1)])
    assert steps(result) == ["patch persistentvolumeclaims www-web-1", "delete pods web-1"]
    patch = result.actions[0].patch  # type: ignore[union-attr]
    assert patch["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "web-1", "uid": "uid-web-1"}
    ]


def test_stale_claim_holds_pod_creation() -> None:
    policy = {"whenDeleted": "Retain", "whenScaled": "Delete"}
    body = sts(2, volumeClaimTemplates=VCT, persistentVolumeClaimRetentionPolicy=policy)
    stale = claim(1, [{"apiVersion": "v1", "kind": "Pod", "name": "web-1", "uid": "old"}])
    assert steps(run(body, ready(0), [REV_A], claims=[claim(0), stale])) == []


def test_volume_claim_status() -> None:
    status = status_of(run(sts(2, volumeClaimTemplates=VCT), ready(0, 1), [REV_A], claims=[claim(0)]))
    assert status["volumeClaims"] == [
        {"volumeClaimName": "www", "compatibleReplicas": 1, "compatibleReadyReplicas": 0}
    ]


def _sized(ordinal: int, request: str, capacity: str | None, modes: str = "ReadWriteOnce") -> dict[str, Any]:
    body = claim(ordinal)
    body["spec"] = {"accessModes": [modes], "resources": {"requests": {"storage": request}}}
    if capacity is not None:
        body["status"] = {"capacity": {"storage": capacity}}
    return body


def test_volume_claim_status_compares_sizes_as_quantities() -> None:
    # kruise's updatePVCStatus / IsPVCCompatibleAndReady (template www: 1Gi, ReadWriteOnce):
    # compatible when the PVC has the template's access modes and requests at least its size,
    # ready when the PVC's capacity reached the PVC's own request; sizes compare as
    # resource.Quantity does (1024Mi == 1Gi = 1073741824 bytes; 1023Mi is less)
    claims = [
        _sized(0, "1024Mi", "1Gi"),  # compatible, ready
        _sized(1, "1Gi", "1023Mi"),  # compatible, capacity short of its request: not ready
        _sized(2, "2Gi", "2048Mi"),  # bigger than the template: compatible, ready
        _sized(3, "1023Mi", "1023Mi"),  # smaller than the template: not compatible
        _sized(4, "1Gi", "1Gi", modes="ReadWriteMany"),  # other access modes: not compatible
    ]
    result = run(sts(5, volumeClaimTemplates=VCT), ready(0, 1, 2, 3, 4), [REV_A], claims=claims)
    assert status_of(result)["volumeClaims"] == [
        {"volumeClaimName": "www", "compatibleReplicas": 3, "compatibleReadyReplicas": 2}
    ]


# --- ownership, deletion, revisions -----------------------------------------------------------


def test_orphan_named_after_the_set_is_adopted() -> None:
    result = run(sts(1), [pod(0, A, owner=False)], [REV_A])
    assert steps(result) == ["patch pods web-0"]
    patch = result.actions[0].patch  # type: ignore[union-attr]
    assert patch["metadata"]["ownerReferences"][0]["uid"] == UID
    # not named <set>-<ordinal>: left alone (and so web-0 is created)
    assert steps(run(sts(1), [pod(0, A, owner=False, name="other")], [REV_A])) == ["create pods web-0"]


def test_owned_pod_the_selector_no_longer_matches_is_released() -> None:
    # kruise's ClaimPods: an owned pod failing the selector (or not named <set>-<ordinal>) loses
    # the set's ownerReference and leaves its counts; web-1 is then created again (as kruise
    # does: its create meets the released pod, AlreadyExists, until the labels come back)
    stray = pod(1, A, labels={"app": "other"})
    foreign = pod(0, A, name="other")
    result = run(sts(2, status={"currentRevision": A}), [pod(0, A), stray, foreign], [REV_A])
    assert steps(result) == ["patch pods web-1", "patch pods other-0", "create pods web-1"]
    for action, uid in zip(result.actions[:2], ["uid-web-1", "uid-other-0"], strict=True):
        assert action.patch == {  # type: ignore[union-attr]
            "metadata": {"ownerReferences": [{"$patch": "delete", "uid": UID}], "uid": uid}
        }
    assert status_of(result)["replicas"] == 1
    # a set being deleted releases nothing
    body = sts(2)
    body["metadata"]["deletionTimestamp"] = "2026-11-29T11:00:00Z"
    assert steps(run(body, [pod(0, A), stray], [REV_A])) == []


def test_deleting_set_writes_status_only() -> None:
    body = sts(3)
    body["metadata"]["deletionTimestamp"] = "2026-11-29T11:00:00Z"
    result = run(body, ready(0), [REV_A])
    assert steps(result) == []
    assert status_of(result)["replicas"] == 1


def test_rollback_renumbers_the_older_revision() -> None:
    newer = {**REV_B, "revision": 2}
    result = run(sts(2, status={"currentRevision": B}), [pod(0, B), pod(1, B)], [REV_A, newer])
    assert steps(result)[0] == f"patch controllerrevisions {A}"
    assert result.actions[0].patch == {"revision": 3}  # type: ignore[union-attr]


def test_history_beyond_the_limit_is_deleted() -> None:
    old = {**REV_B, "revision": 1}
    newer = {**REV_A, "revision": 2}
    result = run(sts(1, revisionHistoryLimit=0, status={"currentRevision": A}), [pod(0, A)], [old, newer])
    assert f"delete controllerrevisions {B}" in steps(result)


def test_kruise_pod_ready_turns_true_on_a_pod_with_the_gate_and_no_condition() -> None:
    # kruise's pod-readiness controller (pkg/controller/podreadiness): a pod declaring the
    # KruisePodReady gate (the admission webhook adds it to every pod a kruise workload owns)
    # without that condition gets it True, in a status patch; a pod that has it is left alone.
    gated = ready(0, 1)
    for body in gated:
        body["spec"]["readinessGates"] = [{"conditionType": "KruisePodReady"}]
    gated[1]["status"]["conditions"].append({"type": "KruisePodReady", "status": "True"})
    result = run(sts(2), gated, [REV_A])
    writes = [
        (a.name, a.subresource, a.patch)
        for a in result.actions
        if isinstance(a, runtime.PatchObject) and a.resource.plural == "pods"
    ]
    assert len(writes) == 1
    name, subresource, patch = writes[0]
    assert (name, subresource) == ("web-0", "status")
    [condition] = patch["status"]["conditions"]
    assert (condition["type"], condition["status"]) == ("KruisePodReady", "True")
