"""Status conditions of a kruise workload: one condition set the way kruise's ``Set*Condition``
helpers do. Shared by the CloneSet and Advanced StatefulSet planners and by
:mod:`workers.runtime.specrefusal` (every worker's refusal of an invalid spec). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workers.podmechanics.kube_json import JsonDict, format_time


@dataclass(frozen=True)
class ConditionChange:
    """A condition to set: ``status`` True with a message when failing, False once it is fixed."""

    type: str
    status: str
    reason: str
    message: str


def set_condition(conditions: list[JsonDict], change: ConditionChange, now: datetime) -> None:
    """kruise's ``SetCloneSetCondition`` / ``SetStatefulSetCondition``: keep the entry (and its
    transition time) when nothing changed; a new status gets a new lastTransitionTime."""
    current = next((c for c in conditions if c.get("type") == change.type), None)
    if current is not None and all(
        current.get(key) == value
        for key, value in (("status", change.status), ("reason", change.reason), ("message", change.message))
    ):
        return
    transition = format_time(now)
    if current is not None and current.get("status") == change.status:
        transition = str(current.get("lastTransitionTime", transition))
    entry: JsonDict = {"type": change.type, "status": change.status, "lastTransitionTime": transition}
    if change.reason:
        entry["reason"] = change.reason
    if change.message:
        entry["message"] = change.message
    conditions[:] = [c for c in conditions if c.get("type") != change.type] + [entry]
