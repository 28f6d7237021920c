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

from workers.podmechanics.conditions import set_condition
from workers.podmechanics.kube_json import JsonDict, JsonObject, objects
from workers.runtime.specrefusal import SpecProblem, condition_changes, rule_problems

FAILED_CREATE_POD = "FailedCreatePod"
FAILED_UPDATE_POD = "FailedUpdatePod"
_EVENT_REASON = {FAILED_CREATE_POD: "FailedCreate", FAILED_UPDATE_POD: "FailedUpdate"}


def _condition_for(field: str) -> str:
    return FAILED_UPDATE_POD if field.startswith("spec.updateStrategy") else FAILED_CREATE_POD


def spec_problems(raw: JsonObject) -> tuple[SpecProblem, ...]:
    """kruise's validation errors of the stored set (validated after kruise's defaults)."""
    return rule_problems("StatefulSet", raw, _condition_for)


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
    conditions = [dict(c) for c in old]
    changes, events = condition_changes(problems, old, (FAILED_CREATE_POD, FAILED_UPDATE_POD))
    for change in changes:
        set_condition(conditions, change, now)
    return Refusal(conditions, conditions != old, tuple((_EVENT_REASON[e.reason], e.message) for e in events))
