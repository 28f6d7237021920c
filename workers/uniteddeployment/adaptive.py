"""``scheduleStrategy: Adaptive`` without reserved pods: which subsets are unschedulable now.

kruise's ``calculateSubsetsStatusForDefaultAdaptiveStrategy``, per existing subset workload:

- a subset whose ``Schedulable`` condition (in ``status.subsetStatuses[]``) is False stays
  unschedulable until ``unschedulableDuration`` (default 300 s) after that condition's
  lastTransitionTime; then the condition turns True (reason ``recover``);
- a subset with fewer ready than current replicas is unschedulable, and its condition False
  (reason ``reschedule``, "timeout pending pods found"), when one of its pods is still Pending,
  unbound, marked ``PodScheduled=False`` / ``Unschedulable`` by the scheduler, and older than
  ``rescheduleCriticalSeconds`` (default 30 s).

The allocator (``allocation.adaptive``) then keeps an unschedulable subset at its ready pods and
gives the rest to the next subsets. The planner requeues at the earliest moment one of these
answers can change (a pod's critical time, a subset's recovery). ``reserveUnschedulablePods`` is
kruise's other flavour (``reservation.py``). Pure: ``now`` is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from workers.podmechanics.kube_json import (
    JsonDict,
    JsonObject,
    format_time,
    mapping,
    objects,
    parse_time,
)

SCHEDULABLE = "Schedulable"
DEFAULT_RESCHEDULE_CRITICAL = 30
DEFAULT_UNSCHEDULABLE_DURATION = 300


@dataclass(frozen=True)
class SubsetState:
    """What the assessment reads of one existing subset workload."""

    replicas: int
    ready: int
    pods: Sequence[JsonObject]


@dataclass(frozen=True)
class Assessment:
    unschedulable: dict[str, bool]
    conditions: dict[str, list[JsonDict]]
    """The ``Schedulable`` condition list of each assessed subset's status entry, as it should be."""
    requeue_after: float | None


def _seconds(ud: JsonObject, key: str, default: int) -> int:
    value = mapping(ud, "spec", "topology", "scheduleStrategy", "adaptive").get(key)
    return value if isinstance(value, int) else default


def reschedule_critical_seconds(ud: JsonObject) -> int:
    """``GetRescheduleCriticalDuration`` in seconds."""
    return _seconds(ud, "rescheduleCriticalSeconds", DEFAULT_RESCHEDULE_CRITICAL)


def is_adaptive(ud: JsonObject) -> bool:
    return mapping(ud, "spec", "topology", "scheduleStrategy").get("type") == "Adaptive"


def pending_timeout(pod: JsonObject, critical: timedelta, now: datetime) -> tuple[bool, float | None]:
    """``GetTimeBeforePendingTimeout``: (timed out, seconds until it would)."""
    meta = mapping(pod, "metadata")
    if meta.get("deletionTimestamp") or mapping(pod, "status").get("phase") != "Pending":
        return False, None
    if mapping(pod, "spec").get("nodeName"):
        return False, None
    for condition in objects(pod, "status", "conditions"):
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            created = parse_time(meta.get("creationTimestamp"))
            if created is None:
                return False, None
            expect = created + critical
            if expect < now:
                return True, None
            return False, (expect - now).total_seconds()
    return False, None


def set_schedulable(
    conditions: list[JsonDict], status: str, reason: str, message: str, now: datetime
) -> None:
    """``UnitedDeploymentSubsetStatus.SetCondition``: same status and reason leave it as it is."""
    for condition in conditions:
        if condition.get("type") != SCHEDULABLE:
            continue
        if condition.get("status") == status and condition.get("reason", "") == reason:
            return
        condition.update(status=status, reason=reason, message=message, lastTransitionTime=format_time(now))
        return
    conditions.append(
        {
            "type": SCHEDULABLE,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": format_time(now),
        }
    )


def assess(
    ud: JsonObject,
    subset_conditions: Mapping[str, Sequence[JsonObject]],
    existing: Mapping[str, SubsetState],
    now: datetime,
) -> Assessment:
    """Unschedulable subsets and their new conditions. ``subset_conditions``: the conditions of
    each ``status.subsetStatuses`` entry (a subset without an entry is not assessed, as kruise)."""
    critical = timedelta(seconds=_seconds(ud, "rescheduleCriticalSeconds", DEFAULT_RESCHEDULE_CRITICAL))
    lasting = _seconds(ud, "unschedulableDuration", DEFAULT_UNSCHEDULABLE_DURATION)
    unschedulable: dict[str, bool] = {}
    conditions_out: dict[str, list[JsonDict]] = {}
    waits: list[float] = []
    for name, state in sorted(existing.items()):
        if name not in subset_conditions:
            continue
        conditions = [dict(c) for c in subset_conditions[name]]
        unschedulable[name] = False
        current = next((c for c in conditions if c.get("type") == SCHEDULABLE), None)
        if current is not None and current.get("status") == "False":
            since = parse_time(current.get("lastTransitionTime")) or now
            recover = since + timedelta(seconds=lasting)
            if now < recover:
                unschedulable[name] = True
                waits.append((recover - now).total_seconds())
            else:
                set_schedulable(
                    conditions,
                    "True",
                    "recover",
                    f"unschedulable subset recovered after {float(lasting):f} seconds",
                    now,
                )
        if state.ready < state.replicas:
            pending = 0
            for pod in state.pods:
                timed_out, after = pending_timeout(pod, critical, now)
                pending += timed_out
                if after is not None and after > 0:
                    waits.append(after)
            if pending:
                unschedulable[name] = True
                set_schedulable(conditions, "False", "reschedule", "timeout pending pods found", now)
                waits.append(float(lasting))
        conditions_out[name] = conditions
    return Assessment(unschedulable, conditions_out, min(waits) if waits else None)
