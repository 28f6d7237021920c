"""Specs the worker refuses to act on: kruise's validation (``schemas.kruise.rules``) and what only it sees.

Users who keep kruise's own CRDs (no CEL) and run without the admission webhook can store a spec
kruise's webhook would have refused; the worker then runs the same shared rules before it plans
(:func:`scale_problems`): any error blocks the whole reconcile (nothing is written to pods) and is
reported with kruise's message, on FailedUpdate for ``spec.updateStrategy`` errors and FailedScale
for the rest. A selector change (kruise forbids it; it would orphan every pod) is caught by
comparing the selector with the ``status.labelSelector`` last written. :func:`update_problems`
blocks only pod updates (InPlaceOnly templates the pods cannot reach in place); scaling goes on.
Pure; called by ``planner``.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas.kruise import rules
from schemas.kruise.cloneset import CloneSet
from schemas.kruise.rules.cloneset import SPEC_UPDATE_FORBIDDEN
from workers.cloneset.limits import resolve_limits
from workers.cloneset.status import FAILED_SCALE, FAILED_UPDATE
from workers.podmechanics.inplace import non_in_place_changes
from workers.podmechanics.kube_json import JsonObject
from workers.podmechanics.ownership import selector_string
from workers.runtime.specrefusal import SpecProblem


def _condition_for(field: str) -> str:
    return FAILED_UPDATE if field.startswith("spec.updateStrategy") else FAILED_SCALE


def scale_problems(cloneset: CloneSet) -> tuple[SpecProblem, ...]:
    """Problems that stop every write to pods: kruise's validation errors, and a changed selector."""
    problems = [
        SpecProblem(_condition_for(e.field), str(e)) for e in rules.validate("CloneSet", cloneset.to_wire())
    ]
    reported = cloneset.status.label_selector
    if reported and not problems and selector_string(cloneset.spec.selector) != reported:
        problems.append(
            SpecProblem(
                FAILED_SCALE,
                f"spec: Forbidden: {SPEC_UPDATE_FORBIDDEN} (spec.selector changed from {reported!r}; "
                "restore it, or create a new CloneSet)",
            )
        )
    if not problems:
        try:  # what kruise's webhook accepts but its controller cannot scale (a decimal percent)
            resolve_limits(cloneset)
        except ValueError as error:
            problems.append(
                SpecProblem(FAILED_SCALE, f"invalid partition, maxSurge or maxUnavailable: {error}")
            )
    return tuple(problems)


def update_problems(
    cloneset: CloneSet, update_template: JsonObject, pod_templates: Iterable[JsonObject]
) -> tuple[SpecProblem, ...]:
    """Problems that stop pod updates; ``pod_templates`` are the templates pods run now."""
    strategy = cloneset.spec.update_strategy
    problems: list[SpecProblem] = []
    if strategy.type != "InPlaceOnly":
        return tuple(problems)
    blocked: list[str] = []
    for template in pod_templates:
        blocked.extend(c for c in non_in_place_changes(template, update_template) if c not in blocked)
    if blocked:
        shown = ", ".join(blocked[:5]) + (", ..." if len(blocked) > 5 else "")
        problems.append(
            SpecProblem(
                FAILED_UPDATE,
                f"only allowed to update images in spec for InPlaceOnly, but found {shown}; revert those "
                "template changes, or set updateStrategy.type to InPlaceIfPossible or ReCreate",
            )
        )
    return tuple(problems)
