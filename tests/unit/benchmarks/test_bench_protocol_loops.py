"""The protocol loops make exactly kruise's pod writes (kruise v1.9.1, worked by hand from its code).

- A new CloneSet pod is created ``PreparingNormal`` (``cloneset_scale.go:218``
  ``SetPodLifecycle(PreparingNormal)``) and moved to ``Normal`` once scheduled
  (``cloneset_update.go:177-189``: ``HasPodScheduled``) by ``UpdatePodLifecycle``: a strategic-merge
  patch of the state label and the timestamp annotation, no resourceVersion
  (``pkg/util/lifecycle/lifecycle_utils.go:145-152``).
- An in-place update sets ``Updating`` in the same patch as the image (``cloneset_update.go:305``)
  and moves it back to ``Normal`` when the update completed (``cloneset_update.go:204``).
"""

from __future__ import annotations

from benchmarks.harness.inplaceloop import image_patch
from benchmarks.harness.rawloop import bound_and_preparing, lifecycle_move, protocol_pod

STATE = "lifecycle.apps.kruise.io/state"
STAMP = "lifecycle.apps.kruise.io/timestamp"


def test_a_protocol_pod_is_created_preparing_normal_with_kruises_gates() -> None:
    pod = protocol_pod({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}})
    assert pod["metadata"]["labels"] == {"app": "x", STATE: "PreparingNormal"}
    assert pod["spec"]["readinessGates"] == [
        {"conditionType": "InPlaceUpdateReady"},
        {"conditionType": "KruisePodReady"},
    ]


def test_the_lifecycle_move_is_kruises_unversioned_label_and_timestamp_patch() -> None:
    assert lifecycle_move("Normal", "2026-11-30T06:00:00Z") == {
        "metadata": {"labels": {STATE: "Normal"}, "annotations": {STAMP: "2026-11-30T06:00:00Z"}}
    }


def test_only_the_loops_own_bound_preparing_pods_are_moved() -> None:
    def pod(name: str, node: str, state: str) -> dict[str, object]:
        return {"metadata": {"name": name, "labels": {STATE: state}}, "spec": {"nodeName": node}}

    assert bound_and_preparing(pod("p-1", "n1", "PreparingNormal"), "p") == "p-1"
    assert bound_and_preparing(pod("p-1", "", "PreparingNormal"), "p") is None  # not scheduled yet
    assert bound_and_preparing(pod("p-1", "n1", "Normal"), "p") is None  # already moved
    assert bound_and_preparing(pod("q-1", "n1", "PreparingNormal"), "p") is None  # another run's pod


def test_the_in_place_patch_sets_updating_with_the_image() -> None:
    patch = image_patch("main", "nginx:v2")
    assert patch["spec"] == {"containers": [{"name": "main", "image": "nginx:v2"}]}
    assert patch["metadata"]["labels"] == {STATE: "Updating"}
    assert set(patch["metadata"]["annotations"]) == {"apps.kruise.io/inplace-update-state", STAMP}
