"""A spec kruise's StatefulSet webhook would refuse (``validateStatefulSetSpec``): the worker writes
no pod, PVC or revision, sets kruise's ASTS condition with kruise's message, emits one Warning
Event while the message is new, and clears the condition once the spec is fixed.

Expected messages are written from kruise's Go (statefulset_validation.go: field.Invalid /
field.NotSupported over the ``%#v`` of the value), not from the rules under test."""

from __future__ import annotations

from typing import Any

from tests.unit.statefulset.sts_builders import IMAGE_B, NOW, events, run, status_of, steps, sts
from tests.unit.statefulset.test_statefulset_planner import REVS, A, ready
from workers.podmechanics.kube_json import format_time

MAX_UNAVAILABLE = (
    "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: "
    'intstr.IntOrString{Type:0, IntVal:2, StrVal:""}: can only work with Parallel PodManagementPolicyType'
)
SELECTOR = (
    'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: '
    "`selector` does not match template `labels`"
)


def _ordered_ready_max_unavailable(**status: Any) -> dict[str, Any]:
    """OrderedReady with maxUnavailable 2 (kruise's validateMaxUnavailableField refuses it)."""
    rolling = {"rollingUpdate": {"maxUnavailable": 2}}
    return sts(3, image=IMAGE_B, updateStrategy=rolling, status={"currentRevision": A, **status})


def test_invalid_update_strategy_blocks_every_write_with_condition_and_event() -> None:
    result = run(_ordered_ready_max_unavailable(), ready(0, 1, 2), REVS)
    assert steps(result) == []
    assert events(result) == [("Warning", "FailedUpdate", MAX_UNAVAILABLE)]
    status = status_of(result)
    assert status["observedGeneration"] == 2
    assert status["conditions"] == [
        {
            "type": "FailedUpdatePod",
            "status": "True",
            "reason": "InvalidSpec",
            "message": MAX_UNAVAILABLE,
            "lastTransitionTime": format_time(NOW),
        }
    ]
    assert result.reason.startswith("invalid spec: ")


def test_the_same_refusal_again_writes_nothing() -> None:
    condition = {
        "type": "FailedUpdatePod",
        "status": "True",
        "reason": "InvalidSpec",
        "message": MAX_UNAVAILABLE,
        "lastTransitionTime": "2026-11-29T11:00:00Z",
    }
    body = _ordered_ready_max_unavailable(observedGeneration=2, conditions=[condition])
    result = run(body, ready(0, 1, 2), REVS)
    assert result.actions == ()


def test_a_selector_missing_the_template_creates_no_pod() -> None:
    result = run(sts(2, selector={"matchLabels": {"app": "other"}}))
    assert steps(result) == []
    assert events(result) == [("Warning", "FailedCreate", SELECTOR)]
    (condition,) = status_of(result)["conditions"]
    assert (condition["type"], condition["status"], condition["message"]) == (
        "FailedCreatePod",
        "True",
        SELECTOR,
    )


def test_a_fixed_spec_resolves_the_condition_and_goes_on() -> None:
    condition = {
        "type": "FailedCreatePod",
        "status": "True",
        "reason": "InvalidSpec",
        "message": SELECTOR,
        "lastTransitionTime": "2026-11-29T11:00:00Z",
    }
    result = run(sts(1, status={"conditions": [condition]}))
    assert "create pods web-0" in steps(result)
    assert events(result) == [
        ("Normal", "SuccessfulCreate", "create Pod web-0 in StatefulSet web successful")
    ]
    (resolved,) = status_of(result)["conditions"]
    assert (resolved["type"], resolved["status"], resolved["reason"]) == (
        "FailedCreatePod",
        "False",
        "Resolved",
    )
