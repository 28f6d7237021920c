"""In-place rolling updates of an Advanced StatefulSet, worked from kruise's ``inPlaceUpdatePod``
(stateful_set_control.go) over the shared in-place mechanics: what is patched, what recreates,
what InPlaceOnly refuses, the grace period and the inPlaceUpdate hook."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.statefulset.sts_builders import IMAGE_B, events, pod, run, steps, sts, template
from tests.unit.statefulset.test_statefulset_planner import REV_A, REVS, A, B
from workers.runtime import actions as runtime


def rolling(policy: str, **extra: Any) -> dict[str, Any]:
    return {"rollingUpdate": {"podUpdatePolicy": policy, **extra}}


def body(policy: str, image: str = IMAGE_B, **extra: Any) -> dict[str, Any]:
    return sts(3, image=image, updateStrategy=rolling(policy, **extra), status={"currentRevision": A})


def test_image_change_is_applied_in_place() -> None:
    result = run(body("InPlaceIfPossible"), [pod(0, A), pod(1, A), pod(2, A)], REVS)
    # the highest ordinal first, patched, not deleted
    assert steps(result) == ["patch pods web-2"]
    (patch,) = [a for a in result.actions if isinstance(a, runtime.PatchObject) and a.name == "web-2"]
    assert patch.patch_type == "strategic"
    assert patch.patch["spec"]["containers"] == [{"name": "main", "image": IMAGE_B}]
    labels = patch.patch["metadata"]["labels"]
    assert labels["controller-revision-hash"] == B
    assert "lifecycle.apps.kruise.io/state" not in labels  # a pod without a state keeps none (kruise)
    state = json.loads(patch.patch["metadata"]["annotations"]["apps.kruise.io/inplace-update-state"])
    assert state["revision"] == B
    assert (
        "Normal",
        "SuccessfulUpdatePodInPlace",
        f"successfully update pod web-2 in-place(revision {B})",
    ) in events(result)


def test_in_place_readiness_gate_turns_false_first() -> None:
    gated = pod(2, A)
    gated["spec"]["readinessGates"] = [{"conditionType": "InPlaceUpdateReady"}]
    result = run(body("InPlaceIfPossible"), [pod(0, A), pod(1, A), gated], REVS)
    writes = [
        (a.name, a.subresource)
        for a in result.actions
        if isinstance(a, runtime.PatchObject) and a.resource.plural == "pods"
    ]
    # kruise's Refresh first sets the gate's missing condition True, then the update turns it False
    assert writes == [("web-2", "status"), ("web-2", "status"), ("web-2", "")]
    condition = result.actions[1].patch["status"]["conditions"][0]  # type: ignore[union-attr]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "InPlaceUpdateReady",
        "False",
        "StartInPlaceUpdate",
    )


def test_a_change_beyond_images_recreates_or_is_refused() -> None:
    changed = template(IMAGE_B)
    changed["spec"]["containers"][0]["env"] = [{"name": "X", "value": "1"}]
    env_set = sts(3, updateStrategy=rolling("InPlaceIfPossible"), status={"currentRevision": A})
    env_set["spec"]["template"] = changed
    first = run(env_set, [pod(0, A), pod(1, A), pod(2, A)], [REV_A])
    assert steps(first)[-1] == "delete pods web-2"
    only = sts(3, updateStrategy=rolling("InPlaceOnly"), status={"currentRevision": A})
    only["spec"]["template"] = changed
    refused = run(only, [pod(0, A), pod(1, A), pod(2, A)], [REV_A])
    assert [s for s in steps(refused) if "pods" in s] == []
    assert "find strategy is InPlaceOnly but Pod web-2 can not update in-place" in refused.reason
    assert refused.requeue_after == 5.0


def test_grace_period_defers_the_image() -> None:
    result = run(
        body("InPlaceIfPossible", inPlaceUpdateStrategy={"gracePeriodSeconds": 10}),
        [pod(0, A), pod(1, A), pod(2, A)],
        REVS,
    )
    (patch,) = [a for a in result.actions if isinstance(a, runtime.PatchObject) and a.name == "web-2"]
    assert "spec" not in patch.patch  # the image waits for the grace period
    assert "apps.kruise.io/inplace-update-grace" in patch.patch["metadata"]["annotations"]
    assert patch.patch["metadata"]["labels"]["controller-revision-hash"] == B


def test_in_place_hook_moves_the_pod_to_preparing_update_first() -> None:
    hooked = body("InPlaceIfPossible", image=IMAGE_B)
    hooked["spec"]["lifecycle"] = {"inPlaceUpdate": {"labelsHandler": {"ready-for-update": "true"}}}
    pods = [
        pod(0, A),
        pod(1, A),
        pod(2, A, labels={"ready-for-update": "true", "lifecycle.apps.kruise.io/state": "Normal"}),
    ]
    result = run(hooked, pods, REVS)
    (patch,) = [a for a in result.actions if isinstance(a, runtime.PatchObject) and a.name == "web-2"]
    assert patch.patch["metadata"]["labels"] == {"lifecycle.apps.kruise.io/state": "PreparingUpdate"}
    assert "spec" not in patch.patch


def test_unfinished_in_place_update_counts_as_unavailable() -> None:
    updating = pod(2, B)
    updating["metadata"]["annotations"] = {
        "apps.kruise.io/inplace-update-state": json.dumps(
            {"revision": B, "lastContainerStatuses": {"main": {"imageID": "old"}}}
        )
    }
    updating["spec"]["containers"] = [{"name": "main", "image": IMAGE_B}]
    updating["status"]["containerStatuses"] = [{"name": "main", "image": "nginx:1.25", "imageID": "old"}]
    result = run(body("InPlaceIfPossible"), [pod(0, A), pod(1, A), updating], REVS)
    assert steps(result) == []  # maxUnavailable 1 is taken by web-2
