"""The shared refusal of an invalid spec: conditions, one Event per new message, nothing repeated.

Expected values are written by hand from the contract in ``workers.runtime.specrefusal`` (kruise's
``SetCloneSetCondition`` semantics: the transition time changes only when the status does).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from workers.broadcastjob.worker import BROADCASTJOBS
from workers.runtime import actions as runtime
from workers.runtime.specrefusal import (
    REFUSED_GENERATION_ANNOTATION,
    SpecProblem,
    WarningEvent,
    refusal_plan,
    refuse,
    rule_problems,
)

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


def _bcj(restart: str, conditions: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "BroadcastJob",
        "metadata": {"name": "job", "namespace": "ns", "generation": 2},
        "spec": {"template": {"spec": {"restartPolicy": restart, "containers": [{"name": "c"}]}}},
        "status": {"conditions": conditions or []},
    }


def test_refusal_plan_writes_only_the_condition_and_the_event() -> None:
    # kruise broadcastjob_create_update_handler.go:104: the template's restartPolicy must be
    # Never or OnFailure.
    message = (
        'spec.template.spec.restartPolicy: Invalid value: "Always": '
        "pod restartPolicy can only be Never or OnFailure"
    )
    plan = refusal_plan("BroadcastJob", BROADCASTJOBS, _bcj("Always"), T0.timestamp(), has_conditions=True)
    assert plan is not None
    assert [type(a) for a in plan.actions] == [runtime.EmitEvent, runtime.UpdateStatus]
    event, status = plan.actions
    assert isinstance(event, runtime.EmitEvent)
    assert (event.reason, event.message, event.type) == ("InvalidSpec", message, "Warning")
    assert isinstance(status, runtime.UpdateStatus)
    assert status.body["status"]["conditions"] == [
        {
            "type": "InvalidSpec",
            "status": "True",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
            "reason": "InvalidSpec",
            "message": message,
        }
    ]
    assert (
        refusal_plan("BroadcastJob", BROADCASTJOBS, _bcj("Never"), T0.timestamp(), has_conditions=True)
        is None
    )
    fixed = _bcj("Never", status.body["status"]["conditions"])
    resolved = refusal_plan("BroadcastJob", BROADCASTJOBS, fixed, T1.timestamp(), has_conditions=True)
    assert resolved is not None
    assert resolved.requeue_after == 0.0
    (write,) = resolved.actions
    assert isinstance(write, runtime.UpdateStatus)
    assert write.body["status"]["conditions"][0]["status"] == "False"


def test_refusal_plan_without_conditions_emits_events_once_per_generation() -> None:
    # AdvancedCronJob / PodUnavailableBudget: no conditions in kruise's status, so the refused
    # generation is recorded in an annotation and the same generation is not reported twice.
    message = (
        'spec.template.spec.restartPolicy: Invalid value: "Always": '
        "pod restartPolicy can only be Never or OnFailure"
    )
    plan = refusal_plan("BroadcastJob", BROADCASTJOBS, _bcj("Always"), T0.timestamp(), has_conditions=False)
    assert plan is not None
    event, mark = plan.actions
    assert isinstance(event, runtime.EmitEvent)
    assert (event.reason, event.message, event.type) == ("InvalidSpec", message, "Warning")
    assert mark == runtime.PatchObject(
        BROADCASTJOBS, "ns", "job", {"metadata": {"annotations": {REFUSED_GENERATION_ANNOTATION: "2"}}}
    )
    assert plan.requeue_after is None

    seen = _bcj("Always")
    seen["metadata"]["annotations"] = {REFUSED_GENERATION_ANNOTATION: "2"}
    again = refusal_plan("BroadcastJob", BROADCASTJOBS, seen, T1.timestamp(), has_conditions=False)
    assert again is not None, "still refused: the worker must not plan the invalid spec"
    assert again.actions == ()
    assert again.requeue_after is None

    edited = _bcj("Always")
    edited["metadata"].update(generation=3, annotations={REFUSED_GENERATION_ANNOTATION: "2"})
    renewed = refusal_plan("BroadcastJob", BROADCASTJOBS, edited, T1.timestamp(), has_conditions=False)
    assert renewed is not None
    assert [type(a) for a in renewed.actions] == [runtime.EmitEvent, runtime.PatchObject]
    assert renewed.actions[1] == runtime.PatchObject(
        BROADCASTJOBS, "ns", "job", {"metadata": {"annotations": {REFUSED_GENERATION_ANNOTATION: "3"}}}
    )
    assert (
        refusal_plan("BroadcastJob", BROADCASTJOBS, _bcj("Never"), T1.timestamp(), has_conditions=False)
        is None
    )
