"""Lifecycle transitions and readiness-gate patches for any workload's pods.

Expected values worked by hand from kruise's ``pkg/util/lifecycle`` (``UpdatePodLifecycle``,
``SetPodLifecycle``), ``pkg/util/podreadiness`` (``KruisePodReady`` messages: JSON list of
``{userAgent, key}`` sorted) and ``util.SetPodReadyCondition`` (Ready turns False with reason
``ReadinessGatesNotReady`` when a gate is not True).
"""

from __future__ import annotations

from typing import Any

import orjson

from schemas.kruise.pub import Lifecycle, LifecycleHook
from workers.podmechanics.lifecycle import (
    conditions_patch,
    first_kruise_pod_ready,
    lifecycle_patch,
    next_lifecycle_state,
    transition,
)
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


def test_preparing_normal_to_normal_is_written_without_a_resource_version() -> None:
    # kruise's UpdatePodLifecycle: a strategic-merge patch of the label and timestamp, no
    # resourceVersion (pkg/util/lifecycle/lifecycle_utils.go); the kubelet's status write right
    # after binding must not turn this move into a conflict.
    moved = transition(_pod("PreparingNormal"), "Normal", T, mark_not_ready=False, resource_version="7")
    assert moved == (PatchPod("db-0", lifecycle_patch("Normal", T)),)


def test_other_moves_keep_the_plans_resource_version_on_their_first_write() -> None:
    moved = transition(_pod("Normal"), "PreparingDelete", T, mark_not_ready=False, resource_version="7")
    assert moved == (PatchPod("db-0", lifecycle_patch("PreparingDelete", T), resource_version="7"),)


def test_transition_to_the_state_the_pod_is_in_writes_nothing() -> None:
    assert transition(_pod("Normal"), "Normal", T, mark_not_ready=True, resource_version=None) == ()


def test_conditions_patch_leaves_ready_alone_when_every_gate_is_true() -> None:
    pod = _pod("Normal", gates=("InPlaceUpdateReady",))
    ready_gate = {"type": "InPlaceUpdateReady", "status": "True"}
    assert conditions_patch(pod, {"InPlaceUpdateReady": ready_gate}) == {
        "status": {"conditions": [ready_gate]}
    }


def _at(state: str, *, scheduled: bool, revision: str = "db-2", labels: dict[str, str] | None = None) -> Any:
    return read_pod(
        {
            "metadata": {
                "name": "db-0",
                "labels": {
                    "lifecycle.apps.kruise.io/state": state,
                    "controller-revision-hash": revision,
                    **(labels or {}),
                },
            },
            "spec": {"nodeName": "node-1" if scheduled else ""},
        }
    )


def test_preparing_normal_waits_for_scheduling_only_when_asked() -> None:
    pending = _at("PreparingNormal", scheduled=False)
    assert next_lifecycle_state(pending, None, "db-2", wait_for_scheduling=True) == ""  # CloneSet
    assert (
        next_lifecycle_state(pending, None, "db-2", wait_for_scheduling=False) == "Normal"
    )  # Advanced StatefulSet
    hook = Lifecycle.from_wire({"preNormal": {"labelsHandler": {"ready": "true"}}})
    assert (
        next_lifecycle_state(_at("PreparingNormal", scheduled=True), hook, "db-2", wait_for_scheduling=False)
        == ""
    )
    hooked = _at("PreparingNormal", scheduled=False, labels={"ready": "true"})
    assert next_lifecycle_state(hooked, hook, "db-2", wait_for_scheduling=True) == "Normal"


def test_preparing_update_at_the_update_revision_goes_updated_while_the_hook_holds() -> None:
    hook = Lifecycle.from_wire({"inPlaceUpdate": {"labelsHandler": {"hold": "true"}}})
    pod = _at("PreparingUpdate", scheduled=True)
    assert next_lifecycle_state(pod, hook, "db-2", wait_for_scheduling=True) == "Updated"
    assert next_lifecycle_state(pod, hook, "db-3", wait_for_scheduling=True) == ""
    held = _at("PreparingUpdate", scheduled=True, labels={"hold": "true"})
    assert next_lifecycle_state(held, hook, "db-2", wait_for_scheduling=True) == "Normal"
    assert (
        next_lifecycle_state(
            _at("Updated", scheduled=True, labels={"hold": "true"}), hook, "db-2", wait_for_scheduling=True
        )
        == "Normal"
    )


def test_first_kruise_pod_ready_only_for_a_gated_pod_without_the_condition() -> None:
    gated = _pod("Normal", gates=("KruisePodReady",))
    assert first_kruise_pod_ready(gated, T) == {
        "type": "KruisePodReady",
        "status": "True",
        "lastTransitionTime": T,
    }
    done = _pod(
        "Normal", gates=("KruisePodReady",), conditions=({"type": "KruisePodReady", "status": "False"},)
    )
    assert first_kruise_pod_ready(done, T) is None
    assert first_kruise_pod_ready(_pod("Normal"), T) is None
