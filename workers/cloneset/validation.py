"""Specs that got past the API server's validation but cannot be carried out.

Each problem names the condition it raises (FailedScale blocks the whole reconcile: the
planner cannot tell which pods are the CloneSet's or how many it wants; FailedUpdate blocks
only pod updates, scaling goes on) and a message saying what to change. Nothing is written
to pods for a blocked step, so a bad spec does no partial damage. Pure; called by ``planner``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from schemas.kruise.cloneset import CloneSet
from workers.cloneset.limits import resolve_limits
from workers.cloneset.status import FAILED_SCALE, FAILED_UPDATE
from workers.podmechanics.inplace import non_in_place_changes
from workers.podmechanics.kube_json import JsonObject, labels_of
from workers.podmechanics.ownership import selector_error, selector_matches


@dataclass(frozen=True)
class SpecProblem:
    condition: str
    """FAILED_SCALE (nothing can be done) or FAILED_UPDATE (pods are not updated)."""
    message: str


def scale_problems(cloneset: CloneSet) -> tuple[SpecProblem, ...]:
    """Problems that stop every write to pods."""
    problems: list[SpecProblem] = []
    selector = cloneset.spec.selector
    if (error := selector_error(selector)) is not None:
        problems.append(
            SpecProblem(FAILED_SCALE, f"invalid spec.selector: {error}; set spec.selector.matchLabels")
        )
    elif not selector_matches(selector, labels_of(cloneset.spec.template)):
        problems.append(
            SpecProblem(
                FAILED_SCALE,
                "spec.selector does not match spec.template.metadata.labels: pods created from the template "
                "would not be selected; make the template labels match the selector",
            )
        )
    try:
        resolve_limits(cloneset)
    except ValueError as error:
        problems.append(SpecProblem(FAILED_SCALE, f"invalid partition, maxSurge or maxUnavailable: {error}"))
    return tuple(problems)


def update_problems(
    cloneset: CloneSet, update_template: JsonObject, pod_templates: Iterable[JsonObject]
) -> tuple[SpecProblem, ...]:
    """Problems that stop pod updates; ``pod_templates`` are the templates pods run now."""
    strategy = cloneset.spec.update_strategy
    problems: list[SpecProblem] = []
    priority = strategy.priority_strategy
    if priority is not None and priority.weight_priority and priority.order_priority:
        problems.append(
            SpecProblem(
                FAILED_UPDATE,
                "updateStrategy.priorityStrategy sets both weightPriority and orderPriority; keep only one",
            )
        )
    if strategy.type != "InPlaceOnly":
        return tuple(problems)
    if strategy.max_surge not in (0, "0", "0%"):
        problems.append(
            SpecProblem(
                FAILED_UPDATE,
                "maxSurge is not allowed with updateStrategy.type InPlaceOnly; set maxSurge to 0 "
                "or use InPlaceIfPossible",
            )
        )
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
