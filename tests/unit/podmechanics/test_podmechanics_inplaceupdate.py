"""One pod's in-place update with the inPlaceUpdate hook, as CloneSet and Advanced StatefulSet run it.

Expected writes and messages are worked by hand from kruise's ``cloneset_update.go`` /
``stateful_set_control.go`` (the lifecycle switch before ``inplaceControl.Update``) and
``inplaceupdate.Update`` (``InPlaceUpdateReady`` False with reason ``StartInPlaceUpdate``).
"""

from __future__ import annotations

from typing import Any

from schemas.kruise.pub import Lifecycle
from workers.podmechanics.inplace import InPlaceSpec
from workers.podmechanics.inplaceupdate import in_place_update
from workers.podmechanics.pods import PodView, read_pod

T = "2026-01-01T12:00:00Z"
SPEC = InPlaceSpec("db-new", {"db": "pg:2"})
HOOK = Lifecycle.from_wire({"inPlaceUpdate": {"labelsHandler": {"hold": "true"}, "markPodNotReady": False}})
LABELS = {"controller-revision-hash": "db-new"}


def _pod(state: str | None, *, labels: dict[str, str] | None = None, gates: tuple[str, ...] = ()) -> PodView:
    all_labels = dict(labels or {})
    if state is not None:
        all_labels["lifecycle.apps.kruise.io/state"] = state
    raw: dict[str, Any] = {
        "metadata": {"name": "db-0", "resourceVersion": "5", "labels": all_labels},
        "spec": {
            "containers": [{"name": "db", "image": "pg:1"}],
            "readinessGates": [{"conditionType": g} for g in gates],
        },
        "status": {"containerStatuses": [{"name": "db", "imageID": "sha-1"}]},
    }
    return read_pod(raw)


def test_a_hooked_normal_pod_goes_to_preparing_update_first() -> None:
    writes, error = in_place_update(
        _pod("Normal", labels={"hold": "true"}), SPEC, T, HOOK, revision_labels=LABELS
    )
    assert error is None
    [write] = writes
    assert write.patch["metadata"]["labels"] == {"lifecycle.apps.kruise.io/state": "PreparingUpdate"}
    assert write.resource_version == "5"


def test_a_pod_in_preparing_update_waits_while_the_hook_holds() -> None:
    assert in_place_update(
        _pod("PreparingUpdate", labels={"hold": "true"}), SPEC, T, HOOK, revision_labels=LABELS
    ) == ((), None)


def test_a_pod_being_deleted_is_not_updated_in_place() -> None:
    assert in_place_update(_pod("PreparingDelete"), SPEC, T, HOOK, revision_labels=LABELS) == (
        (),
        "not allowed to in-place update pod db-0 in state PreparingDelete",
    )


def test_gate_goes_false_first_then_the_patch_with_kruises_events() -> None:
    status, patch = in_place_update(
        _pod("Normal", gates=("InPlaceUpdateReady",)), SPEC, T, None, revision_labels=LABELS
    )[0]
    assert status.subresource == "status"
    assert status.resource_version == "5"
    [condition] = status.patch["status"]["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "InPlaceUpdateReady",
        "False",
        "StartInPlaceUpdate",
    )
    assert patch.resource_version is None
    assert patch.patch["spec"] == {"containers": [{"name": "db", "image": "pg:2"}]}
    assert patch.patch["metadata"]["labels"]["lifecycle.apps.kruise.io/state"] == "Updating"
    assert patch.success_event is not None
    assert patch.success_event.message == "successfully update pod db-0 in-place(revision db-new)"
    assert patch.failure_event is not None
    assert patch.failure_event.reason == "FailedUpdatePodInPlace"


def test_statefulset_leaves_a_pod_without_lifecycle_state_without_one() -> None:
    [patch] = in_place_update(_pod(None), SPEC, T, None, revision_labels=LABELS, lifecycle_always=False)[0]
    assert patch.patch["metadata"]["labels"] == LABELS
    [with_state] = in_place_update(
        _pod("Normal"), SPEC, T, None, revision_labels=LABELS, lifecycle_always=False
    )[0]
    assert with_state.patch["metadata"]["labels"]["lifecycle.apps.kruise.io/state"] == "Updating"
