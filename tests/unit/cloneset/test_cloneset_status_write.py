"""When the CloneSet planner writes status: kruise v1.9.1's ``inconsistentStatus``
(pkg/controller/cloneset/cloneset_status.go:78-92), read by hand, row by row.

kruise writes the status only when observedGeneration grew, a count, a revision or the label
selector changed, or the Progressing condition changed its status or reason; not for
collisionCount, a condition's message or times, or another condition on its own. Flotilla adds
one thing (documented in ``status_changed``): FailedScale / FailedUpdate turning on, off or to
another reason, which carries the worker's own spec refusals.
"""

from __future__ import annotations

from typing import Any

import pytest

from workers.cloneset.status import status_changed

pytestmark = pytest.mark.unit

STORED: dict[str, Any] = {
    "observedGeneration": 3,
    "replicas": 3,
    "readyReplicas": 3,
    "availableReplicas": 3,
    "updatedReplicas": 3,
    "updatedReadyReplicas": 3,
    "updatedAvailableReplicas": 3,
    "expectedUpdatedReplicas": 3,
    "updateRevision": "web-7b9f",
    "currentRevision": "web-7b9f",
    "collisionCount": 0,
    "labelSelector": "app=web",
    "conditions": [
        {
            "type": "Progressing",
            "status": "True",
            "reason": "CloneSetAvailable",
            "message": "CloneSet is available",
            "lastUpdateTime": "2026-11-30T12:00:00Z",
            "lastTransitionTime": "2026-11-30T12:00:00Z",
        }
    ],
}


def _progressing(
    status: str, reason: str, message: str = "m", at: str = "2026-11-30T12:00:00Z"
) -> dict[str, Any]:
    return {
        "type": "Progressing",
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": at,
        "lastTransitionTime": at,
    }


def _failed(kind: str, reason: str, message: str = "boom", status: str = "True") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


@pytest.mark.parametrize(
    ("case", "change", "written"),
    [
        ("nothing changed", {}, False),
        # newStatus.ObservedGeneration > oldStatus.ObservedGeneration: only growth counts
        ("observedGeneration grew", {"observedGeneration": 4}, True),
        ("observedGeneration smaller", {"observedGeneration": 2}, False),
        # each count kruise compares
        ("replicas", {"replicas": 4}, True),
        ("readyReplicas", {"readyReplicas": 2}, True),
        ("availableReplicas", {"availableReplicas": 2}, True),
        ("updatedReplicas", {"updatedReplicas": 2}, True),
        ("updatedReadyReplicas", {"updatedReadyReplicas": 2}, True),
        ("updatedAvailableReplicas", {"updatedAvailableReplicas": 2}, True),
        ("expectedUpdatedReplicas", {"expectedUpdatedReplicas": 1}, True),
        ("updateRevision", {"updateRevision": "web-55c4"}, True),
        ("currentRevision", {"currentRevision": "web-55c4"}, True),
        ("labelSelector", {"labelSelector": "app=web,tier=front"}, True),
        # not compared by kruise
        ("collisionCount alone", {"collisionCount": 1}, False),
        # hasProgressingConditionChanged: status or reason, or the condition appearing / going
        (
            "Progressing message and times only",
            {"conditions": [_progressing("True", "CloneSetAvailable", "other", "2026-11-30T13:00:00Z")]},
            False,
        ),
        ("Progressing reason", {"conditions": [_progressing("True", "CloneSetProgressUpdated")]}, True),
        ("Progressing status", {"conditions": [_progressing("False", "CloneSetAvailable")]}, True),
        ("Progressing removed", {"conditions": None}, True),
        # another condition type on its own: not kruise's, Flotilla's failure conditions excepted
        (
            "an unknown condition appears",
            {"conditions": [*STORED["conditions"], _failed("Custom", "X")]},
            False,
        ),
        (
            "FailedScale appears (Flotilla: the worker's refusal is stored)",
            {"conditions": [*STORED["conditions"], _failed("FailedScale", "ScaleFailed")]},
            True,
        ),
    ],
)
def test_written_as_kruise_writes_it(case: str, change: dict[str, Any], written: bool) -> None:
    assert status_changed(STORED, {**STORED, **change}) is written, case


def test_failure_conditions_are_compared_by_status_and_reason_not_message() -> None:
    stored = {**STORED, "conditions": [*STORED["conditions"], _failed("FailedUpdate", "UpdateFailed", "a")]}
    other_message = {
        **stored,
        "conditions": [*STORED["conditions"], _failed("FailedUpdate", "UpdateFailed", "b")],
    }
    assert not status_changed(stored, other_message)
    cleared = {**stored, "conditions": [*STORED["conditions"], _failed("FailedUpdate", "", status="False")]}
    assert status_changed(stored, cleared)
    assert status_changed(stored, STORED), "FailedUpdate removed"


def test_absent_fields_read_as_kruises_zero_values() -> None:
    """kruise compares Go values: a missing count is 0 and a missing text is "" (a status first
    written by another controller, or by an older Flotilla)."""
    sparse = {"observedGeneration": 1, "updateRevision": "web-7b9f", "currentRevision": "web-7b9f"}
    computed = {
        **sparse,
        "replicas": 0,
        "readyReplicas": 0,
        "availableReplicas": 0,
        "updatedReplicas": 0,
        "updatedReadyReplicas": 0,
        "updatedAvailableReplicas": 0,
        "expectedUpdatedReplicas": 0,
        "collisionCount": 0,
        "labelSelector": "",
    }
    assert not status_changed(sparse, computed)
    assert status_changed(sparse, {**computed, "labelSelector": "app=web"})
