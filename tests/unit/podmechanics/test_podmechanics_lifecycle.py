"""Lifecycle transitions and readiness-gate patches for any workload's pods.

Expected values worked by hand from kruise's ``pkg/util/lifecycle`` (``UpdatePodLifecycle``,
``SetPodLifecycle``), ``pkg/util/podreadiness`` (``KruisePodReady`` messages: JSON list of
``{userAgent, key}`` sorted) and ``util.SetPodReadyCondition`` (Ready turns False with reason
``ReadinessGatesNotReady`` when a gate is not True).
"""

from __future__ import annotations

from typing import Any

import orjson

from schemas.kruise.pub import LifecycleHook
from workers.podmechanics.lifecycle import conditions_patch, lifecycle_patch, transition
from workers.podmechanics.pods import read_pod
from workers.podmechanics.podwrites import PatchPod

T = "2026-01-01T12:00:00Z"


def _pod(state: str, *, gates: tuple[str, ...] = (), conditions: tuple[dict[str, Any], ...] = ()) -> Any:
    return read_pod(
        {
            "metadata": {"name": "db-0", "labels": {"lifecycle.apps.kruise.io/state": state}},
            "spec": {"readinessGates": [{"conditionType": g} for g in gates]},
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "ContainersReady", "status": "True"},
                    *conditions,
                ]
            },
        }
    )


def test_lifecycle_patch_sets_state_timestamp_and_readds_handlers() -> None:
    hook = LifecycleHook.from_wire({"labelsHandler": {"hold": "true"}, "finalizersHandler": ["x/f"]})
    assert lifecycle_patch("Updated", T, hook) == {
        "metadata": {
            "labels": {"lifecycle.apps.kruise.io/state": "Updated", "hold": "true"},
            "annotations": {"lifecycle.apps.kruise.io/timestamp": T},
            "finalizers": ["x/f"],
        }
    }


def test_transition_to_preparing_delete_marks_kruise_pod_not_ready_first() -> None:
    pod = _pod(
        "Normal", gates=("KruisePodReady",), conditions=({"type": "KruisePodReady", "status": "True"},)
    )
    status_write, label_write = transition(
        pod, "PreparingDelete", T, mark_not_ready=True, resource_version="7"
    )
    assert status_write.subresource == "status"
    assert status_write.resource_version == "7"
    assert label_write == PatchPod("db-0", lifecycle_patch("PreparingDelete", T))
    kruise_ready, ready = status_write.patch["status"]["conditions"]
    assert kruise_ready["type"] == "KruisePodReady"
    assert kruise_ready["status"] == "False"
    assert orjson.loads(kruise_ready["message"]) == [{"userAgent": "Lifecycle", "key": "preDeleteHook"}]
    assert ready["type"] == "Ready"
    assert ready["status"] == "False"
    assert ready["reason"] == "ReadinessGatesNotReady"


def test_transition_to_the_state_the_pod_is_in_writes_nothing() -> None:
    assert transition(_pod("Normal"), "Normal", T, mark_not_ready=True, resource_version=None) == ()


def test_conditions_patch_leaves_ready_alone_when_every_gate_is_true() -> None:
    pod = _pod("Normal", gates=("InPlaceUpdateReady",))
    ready_gate = {"type": "InPlaceUpdateReady", "status": "True"}
    assert conditions_patch(pod, {"InPlaceUpdateReady": ready_gate}) == {
        "status": {"conditions": [ready_gate]}
    }
