"""The Progressing condition and its deadline, as kruise v1.9.1 ``calculateProgressingStatus``.

Cases follow kruise's own table (``pkg/controller/cloneset/cloneset_status_test.go``) and
e2e specs (``test/e2e/apps/v1alpha1/cloneset.go``); every expected condition, time and requeue
is written out by hand from kruise's rules, never computed by the code under test.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.unit.cloneset.cloneset_builders import NOW, cloneset, pod, rev_name, run, status_of
from workers.cloneset.progress import progressing
from workers.podmechanics.kube_json import format_time

T0 = format_time(NOW - timedelta(seconds=100))  # a condition set 100 s before NOW
NOW_TEXT = format_time(NOW)


def _status(
    replicas: int, updated: int, available: int, expected: int, current: str = "r1", update: str = "r1"
) -> dict[str, Any]:
    return {
        "replicas": replicas,
        "updatedReplicas": updated,
        "updatedAvailableReplicas": available,
        "expectedUpdatedReplicas": expected,
        "currentRevision": current,
        "updateRevision": update,
    }


def _cond(status: str, reason: str, message: str, update: str = T0, transition: str = T0) -> dict[str, Any]:
    return {
        "type": "Progressing",
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": update,
        "lastTransitionTime": transition,
    }


AVAILABLE = ("True", "CloneSetAvailable", "CloneSet is available")
UPDATED = ("True", "CloneSetUpdated", "CloneSet is progressing")
PAUSED = ("True", "CloneSetPaused", "CloneSet is paused")
PARTITION = ("True", "ProgressPartitionAvailable", "CloneSet has been paused due to partition ready")
EXCEEDED_R2 = ("False", "ProgressDeadlineExceeded", "CloneSet revision r2 has timed out progressing")
EXCEEDED_R1 = ("False", "ProgressDeadlineExceeded", "CloneSet revision r1 has timed out progressing")

Case = tuple[str, dict[str, Any], dict[str, Any], list[dict[str, Any]], dict[str, Any] | None, float | None]
CASES: list[Case] = [
    # name, cloneset kwargs, status, conditions before, condition after (None: absent), requeue
    ("no deadline: condition removed", {}, _status(1, 1, 1, 1), [_cond(*AVAILABLE)], None, None),
    (
        "MaxInt32 deadline: condition removed",
        {"progress_deadline": 2147483647},
        _status(1, 1, 1, 1),
        [_cond(*UPDATED)],
        None,
        None,
    ),
    (
        "first pass of a new CloneSet: updated, requeue at the deadline + 1 s",
        {"progress_deadline": 10},
        _status(0, 0, 0, 1, current="r1", update="r1"),
        [],
        _cond(*UPDATED, update=NOW_TEXT, transition=NOW_TEXT),
        11.0,
    ),
    (
        "available",
        {"progress_deadline": 10, "replicas": 1},
        _status(1, 1, 1, 1),
        [_cond(*UPDATED)],
        # status stays True: lastTransitionTime kept, lastUpdateTime new
        _cond(*AVAILABLE, update=NOW_TEXT, transition=T0),
        None,
    ),
    (
        "paused wins over a deadline long passed",
        {"progress_deadline": 10, "strategy": {"paused": True}},
        _status(3, 0, 0, 3, update="r2"),
        [_cond(*UPDATED)],
        _cond(*PAUSED, update=NOW_TEXT, transition=T0),
        None,
    ),
    (
        "partition reached: 6 replicas, partition 4, 2 updated and available",
        {"progress_deadline": 10, "replicas": 6},
        _status(6, 2, 2, 2, update="r2"),
        [_cond(*UPDATED)],
        _cond(*PARTITION, update=NOW_TEXT, transition=T0),
        None,
    ),
    (
        "still updating after 100 s of a 10 s deadline: exceeded, message names the update revision",
        {"progress_deadline": 10},
        _status(3, 1, 1, 3, update="r2"),
        [_cond(*UPDATED)],
        _cond(*EXCEEDED_R2, update=NOW_TEXT, transition=NOW_TEXT),
        None,
    ),
    (
        "within the deadline: the entry stays as it is, requeue when it passes (100 s set, 600 s deadline)",
        {"progress_deadline": 600},
        _status(3, 1, 1, 3, update="r2"),
        [_cond(*UPDATED)],
        _cond(*UPDATED),
        501.0,
    ),
    (
        "exceeded sticks while not available, even with progress",
        {"progress_deadline": 600},
        _status(3, 2, 2, 3, update="r2"),
        [_cond(*EXCEEDED_R1)],
        _cond(*EXCEEDED_R1),
        None,
    ),
    (
        "exceeded turns available",
        {"progress_deadline": 600},
        _status(3, 3, 3, 3),
        [_cond(*EXCEEDED_R1)],
        _cond(*AVAILABLE, update=NOW_TEXT, transition=NOW_TEXT),
        None,
    ),
    (
        # kruise counts from the Available entry's lastUpdateTime (when it became available):
        # a new revision 100 s after that, with a 10 s deadline, is already past it.
        "available for longer than the deadline, then a new revision: exceeded at once (as kruise)",
        {"progress_deadline": 10},
        _status(3, 0, 0, 3, update="r2"),
        [_cond(*AVAILABLE)],
        _cond(*EXCEEDED_R2, update=NOW_TEXT, transition=NOW_TEXT),
        None,
    ),
    (
        "available 100 s ago, new revision, 600 s deadline: updated, counted from now",
        {"progress_deadline": 600},
        _status(3, 0, 0, 3, update="r2"),
        [_cond(*AVAILABLE)],
        _cond(*UPDATED, update=NOW_TEXT, transition=T0),
        601.0,
    ),
    (
        "unpaused: a new count starts",
        {"progress_deadline": 10},
        _status(3, 0, 0, 3, update="r2"),
        [_cond(*PAUSED, update=format_time(NOW - timedelta(seconds=5)))],
        _cond(*UPDATED, update=NOW_TEXT, transition=T0),
        11.0,
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "status", "before", "after", "requeue"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_progressing(
    kwargs: dict[str, Any],
    status: dict[str, Any],
    before: list[dict[str, Any]],
    after: dict[str, Any] | None,
    requeue: float | None,
) -> None:
    other: dict[str, object] = {"type": "FailedScale", "status": "False", "reason": "Resolved"}
    result = progressing(cloneset(**kwargs), status, [other, *before], NOW)
    assert result.conditions[0] == other  # other conditions are left alone
    found = [c for c in result.conditions if c["type"] == "Progressing"]
    assert found == ([] if after is None else [after])
    assert result.requeue_after == requeue


def test_plan_writes_progressing_and_comes_back_at_the_deadline() -> None:
    """A whole pass: 3 replicas, 1 ready for only 2 s of minReadySeconds 5 -> updated, requeue 11 s."""
    cs = cloneset(3, progress_deadline=10, min_ready_seconds=5)
    rev = rev_name(cs)
    pods = [pod("web-a", rev, ready_for=2), pod("web-b", rev), pod("web-c", rev)]
    p = run(cs, pods)
    status = status_of(p)
    assert status is not None
    assert status["conditions"] == [_cond(*UPDATED, update=NOW_TEXT, transition=NOW_TEXT)]
    # the pod turning available (3 s + 1 s) comes before the deadline (10 s + 1 s)
    assert p.requeue_after == 4


def test_plan_available_when_all_pods_are() -> None:
    cs = cloneset(3, progress_deadline=10)
    rev = rev_name(cs)
    status = status_of(run(cs, [pod(f"web-{n}", rev) for n in "abc"]))
    assert status is not None
    assert status["conditions"] == [_cond(*AVAILABLE, update=NOW_TEXT, transition=NOW_TEXT)]


def test_plan_removes_the_condition_with_a_merge_patch_null() -> None:
    """progressDeadlineSeconds removed: the stored condition goes (a merge patch needs null)."""
    rev_cs = cloneset(3)
    rev = rev_name(rev_cs)
    stored = {"conditions": [_cond(*AVAILABLE)], "updateRevision": rev, "currentRevision": rev}
    cs = cloneset(3, status=stored)
    status = status_of(run(cs, [pod(f"web-{n}", rev) for n in "abc"]))
    assert status is not None
    assert status["conditions"] is None
