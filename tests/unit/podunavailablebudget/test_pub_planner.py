"""The PUB planner, table by table: kruise's ``pub_controller_test.go`` cases, worked by hand.

Each case gives the covered pods, the PUB and the workloads' replicas; the expected status numbers
are kruise's (its test expectations), the expected actions follow its ``syncPodUnavailableBudget``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flotilla.runtime.kube import PODS
from workers.cloneset.kube_json import JsonDict
from workers.podunavailablebudget.admit import PODUNAVAILABLEBUDGETS
from workers.podunavailablebudget.budget import Workload
from workers.podunavailablebudget.planner import ObservedBudget, PlannerConfig, plan
from workers.runtime.actions import EmitEvent, PatchObject, UpdateStatus
from workers.runtime.contract import Plan

NOW = datetime(2026, 11, 29, 20, 0, 0, tzinfo=UTC)
DEPLOYMENT = Workload("dep-uid", 10)


def stamp(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    index: int,
    *,
    rs_uid: str = "rs-1",
    ready: bool = True,
    deleting: bool = False,
    related: bool = True,
    labels: dict[str, str] | None = None,
) -> JsonDict:
    """kruise's ``podDemo`` named ``test-pod-<index>``, owned by ReplicaSet ``rs_uid``."""
    metadata: JsonDict = {
        "name": f"test-pod-{index}",
        "namespace": "default",
        "labels": labels or {"app": "nginx", "pub-controller": "true"},
        "annotations": {"kruise.io/related-pub": "pub-test"} if related else {},
        "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_uid, "uid": rs_uid, "controller": True}
        ],
    }
    if deleting:
        metadata["deletionTimestamp"] = stamp(0)
    return {
        "metadata": metadata,
        "spec": {"containers": [{"name": "nginx", "image": "nginx:v1"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "nginx", "image": "nginx:v1", "imageID": "nginx@sha256:a9286d"}],
        },
    }


def pub(
    status: JsonDict | None = None,
    spec: JsonDict | None = None,
    annotations: dict[str, str] | None = None,
) -> JsonDict:
    """kruise's ``pubDemo``: selector pub-controller=true, maxUnavailable 30%."""
    return {
        "apiVersion": "policy.kruise.io/v1alpha1",
        "kind": "PodUnavailableBudget",
        "metadata": {
            "name": "pub-test",
            "namespace": "default",
            "generation": 1,
            "resourceVersion": "7",
            "annotations": annotations or {},
        },
        "spec": spec or {"selector": {"matchLabels": {"pub-controller": "true"}}, "maxUnavailable": "30%"},
        "status": status or {},
    }


def observed(
    the_pub: JsonDict, pods: list[JsonDict], controllers: dict[str, Workload] | None = None
) -> ObservedBudget:
    if controllers is None:
        controllers = {"rs-1": DEPLOYMENT, "rs-2": DEPLOYMENT}
    return ObservedBudget("default", "pub-test", the_pub, tuple(pods), None, controllers)


def status_of(result: Plan) -> JsonDict | None:
    writes = [a for a in result.actions if isinstance(a, UpdateStatus)]
    assert len(writes) <= 1
    return writes[0].body["status"] if writes else None


def numbers(status: JsonDict | None) -> tuple[object, ...]:
    assert status is not None
    keys = ("unavailableAllowed", "currentAvailable", "desiredAvailable", "totalReplicas")
    return tuple(status[k] for k in keys)


@pytest.mark.parametrize(
    ("case", "pods", "the_pub", "controllers", "expected"),
    [
        (
            "deployment replicas=10 over two ReplicaSets, 13 pods one not ready (counted once)",
            [pod(i) for i in range(10)] + [pod(i, rs_uid="rs-2", ready=i != 12) for i in range(10, 13)],
            pub(),
            None,
            (5, 12, 7, 10),
        ),
        (
            "deployment replicas=0: nothing expected, all allowed",
            [pod(i) for i in range(10)],
            pub(),
            {"rs-1": Workload("dep-uid", 0)},
            (10, 10, 0, 0),
        ),
        (
            "protect-total-replicas=15 overrides the workload",
            [pod(i) for i in range(10)],
            pub(annotations={"pub.kruise.io/protect-total-replicas": "15"}),
            {"rs-1": Workload("dep-uid", 0)},
            (0, 10, 10, 15),
        ),
        (
            "3 of 10 pods being deleted (inactive)",
            [pod(i, deleting=i < 3) for i in range(10)],
            pub(),
            None,
            (0, 7, 7, 10),
        ),
        (
            "maxUnavailable 0%",
            [pod(i) for i in range(10)],
            pub(spec={"maxUnavailable": "0%"}),
            None,
            (0, 10, 10, 10),
        ),
        (
            "maxUnavailable 100%",
            [pod(i) for i in range(10)],
            pub(spec={"maxUnavailable": "100%"}),
            None,
            (10, 10, 0, 10),
        ),
        (
            "maxUnavailable 100 (int)",
            [pod(i) for i in range(10)],
            pub(spec={"maxUnavailable": 100}),
            None,
            (10, 10, 0, 10),
        ),
        (
            "minAvailable 100 (int)",
            [pod(i) for i in range(5)],
            pub(spec={"minAvailable": 100}),
            None,
            (0, 5, 100, 10),
        ),
        (
            "minAvailable 50%",
            [pod(i) for i in range(5)],
            pub(spec={"minAvailable": "50%"}),
            None,
            (0, 5, 5, 10),
        ),
        (
            "minAvailable 80%",
            [pod(i) for i in range(10)],
            pub(spec={"minAvailable": "80%"}),
            None,
            (2, 10, 8, 10),
        ),
        (
            "maxUnavailable 25% of 10 rounds up to 3",
            [pod(i) for i in range(10)],
            pub(spec={"maxUnavailable": "25%"}),
            None,
            (3, 10, 7, 10),
        ),
        (
            "a pod with an unavailable-pod.kruise.io/ label is not available",
            [pod(i) for i in range(9)] + [pod(9, labels={"unavailable-pod.kruise.io/x": "1"})],
            pub(),
            None,
            (2, 9, 7, 10),
        ),
    ],
)
def test_status_numbers(
    case: str,
    pods: list[JsonDict],
    the_pub: JsonDict,
    controllers: dict[str, Workload] | None,
    expected: tuple[int, int, int, int],
) -> None:
    assert numbers(status_of(plan(observed(the_pub, pods, controllers), PlannerConfig(), NOW))) == expected, (
        case
    )


def test_recorded_pods_expire_as_kruise_expires_them() -> None:
    """kruise: "10 UnavailablePods(5 ready), 10 DisruptionPods(5 delay) and 5 deletion", replicas 100."""
    pods = [pod(i, deleting=20 <= i < 25) for i in range(100)]
    unavailable = {f"test-pod-{i}": stamp(11 if i < 5 else 0) for i in range(10)}
    disrupted = {f"test-pod-{i}": stamp(125 if i < 15 else 0) for i in range(10, 20)}
    the_pub = pub(status={"unavailablePods": unavailable, "disruptedPods": disrupted})
    result = plan(observed(the_pub, pods, {"rs-1": Workload("dep-uid", 100)}), PlannerConfig(), NOW)
    status = status_of(result)
    assert numbers(status) == (15, 85, 70, 100)
    assert status is not None
    assert status["unavailablePods"] == {f"test-pod-{i}": stamp(0) for i in range(5, 10)}
    assert status["disruptedPods"] == {f"test-pod-{i}": stamp(0) for i in range(15, 20)}
    assert status["observedGeneration"] == 1
    not_deleted = [a for a in result.actions if isinstance(a, EmitEvent)]
    assert [(e.involved.name, e.reason, e.type) for e in not_deleted] == [
        (f"test-pod-{i}", "NotDeleted", "Warning") for i in range(10, 15)
    ]
    assert not_deleted[0].message == "Pod was expected by PUB default/pub-test to be deleted but it wasn't"
    # the earliest live entry (recorded now) expires after the unavailable delay: 10 s
    assert result.requeue_after == 10.0


def test_requeue_at_the_earliest_expiry() -> None:
    the_pub = pub(
        status={"disruptedPods": {"test-pod-0": stamp(5)}, "unavailablePods": {"test-pod-1": stamp(8)}}
    )
    result = plan(observed(the_pub, [pod(i) for i in range(10)]), PlannerConfig(), NOW)
    assert result.requeue_after == 2.0  # unavailable: 10 s - 8 s; disrupted would be 20 s - 5 s
    assert numbers(status_of(result)) == (1, 8, 7, 10)


def test_entries_of_pods_gone_are_dropped_and_no_requeue() -> None:
    the_pub = pub(status={"disruptedPods": {"gone": stamp(1)}})
    result = plan(observed(the_pub, [pod(i) for i in range(10)]), PlannerConfig(), NOW)
    status = status_of(result)
    assert status is not None
    assert "disruptedPods" not in status
    assert result.requeue_after is None


def test_an_unchanged_status_is_not_written() -> None:
    current: JsonDict = {
        "observedGeneration": 1,
        "unavailableAllowed": 3,
        "currentAvailable": 10,
        "desiredAvailable": 7,
        "totalReplicas": 10,
    }
    result = plan(observed(pub(status=current), [pod(i) for i in range(10)]), PlannerConfig(), NOW)
    assert result.actions == ()


def test_pods_without_the_related_pub_annotation_get_it() -> None:
    the_pub = pub()
    result = plan(observed(the_pub, [pod(0, related=False), pod(1)]), PlannerConfig(), NOW)
    patches = [a for a in result.actions if isinstance(a, PatchObject)]
    assert patches == [
        PatchObject(
            PODS,
            "default",
            "test-pod-0",
            {"metadata": {"annotations": {"kruise.io/related-pub": "pub-test"}}},
        )
    ]
    assert isinstance(result.actions[-1], UpdateStatus)
    assert result.actions[-1].resource == PODUNAVAILABLEBUDGETS
    assert result.actions[-1].body["metadata"]["resourceVersion"] == "7"


def test_no_pods_emits_kruise_event() -> None:
    result = plan(observed(pub(), []), PlannerConfig(), NOW)
    events = [(a.reason, a.message, a.type) for a in result.actions if isinstance(a, EmitEvent)]
    assert events == [("NoPods", "No matching pods found", "Normal")]
    assert numbers(status_of(result)) == (0, 0, 0, 0)


def test_a_malformed_percent_is_reported_and_nothing_written() -> None:
    result = plan(observed(pub(spec={"maxUnavailable": "abc"}), [pod(0)]), PlannerConfig(), NOW)
    assert status_of(result) is None
    events = [(a.reason, a.type) for a in result.actions if isinstance(a, EmitEvent)]
    assert events == [("CalculateExpectedPodCountFailed", "Warning")]


def test_gone_pub_plans_nothing() -> None:
    assert plan(ObservedBudget("default", "pub-test", None), PlannerConfig(), NOW).actions == ()
