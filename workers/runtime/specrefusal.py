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

Workers whose planner knows nothing of this (BroadcastJob, AdvancedCronJob, PodUnavailableBudget)
call :func:`refusal_plan` in their shell before planning: a kind whose status has conditions gets
the ``InvalidSpec`` condition (and, once fixed, one status write setting it False before the normal
pass); a kind without (AdvancedCronJob, PodUnavailableBudget: kruise's status has none, the API
server would prune it) gets the Warning Events once per generation: the refusing pass also records
the generation it refused in the ``flotilla.dev/spec-refused-generation`` annotation (a metadata
patch, which kruise's CRDs accept too), and later passes over the same generation write nothing.
A kind with conditions gets its Events once per message (the condition carries it).

It lives in ``workers.runtime`` because it is part of every worker's contract with bad input (like
dead-lettering a malformed trigger), not a pod mechanic: it knows no pods, only an object's status
and conditions as JSON; each worker wraps the result in its own actions. Pure; used by the
CloneSet, BroadcastJob, AdvancedCronJob and PodUnavailableBudget planners and shells.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flotilla.runtime.kube import Resource
from schemas.kruise import rules
from workers.podmechanics.conditions import ConditionChange, set_condition
from workers.runtime import actions as runtime
from workers.runtime.contract import Plan
from workers.runtime.events import ObjectRef

INVALID_SPEC = "InvalidSpec"
#: The generation whose invalid spec was last reported (kinds whose status has no conditions).
REFUSED_GENERATION_ANNOTATION = "flotilla.dev/spec-refused-generation"
RESOLVED = "Resolved"

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class SpecProblem:
    """Why the spec cannot be acted on, and which condition reports it."""

    condition: str
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


def condition_changes(
    problems: Sequence[SpecProblem],
    conditions: Iterable[Mapping[str, Any]],
    condition_types: Sequence[str],
) -> tuple[list[ConditionChange], list[WarningEvent]]:
    """For each of ``condition_types``: True with the joined messages of its problems (and an Event
    when that is news), or False when it was True for an invalid spec and no problem is left (a
    condition a worker set for another reason, e.g. a failed pod create, is the worker's to clear)."""
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
        elif old is not None and old.get("status") == "True" and old.get("reason") == INVALID_SPEC:
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


def refusal_plan(
    kind: str, resource: Resource, raw: Mapping[str, Any], now: float, *, has_conditions: bool
) -> Plan | None:
    """The whole pass for an invalid ``raw`` (Events, the ``InvalidSpec`` condition when the kind's
    status has conditions, nothing else), a status write resolving a stale ``InvalidSpec`` condition,
    or ``None``: the spec is valid, plan as usual."""
    problems = rule_problems(kind, raw, lambda _field: INVALID_SPEC)
    status: Mapping[str, Any] = raw.get("status") or {}
    metadata: Mapping[str, Any] = raw.get("metadata") or {}
    namespace, name = str(metadata.get("namespace", "")), str(metadata.get("name", ""))
    at = datetime.fromtimestamp(now, UTC)
    if not problems:
        stale = any(
            c.get("type") == INVALID_SPEC and c.get("status") == "True"
            for c in status.get("conditions") or ()
        )
        if not (has_conditions and stale):
            return None
        conditions: list[JsonDict] = [dict(c) for c in status.get("conditions") or ()]
        set_condition(conditions, ConditionChange(INVALID_SPEC, "False", RESOLVED, ""), at)
        body = {**raw, "status": {**status, "conditions": conditions}}
        return Plan((runtime.UpdateStatus(resource, namespace, name, body),), 0.0, "spec is valid again")
    ref = ObjectRef.of(dict(raw))
    generation = int(metadata.get("generation") or 0)
    if not has_conditions:
        reason = "invalid spec: " + problems[0].message
        annotations: Mapping[str, Any] = metadata.get("annotations") or {}
        if annotations.get(REFUSED_GENERATION_ANNOTATION) == str(generation):
            return Plan((), None, reason + " (reported for this generation)")
        events = tuple(runtime.EmitEvent(ref, INVALID_SPEC, p.message, "Warning") for p in problems)
        mark = {"metadata": {"annotations": {REFUSED_GENERATION_ANNOTATION: str(generation)}}}
        return Plan((*events, runtime.PatchObject(resource, namespace, name, mark)), None, reason)
    refusal = refuse(problems, status, generation, at, (INVALID_SPEC,))
    actions: list[runtime.Action] = [
        runtime.EmitEvent(ref, e.reason, e.message, "Warning") for e in refusal.events
    ]
    body = {**raw, "status": refusal.status}
    actions.append(runtime.UpdateStatus(resource, namespace, name, body))
    return Plan(tuple(actions), None, refusal.reason)
