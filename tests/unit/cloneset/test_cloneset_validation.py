"""The worker defends itself: a spec kruise's webhook would refuse is reported, never acted on.

With kruise's CRDs (no CEL) and no admission webhook such a spec reaches the worker. Each case is a
spec kruise's ``pkg/webhook/cloneset/validating`` refuses (message texts from its source); the plan
must hold no pod write and no revision write, only the condition, one Event and status.
"""

from __future__ import annotations

from typing import Any

import pytest

from schemas.kruise.cloneset import CloneSet
from tests.unit.cloneset.cloneset_builders import (
    cloneset,
    deleted,
    events,
    pod,
    pod_actions,
    rev_name,
    run,
    status_of,
)
from workers.cloneset.actions import CreateRevision, DeleteRevision, PatchCloneSet

#: name -> (CloneSet, condition type, text kruise's message contains)
INVALID: dict[str, tuple[CloneSet, str, str]] = {
    "replicas -1": (
        cloneset(-1),
        "FailedScale",
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    ),
    "maxUnavailable 0 and maxSurge 0": (
        cloneset(3, strategy={"maxUnavailable": 0, "maxSurge": 0}),
        "FailedUpdate",
        "maxUnavailable and maxSurge should not both be less than 1",
    ),
    "maxSurge not a percentage": (
        cloneset(3, strategy={"maxSurge": "5"}),
        "FailedUpdate",
        "failed GetScaledValueFromIntOrPercent for maxSurge: invalid type: string is not a percentage",
    ),
    "selector not matching the template": (
        cloneset(3, template_labels={"app": "other"}),
        "FailedScale",
        "`selector` does not match template `labels`",
    ),
    "duplicated podsToDelete": (
        cloneset(3, scale={"podsToDelete": ["web-a", "web-a"]}),
        "FailedScale",
        "duplicated items [web-a]",
    ),
    "a selector other than the one reported": (
        cloneset(3, status={"labelSelector": "app=old", "observedGeneration": 1}),
        "FailedScale",
        "updates to cloneset spec for fields other than 'replicas', 'template'",
    ),
}


def _pods(cs: CloneSet) -> list[dict[str, Any]]:
    rev = rev_name(cs)
    return [pod("web-a", rev), pod("web-b", rev), pod("web-c", rev)]


@pytest.mark.parametrize("name", INVALID)
def test_invalid_spec_gets_condition_event_and_no_write(name: str) -> None:
    cs, condition, text = INVALID[name]
    plan = run(cs, _pods(cs))
    assert pod_actions(plan) == []
    assert deleted(plan) == []
    assert not [a for a in plan.actions if isinstance(a, CreateRevision | DeleteRevision | PatchCloneSet)]
    [(reason, message)] = events(plan)
    assert reason == condition
    assert text in message
    status = status_of(plan)
    assert status is not None
    conditions: list[dict[str, Any]] = list(status["conditions"])  # type: ignore[call-overload]
    [found] = [c for c in conditions if c["type"] == condition]
    assert found["status"] == "True"
    assert text in found["message"]


def test_the_same_problem_twice_emits_one_event() -> None:
    cs, _, _ = INVALID["replicas -1"]
    first = status_of(run(cs, _pods(cs)))
    assert first is not None
    again = cloneset(-1, status=first)
    assert events(run(again, _pods(again))) == []


def test_a_percentage_above_100_is_valid_as_in_kruise() -> None:
    # kruise's validation_test.go accepts maxUnavailable 120%; its controller scales it past replicas.
    cs = cloneset(3, strategy={"maxUnavailable": "120%"})
    assert events(run(cs, _pods(cs))) == []


def test_the_reported_selector_unchanged_is_fine() -> None:
    cs = cloneset(3, status={"labelSelector": "app=web", "observedGeneration": 1})
    assert events(run(cs, _pods(cs))) == []
