"""CloneSet status: pod counts, revisions, selector and conditions (kruise ``cloneset_status.go``).

``compute_status`` counts the active pods (ready = running, ready and not mid in-place
update; available = also lifecycle Normal and ready for minReadySeconds), promotes
``currentRevision`` once every pod is updated at full replicas, and keeps conditions with
kruise's ``SetCloneSetCondition`` rules. ``status_changed`` decides whether a write is needed,
on kruise's ``inconsistentStatus`` fields.

A new pod the pass moves PreparingNormal -> Normal (``moved``) is judged available as Normal:
the status is written after that pod write. Counted as read (kruise's way), a new pod that is
already Ready when its move to Normal is written (kwok, any kubelet quicker than the next pass)
counts ready in that pass's status and available only in the next one, so the CloneSet's status
changed once more right after it read ``readyReplicas == replicas``, and a client that read it
then and Updated its copy (kruise's own e2e specs do, without retrying) met 409. Other lifecycle
moves are counted as read, as kruise does. Pure; called by ``planner``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from schemas.kruise.cloneset import CONDITION_PROGRESSING, CloneSet
from workers.cloneset.clonepods import is_cloneset_available
from workers.podmechanics.conditions import ConditionChange, set_condition
from workers.podmechanics.kube_json import JsonDict
from workers.podmechanics.pods import (
    PodView,
    is_at_revision,
    is_update_ready,
    seconds_until_available,
)

FAILED_SCALE = "FailedScale"
FAILED_UPDATE = "FailedUpdate"


def compute_status(
    cloneset: CloneSet,
    pods: Sequence[PodView],
    *,
    current_revision: str,
    update_revision: str,
    collision_count: int,
    label_selector: str,
    expected_updated: int,
    changes: Sequence[ConditionChange],
    now: datetime,
    moved: Mapping[str, str] | None = None,
) -> JsonDict:
    """The status to write (wire form); ``moved``: pod name -> the lifecycle state this pass writes
    on it (new pods moved PreparingNormal -> Normal)."""
    min_ready = cloneset.spec.min_ready_seconds
    counts = dict.fromkeys(
        ("replicas", "ready", "available", "updated", "updatedReady", "updatedAvailable"), 0
    )
    moved = moved or {}
    for pod in pods:
        ready = is_update_ready(pod, 0, now)
        state = moved.get(pod.name)
        as_left = replace(pod, lifecycle_state=state) if state else pod
        available = is_cloneset_available(as_left, min_ready, now)
        updated = is_at_revision(pod, update_revision)
        counts["replicas"] += 1
        counts["ready"] += ready
        counts["available"] += available
        counts["updated"] += updated
        counts["updatedReady"] += updated and ready
        counts["updatedAvailable"] += updated and available
    if counts["updated"] == counts["replicas"] == cloneset.spec.replicas:
        current_revision = update_revision
    conditions = [dict(c.to_wire()) for c in cloneset.status.conditions or ()]
    for change in changes:
        set_condition(conditions, change, now)
    status: JsonDict = {
        "observedGeneration": generation
        if isinstance(generation := cloneset.metadata.get("generation"), int)
        else 0,
        "replicas": counts["replicas"],
        "readyReplicas": counts["ready"],
        "availableReplicas": counts["available"],
        "updatedReplicas": counts["updated"],
        "updatedReadyReplicas": counts["updatedReady"],
        "updatedAvailableReplicas": counts["updatedAvailable"],
        "expectedUpdatedReplicas": expected_updated,
        "updateRevision": update_revision,
        "currentRevision": current_revision,
        "collisionCount": collision_count,
        "labelSelector": label_selector,
    }
    if conditions:
        status["conditions"] = conditions
    return status


#: The counts and texts kruise's ``inconsistentStatus`` compares (cloneset_status.go:78-92).
_COMPARED_COUNTS = (
    "replicas",
    "readyReplicas",
    "availableReplicas",
    "updatedReadyReplicas",
    "updatedReplicas",
    "updatedAvailableReplicas",
    "expectedUpdatedReplicas",
)
_COMPARED_TEXTS = ("updateRevision", "currentRevision", "labelSelector")
_FAILURES = (FAILED_SCALE, FAILED_UPDATE)


def _count(status: Mapping[str, object], key: str) -> int:
    value = status.get(key)
    return value if isinstance(value, int) else 0


def _conditions(status: Mapping[str, object], types: tuple[str, ...]) -> dict[str, tuple[object, object]]:
    """(status, reason) of the conditions of ``types``, by type."""
    listed = status.get("conditions")
    return {
        str(c.get("type")): (c.get("status"), c.get("reason"))
        for c in (listed if isinstance(listed, list) else ())
        if isinstance(c, Mapping) and c.get("type") in types
    }


def status_changed(old: Mapping[str, object], new: Mapping[str, object]) -> bool:
    """Whether to write ``new`` over the stored status: kruise's ``inconsistentStatus``
    (cloneset_status.go:78-92, ``hasProgressingConditionChanged``): observedGeneration grew, a
    count, a revision or the label selector changed, or Progressing changed its status or reason
    (appeared or went). Not on its own: collisionCount (a collision names a new update revision),
    a condition's message or times. One addition of Flotilla's: FailedScale / FailedUpdate turning
    on, off or to another reason is written too; kruise's webhook keeps the specs behind most of
    them out, while the worker refuses such a spec itself and tells it once (its Event is sent only
    when the stored condition does not carry the problem yet, so the condition must be stored)."""
    return (
        _count(new, "observedGeneration") > _count(old, "observedGeneration")
        or any(_count(old, key) != _count(new, key) for key in _COMPARED_COUNTS)
        or any((old.get(key) or "") != (new.get(key) or "") for key in _COMPARED_TEXTS)
        or _conditions(old, (CONDITION_PROGRESSING,)) != _conditions(new, (CONDITION_PROGRESSING,))
        or _conditions(old, _FAILURES) != _conditions(new, _FAILURES)
    )


def seconds_until_next_available(
    pods: Sequence[PodView], min_ready_seconds: int, now: datetime
) -> float | None:
    """When the next ready pod turns available (requeue so status and rollouts move on time)."""
    waits = [w for p in pods if (w := seconds_until_available(p, min_ready_seconds, now)) is not None]
    return min(waits) + 1 if waits else None


__all__ = ["FAILED_SCALE", "FAILED_UPDATE", "ConditionChange", "compute_status", "set_condition"]
