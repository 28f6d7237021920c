"""A worker refuses a spec it must not act on: conditions, a Warning Event, and no other write.

Users migrating from kruise keep kruise's CRDs and may run without the admission webhook, so a
stored spec can be one kruise's webhook would have refused (``replicas: -1``, ``maxUnavailable:
150%``, a changed selector). Every worker runs the shared rule set (:mod:`schemas.kruise.rules`)
before it plans (:func:`rule_problems`: kruise's defaults first, as the webhook would have applied
them, then kruise's validation) and, when anything is wrong, plans only what :func:`refuse` returns:
each failing condition type set True with reason ``InvalidSpec`` and the joined messages, one
Warning Event (reason = the condition type) when a message is new, ``observedGeneration`` so
``kubectl`` shows the spec was seen, and nothing else. Once the spec is fixed the next pass sets
the conditions False (``Resolved``) through :func:`condition_changes`.

It lives in ``workers.runtime`` because it is part of every worker's contract with bad input (like
dead-lettering a malformed trigger), not a pod mechanic: it knows no pods, only an object's status
and conditions as JSON; each worker wraps the result in its own actions. Pure; used by the
CloneSet, BroadcastJob, AdvancedCronJob and PodUnavailableBudget planners and shells.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.kruise import rules
from workers.podmechanics.kube_json import format_time

INVALID_SPEC = "InvalidSpec"
RESOLVED = "Resolved"

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class SpecProblem:
    """Why the spec cannot be acted on, and which condition reports it."""

    condition: str
    message: str


@dataclass(frozen=True)
class ConditionChange:
    """A condition to set: ``status`` True with a message when failing, False once it is fixed."""

    type: str
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class WarningEvent:
    reason: str
    message: str


@dataclass(frozen=True)
class Refusal:
    """What a refusing pass writes: the status (conditions + observedGeneration) and the Events."""

    status: JsonDict
    events: tuple[WarningEvent, ...]
    reason: str
    """For the reconcile log: ``invalid spec: <first message>``."""


def rule_problems(
    kind: str, obj: Mapping[str, Any], condition_for: Callable[[str], str]
) -> tuple[SpecProblem, ...]:
    """kruise's validation of ``obj`` after kruise's defaults (what the webhook would have stored);
    ``condition_for`` maps an error's field path to the condition type reporting it."""
    defaulted = rules.default(kind, obj)
    return tuple(SpecProblem(condition_for(e.field), str(e)) for e in rules.validate(kind, defaulted))


def set_condition(conditions: list[JsonDict], change: ConditionChange, now: datetime) -> None:
    """kruise's ``Set*Condition``: keep the entry when status, reason and message are unchanged; keep
    ``lastTransitionTime`` while the status stays the same."""
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


def condition_changes(
    problems: Sequence[SpecProblem],
    conditions: Iterable[Mapping[str, Any]],
    condition_types: Sequence[str],
) -> tuple[list[ConditionChange], list[WarningEvent]]:
    """For each of ``condition_types``: True with the joined messages of its problems (and an Event
    when that is news), or False when it was True and no problem is left."""
    changes: list[ConditionChange] = []
    events: list[WarningEvent] = []
    existing = {str(c.get("type")): c for c in conditions}
    for condition_type in condition_types:
        found = [p.message for p in problems if p.condition == condition_type]
        old = existing.get(condition_type)
        if found:
            message = "; ".join(found)
            changes.append(ConditionChange(condition_type, "True", INVALID_SPEC, message))
            if old is None or old.get("status") != "True" or old.get("message") != message:
                events.append(WarningEvent(condition_type, message))
        elif old is not None and old.get("status") == "True":
            changes.append(ConditionChange(condition_type, "False", RESOLVED, ""))
    return changes, events


def refuse(
    problems: Sequence[SpecProblem],
    status: Mapping[str, Any],
    generation: int,
    now: datetime,
    condition_types: Sequence[str],
) -> Refusal:
    """The refusing pass for a non-empty ``problems``: ``status`` with the conditions set and
    ``observedGeneration``, and the Events to emit. The caller writes nothing else."""
    conditions: list[JsonDict] = [dict(c) for c in status.get("conditions") or ()]
    changes, events = condition_changes(problems, conditions, condition_types)
    for change in changes:
        set_condition(conditions, change, now)
    new_status = {**status, "observedGeneration": generation, "conditions": conditions}
    return Refusal(new_status, tuple(events), "invalid spec: " + problems[0].message)
