"""The shared refusal of an invalid spec: conditions, one Event per new message, nothing repeated.

Expected values are written by hand from the contract in ``workers.runtime.specrefusal`` (kruise's
``SetCloneSetCondition`` semantics: the transition time changes only when the status does).
"""

from __future__ import annotations

from datetime import UTC, datetime

from workers.runtime.specrefusal import SpecProblem, WarningEvent, refuse, rule_problems

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)
TYPES = ("FailedScale", "FailedUpdate")


def test_refusal_sets_the_condition_once_and_emits_one_event_per_new_message() -> None:
    problems = [SpecProblem("FailedScale", "a"), SpecProblem("FailedScale", "b")]
    first = refuse(problems, {"replicas": 2}, 7, T0, TYPES)
    assert first.status == {
        "replicas": 2,
        "observedGeneration": 7,
        "conditions": [
            {
                "type": "FailedScale",
                "status": "True",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "reason": "InvalidSpec",
                "message": "a; b",
            }
        ],
    }
    assert first.events == (WarningEvent("FailedScale", "a; b"),)
    assert first.reason == "invalid spec: a"
    again = refuse(problems, first.status, 7, T1, TYPES)
    assert again.events == ()
    assert again.status == first.status


def test_a_fixed_spec_resolves_the_condition() -> None:
    failing = refuse([SpecProblem("FailedUpdate", "x")], {}, 1, T0, TYPES).status
    resolved = refuse([SpecProblem("FailedScale", "y")], failing, 2, T1, TYPES).status
    by_type = {c["type"]: c for c in resolved["conditions"]}
    assert by_type["FailedUpdate"]["status"] == "False"
    assert by_type["FailedUpdate"]["reason"] == "Resolved"
    assert by_type["FailedScale"]["message"] == "y"


def test_rule_problems_default_before_validating() -> None:
    # kruise's mutating webhook fills podManagementPolicy, so its absence is no problem;
    # replicas -1 is (kruise statefulset_validation.go ValidateNonnegativeField on spec.replicas).
    asts = {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "StatefulSet",
        "metadata": {"name": "s"},
        "spec": {
            "replicas": -1,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}},
        },
    }
    assert rule_problems("StatefulSet", asts, lambda field: "FailedScale") == (
        SpecProblem("FailedScale", "spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
    )
