"""When a trigger held while a pass observed and planned makes its plan give way
(``workers.statefulset.outdated``, the worker's ``outdated_by``).

The situations are the two halves of a pod's deletion (kruise's "PVC should be recreated when
pod is pending" races against the re-create): the pass the ``deletionTimestamp`` triggered read
web-0 still terminating, and under OrderedReady kruise's ``processReplica`` can only wait for it
("StatefulSet is waiting for Pod to Terminate") and write the status, where ``currentReplicas``
leaves out the terminating pod (``computeReplicaStatus``: counted only when not terminating) and
``readyReplicas`` still counts it (``isRunningAndReady`` does not look at the deletion); the
``DELETED`` event then held names a pod the snapshot still shows: the status-only plan gives
way. The pass that read web-0 already gone plans its re-create: acted on, whatever is held. The
plans are the real planner's; the expected values are worked out by hand from those kruise rules
and from the module's rule.
"""

from __future__ import annotations

from typing import Any

import pytest

from schemas.bus.envelope import Envelope, EventType, ReconcileKey
from tests.unit.statefulset.sts_builders import NOW, UID, pod, status_of, steps, sts
from tests.unit.statefulset.test_statefulset_planner import REV_A, A
from workers.runtime.contract import Plan
from workers.statefulset.observed import ObservedStatefulSet, PlannerConfig
from workers.statefulset.outdated import outdated_by, status_only
from workers.statefulset.planner import plan

STEADY = {
    "observedGeneration": 2,
    "replicas": 1,
    "readyReplicas": 1,
    "availableReplicas": 1,
    "currentReplicas": 1,
    "updatedReplicas": 1,
    "updatedReadyReplicas": 1,
    "updatedAvailableReplicas": 1,
    "currentRevision": A,
    "updateRevision": A,
    "collisionCount": 0,
    "labelSelector": "app=web",
}


def _event(kind: str, event: EventType, uid: str, rv: str) -> Envelope:
    return Envelope(ReconcileKey("statefulset/ns/web"), event, kind, uid, rv, 0.0)


def _observed(pods: list[dict[str, Any]]) -> ObservedStatefulSet:
    body = sts(1, status=STEADY)
    body["metadata"]["resourceVersion"] = "20"
    return ObservedStatefulSet.of(body, pods, (), [REV_A])


def _terminating() -> dict[str, Any]:
    web0 = pod(0, A, deleting=True)
    web0["metadata"]["resourceVersion"] = "30"
    return web0


def test_the_pass_that_read_the_pod_terminating_only_writes_the_status() -> None:
    observed = _observed([_terminating()])
    result = plan(observed, PlannerConfig(), NOW)
    assert steps(result) == []  # waiting for web-0 to terminate: no pod, PVC or revision write
    status = status_of(result)
    assert (status["currentReplicas"], status["readyReplicas"], status["replicas"]) == (0, 1, 1)
    assert status_only(result)
    deleted = _event("Pod", EventType.DELETED, "uid-web-0", "31")
    assert outdated_by(observed, result, deleted)
    # the pod's earlier or the very event the pass read shows nothing new
    assert not outdated_by(observed, result, _event("Pod", EventType.MODIFIED, "uid-web-0", "30"))
    assert not outdated_by(observed, result, _event("Pod", EventType.MODIFIED, "uid-web-0", "29"))
    assert outdated_by(observed, result, _event("Pod", EventType.MODIFIED, "uid-web-0", "31"))


def test_the_pass_that_read_the_pod_gone_acts_whatever_is_held() -> None:
    observed = _observed([])
    result = plan(observed, PlannerConfig(), NOW)
    assert steps(result) == ["create pods web-0"]
    assert not status_only(result)
    deleted = _event("Pod", EventType.DELETED, "uid-web-0", "31")
    assert not outdated_by(observed, result, deleted)
    assert not outdated_by(observed, result, _event("Pod", EventType.ADDED, "uid-other", "32"))


@pytest.mark.parametrize(
    ("trigger", "outdated"),
    [
        # the snapshot read after kwok removed the pod: its DELETED event shows nothing new
        (("Pod", EventType.DELETED, "uid-web-9", "31"), False),
        (("Pod", EventType.ADDED, "uid-web-9", "31"), True),  # a pod the reads did not return
        (("StatefulSet", EventType.MODIFIED, UID, "21"), True),  # the set changed since its GET
        (("StatefulSet", EventType.MODIFIED, UID, "20"), False),  # the GET's own version
        (("ControllerRevision", EventType.ADDED, "uid-rev-new", "40"), True),
        (("PersistentVolumeClaim", EventType.DELETED, "uid-claim", "41"), False),  # not read
        (("Pod", EventType.RESYNC, "uid-web-0", "31"), False),
        (("ImagePullJob", EventType.MODIFIED, "uid-job", "42"), False),
        (("Pod", EventType.MODIFIED, "", "43"), False),
    ],
)
def test_which_held_triggers_show_a_change(trigger: tuple[str, EventType, str, str], outdated: bool) -> None:
    observed = _observed([_terminating()])
    result = plan(observed, PlannerConfig(), NOW)
    assert outdated_by(observed, result, _event(*trigger)) is outdated


def test_resource_versions_that_are_not_numbers_only_compare_equal() -> None:
    web0 = _terminating()
    web0["metadata"]["resourceVersion"] = "abc"
    observed = _observed([web0])
    result = plan(observed, PlannerConfig(), NOW)
    assert not outdated_by(observed, result, _event("Pod", EventType.MODIFIED, "uid-web-0", "abc"))
    assert outdated_by(observed, result, _event("Pod", EventType.MODIFIED, "uid-web-0", "abd"))


def test_nothing_gives_way_for_a_set_that_is_gone() -> None:
    assert not outdated_by(
        None, Plan(reason="StatefulSet is gone"), _event("Pod", EventType.DELETED, "u", "1")
    )
