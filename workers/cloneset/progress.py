"""The CloneSet ``Progressing`` condition and its deadline (kruise ``calculateProgressingStatus``).

With ``spec.progressDeadlineSeconds`` set (and not MaxInt32) a pass sets the Progressing
condition from the status it just computed, first match wins:

1. available (every replica at the update revision and available) -> True ``CloneSetAvailable``;
2. ``updateStrategy.paused`` -> True ``CloneSetPaused``;
3. partition reached (fewer pods expected updated than replicas, and that many updated and
   available) -> True ``ProgressPartitionAvailable``;
4. the condition already says ``ProgressDeadlineExceeded``, or it has kept its status and reason
   (its ``lastUpdateTime``) for longer than the deadline -> False ``ProgressDeadlineExceeded``;
5. otherwise True ``CloneSetUpdated``, and the pass comes back when the deadline would pass.

As kruise's ``SetCloneSetCondition``, an entry with the same status and reason is kept as it is
(times and message), so the deadline counts from the moment the condition took its current
reason; leaving "paused" starts a new count. Without a deadline the condition is removed.
Pure; called by ``planner`` after ``status.compute_status``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.kruise.cloneset import (
    CONDITION_PROGRESSING,
    NO_PROGRESS_DEADLINE,
    PROGRESS_AVAILABLE,
    PROGRESS_DEADLINE_EXCEEDED,
    PROGRESS_PARTITION_AVAILABLE,
    PROGRESS_PAUSED,
    PROGRESS_UPDATED,
    CloneSet,
)
from workers.podmechanics.kube_json import JsonDict, as_object, format_time, integer, parse_time, text


@dataclass(frozen=True)
class Progress:
    """The conditions with Progressing set (or removed), and when to look again for the deadline."""

    conditions: tuple[JsonDict, ...]
    requeue_after: float | None


def has_progress_deadline(cloneset: CloneSet) -> bool:
    """kruise ``HasProgressDeadline``: set, and not MaxInt32."""
    seconds = cloneset.spec.progress_deadline_seconds
    return seconds is not None and seconds != NO_PROGRESS_DEADLINE


def _is_available(cloneset: CloneSet, status: Mapping[str, object]) -> bool:
    replicas = cloneset.spec.replicas
    return (
        status.get("currentRevision") == status.get("updateRevision")
        and integer(status, "replicas") == replicas
        and integer(status, "updatedReplicas") == replicas
        and integer(status, "updatedAvailableReplicas") == replicas
    )


def _is_partition_available(cloneset: CloneSet, status: Mapping[str, object]) -> bool:
    expected = integer(status, "expectedUpdatedReplicas")
    return expected < cloneset.spec.replicas and expected <= integer(status, "updatedAvailableReplicas")


def _condition(status: str, reason: str, message: str, now: datetime) -> JsonDict:
    moment = format_time(now)
    return {
        "type": CONDITION_PROGRESSING,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": moment,
        "lastTransitionTime": moment,
    }


def _set(conditions: Sequence[JsonDict], new: JsonDict) -> tuple[JsonDict, ...]:
    """kruise ``SetCloneSetCondition``: same status and reason keeps the entry untouched."""
    current = next((c for c in conditions if c.get("type") == CONDITION_PROGRESSING), None)
    same_status = current is not None and current.get("status") == new["status"]
    if same_status and current is not None and current.get("reason") == new["reason"]:
        return tuple(conditions)
    if same_status and current is not None and "lastTransitionTime" in current:
        new = {**new, "lastTransitionTime": current["lastTransitionTime"]}
    return (*(c for c in conditions if c.get("type") != CONDITION_PROGRESSING), new)


def _deadline_passed(current: JsonDict | None, deadline: timedelta, now: datetime) -> bool:
    """kruise ``CloneSetDeadlineExceeded`` (on the condition as it stands before this pass)."""
    if current is None:
        return False
    if current.get("reason") == PROGRESS_DEADLINE_EXCEEDED:
        return True
    updated = parse_time(current.get("lastUpdateTime"))
    return updated is not None and updated + deadline < now


def progressing(
    cloneset: CloneSet, status: Mapping[str, object], conditions: Sequence[JsonDict], now: datetime
) -> Progress:
    """``conditions`` (the status' other conditions as this pass leaves them) with Progressing set."""
    if not has_progress_deadline(cloneset):
        kept = tuple(c for c in conditions if c.get("type") != CONDITION_PROGRESSING)
        return Progress(kept, None)
    seconds = cloneset.spec.progress_deadline_seconds or 0
    deadline = timedelta(seconds=seconds)
    current = next((dict(c) for c in conditions if c.get("type") == CONDITION_PROGRESSING), None)
    if _is_available(cloneset, status):
        new = _condition("True", PROGRESS_AVAILABLE, "CloneSet is available", now)
    elif cloneset.spec.update_strategy.paused:
        new = _condition("True", PROGRESS_PAUSED, "CloneSet is paused", now)
    elif _is_partition_available(cloneset, status):
        message = "CloneSet has been paused due to partition ready"
        new = _condition("True", PROGRESS_PARTITION_AVAILABLE, message, now)
    elif _deadline_passed(current, deadline, now):
        revision = text(status, "updateRevision")
        message = f"CloneSet revision {revision} has timed out progressing"
        new = _condition("False", PROGRESS_DEADLINE_EXCEEDED, message, now)
    else:
        new = _condition("True", PROGRESS_UPDATED, "CloneSet is progressing", now)
        result = _set(conditions, new)
        stored = next(c for c in result if c.get("type") == CONDITION_PROGRESSING)
        return Progress(result, _seconds_until_deadline(stored, deadline, now))
    return Progress(_set(conditions, new), None)


def _seconds_until_deadline(condition: JsonDict, deadline: timedelta, now: datetime) -> float | None:
    """kruise ``getRequeueSecondsFromCondition``: one second past the deadline (skew), never negative."""
    updated = parse_time(as_object(condition).get("lastUpdateTime"))
    if updated is None:
        return None
    after = (updated + deadline - now).total_seconds()
    return after + 1 if after >= 1 else max(after, 0.0)
