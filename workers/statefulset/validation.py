"""Specs the Advanced StatefulSet worker refuses to act on: kruise's validation (``schemas.kruise.rules``).

Users who keep kruise's own CRDs and run without the admission webhook can store a spec kruise's
webhook would have refused (``validateStatefulSetSpec``). The worker runs the same shared rules
on the defaulted set before it plans: any error blocks the reconcile (no pod, PVC or revision
is written) and is reported as kruise's ASTS condition types, reason ``InvalidSpec`` with
kruise's message — ``FailedUpdatePod`` for ``spec.updateStrategy`` errors, ``FailedCreatePod``
for the rest — plus one Warning Event (``FailedUpdate`` / ``FailedCreate``) when the message is
new. Once the spec is fixed the condition turns False (``Resolved``). Pure; called by ``planner``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from schemas.kruise import rules
from workers.podmechanics.conditions import ConditionChange, set_condition
from workers.podmechanics.kube_json import JsonDict, JsonObject, objects

FAILED_CREATE_POD = "FailedCreatePod"
FAILED_UPDATE_POD = "FailedUpdatePod"
INVALID_SPEC = "InvalidSpec"
_EVENT_REASON = {FAILED_CREATE_POD: "FailedCreate", FAILED_UPDATE_POD: "FailedUpdate"}


@dataclass(frozen=True)
class SpecProblem:
    condition: str
    """FAILED_CREATE_POD or FAILED_UPDATE_POD."""
    message: str


def spec_problems(raw: JsonObject) -> tuple[SpecProblem, ...]:
    """kruise's validation errors of the stored set (validated after kruise's defaults)."""
    defaulted = rules.default("StatefulSet", raw)
    errors = rules.validate("StatefulSet", defaulted)
    return tuple(
        SpecProblem(
            FAILED_UPDATE_POD if e.field.startswith("spec.updateStrategy") else FAILED_CREATE_POD, str(e)
        )
        for e in errors
    )


@dataclass(frozen=True)
class Refusal:
    conditions: list[JsonDict]
    """The status conditions to write (None-free; unchanged when ``changed`` is False)."""
    changed: bool
    events: tuple[tuple[str, str], ...]
    """(reason, message) of the Warning Events to emit."""


def refusal(status: JsonObject, problems: Sequence[SpecProblem], now: datetime) -> Refusal:
    """Conditions for `problems` (none: resolve earlier InvalidSpec ones) and Events for new ones."""
    old = [dict(c) for c in objects(status, "conditions")]
    existing = {str(c.get("type")): c for c in old}
    conditions = [dict(c) for c in old]
    events: list[tuple[str, str]] = []
    for condition_type in (FAILED_CREATE_POD, FAILED_UPDATE_POD):
        found = [p.message for p in problems if p.condition == condition_type]
        current = existing.get(condition_type) or {}
        if found:
            message = "; ".join(found)
            set_condition(conditions, ConditionChange(condition_type, "True", INVALID_SPEC, message), now)
            if current.get("status") != "True" or current.get("message") != message:
                events.append((_EVENT_REASON[condition_type], message))
        elif current.get("status") == "True" and current.get("reason") == INVALID_SPEC:
            set_condition(conditions, ConditionChange(condition_type, "False", "Resolved", ""), now)
    return Refusal(conditions, conditions != old, tuple(events))
