"""Revisions, ownership, status and ordering details of the CloneSet planner."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.cloneset.cloneset_builders import (
    NOW,
    UID,
    cloneset,
    deleted,
    events,
    pod,
    pod_actions,
    rev_name,
    revision,
    run,
    status_of,
)
from workers.cloneset.actions import CreateRevision, DeleteRevision, PatchPod
from workers.podmechanics.kube_json import format_time


def test_revision_object() -> None:
    cs = cloneset(1)
    plan = run(cs, [], revisions=[])
    [create] = [a for a in plan.actions if isinstance(a, CreateRevision)]
    rev = create.revision
    assert rev["revision"] == 1
    assert rev["data"]["spec"]["template"]["$patch"] == "replace"  # type: ignore[index]
    meta = rev["metadata"]
    assert meta["labels"]["controller.kubernetes.io/hash"] == meta["name"].rsplit("-", 1)[1]  # type: ignore[index]
    assert meta["labels"]["app"] == "web"  # type: ignore[index]
    assert meta["ownerReferences"][0]["uid"] == UID  # type: ignore[index]


def test_hash_collision_bumps_collision_count() -> None:
    cs = cloneset(1)
    squatter = revision(cloneset(1, image="other:1"))
    squatter["metadata"]["name"] = rev_name(cs)
    plan = run(cs, [], revisions=[squatter])
    [create] = [a for a in plan.actions if isinstance(a, CreateRevision)]
    assert create.revision["metadata"]["name"] != rev_name(cs)  # type: ignore[index]
    status = status_of(plan)
    assert status is not None
    assert status["collisionCount"] == 1


def test_revision_written_by_kruise_is_equal_despite_go_encoding_details() -> None:
    cs = cloneset(1)
    kruise_rev = revision(cs)
    kruise_rev["metadata"]["name"] = "web-5d4b9c7f8"
    template = kruise_rev["data"]["spec"]["template"]
    template["metadata"]["creationTimestamp"] = None
    template["spec"]["containers"][0]["resources"] = {}
    plan = run(cs, [], revisions=[kruise_rev])
    assert not any(isinstance(a, CreateRevision) for a in plan.actions)
    status = status_of(plan)
    assert status is not None
    assert status["updateRevision"] == "web-5d4b9c7f8"


def test_revision_history_limit_deletes_oldest_unused() -> None:
    cs = cloneset(1, status={"currentRevision": "x"})
    cs = cloneset(1)
    cs.spec.revision_history_limit = 1
    olds = [revision(cloneset(1, image=f"nginx:old{i}"), i + 1) for i in range(3)]
    current = revision(cs, 4)
    in_use = str(olds[2]["metadata"]["name"])
    plan = run(cs, [pod("web-a", in_use)], revisions=[*olds, current])
    removed = [a.name for a in plan.actions if isinstance(a, DeleteRevision)]
    assert removed == [str(olds[0]["metadata"]["name"])]


def test_orphans_adopted_and_mismatched_pods_released() -> None:
    cs = cloneset(2)
    rev = rev_name(cs)
    orphan = pod("web-o", rev, owner=None)
    stray = pod("web-s", rev, labels={"app": "other"})
    foreign = pod("web-f", rev, owner="someone-else")
    plan = run(cs, [pod("web-a", rev), orphan, stray, foreign])
    writes = {a.name: a.patch for a in plan.actions if isinstance(a, PatchPod)}
    assert writes["web-o"]["metadata"]["ownerReferences"][0]["uid"] == UID  # type: ignore[index]
    assert writes["web-s"]["metadata"]["ownerReferences"] == [{"$patch": "delete", "uid": UID}]  # type: ignore[index]
    assert "web-f" not in writes
    status = status_of(plan)
    assert status is not None
    assert status["replicas"] == 2


def test_status_counts_and_min_ready_requeue() -> None:
    cs = cloneset(4, min_ready_seconds=60, generation=7)
    rev = rev_name(cs)
    pods = [
        pod("web-a", rev),
        pod("web-b", rev, ready_for=20),  # ready, not yet available
        pod("web-c", rev, ready=False),
        pod("web-d", rev, state="PreparingUpdate"),  # ready, not available (lifecycle)
    ]
    plan = run(cs, pods)
    status = status_of(plan)
    assert status is not None
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (4, 3, 1)
    assert (
        status["updatedReplicas"],
        status["updatedReadyReplicas"],
        status["updatedAvailableReplicas"],
    ) == (4, 3, 1)
    assert status["observedGeneration"] == 7
    assert plan.requeue_after == 41


def test_selector_mismatch_is_reported_not_acted_on() -> None:
    cs = cloneset(2, template_labels={"app": "other"})
    plan = run(cs, [pod("web-a", rev_name(cs))])
    assert pod_actions(plan) == []
    assert deleted(plan) == []
    [(reason, message)] = events(plan)
    assert reason == "FailedScale"
    assert "does not match" in message
    status = status_of(plan)
    assert status is not None
    assert status["conditions"][0]["type"] == "FailedScale"


def test_being_deleted_cloneset_only_writes_status() -> None:
    cs = cloneset(3)
    cs.metadata["deletionTimestamp"] = format_time(NOW)
    plan = run(cs, [pod("web-a", rev_name(cs))])
    assert pod_actions(plan) == []


def test_stale_ready_time_ordering_uses_creation_time() -> None:
    cs = cloneset(1, strategy={"maxUnavailable": 5})
    rev = rev_name(cs)
    pods = [
        pod("web-a", rev, created_ago=100, ready_for=50),
        pod("web-b", rev, created_ago=200, ready_for=50),
    ]
    assert deleted(run(cs, pods, now=NOW + timedelta(seconds=0))) == ["web-a"]
