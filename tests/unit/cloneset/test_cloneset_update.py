"""Updates walked step by step: ReCreate, InPlaceIfPossible, InPlaceOnly, partition, paused, grace, hooks."""

from __future__ import annotations

from typing import Any

import orjson

from tests.unit.cloneset.cloneset_builders import (
    NOW,
    batch_sizes,
    cloneset,
    created,
    deleted,
    events,
    label,
    patched,
    pod,
    pod_actions,
    rev_name,
    revision,
    run,
    status_of,
)
from workers.cloneset.actions import PatchPod, RenumberRevision
from workers.cloneset.config import PlannerConfig
from workers.podmechanics.kube_json import format_time


def _rollout(strategy: dict[str, Any], replicas: int = 3, **kwargs: Any) -> tuple[Any, str, str, list[Any]]:
    old_cs = cloneset(replicas, image="nginx:1", strategy=strategy, **kwargs)
    old = rev_name(old_cs)
    new_cs = cloneset(replicas, image="nginx:2", strategy=strategy, status={"currentRevision": old}, **kwargs)
    new = rev_name(new_cs)
    return new_cs, old, new, [revision(old_cs, 1), revision(new_cs, 2)]


def test_recreate_marks_pods_specified_delete_within_max_unavailable() -> None:
    cs, old, new, revs = _rollout({"maxUnavailable": 1})
    pods = [pod("web-a", old), pod("web-b", old), pod("web-c", old)]
    plan = run(cs, pods, revs)
    assert patched(plan) == {"web-a": [{"metadata": {"labels": {"apps.kruise.io/specified-delete": "true"}}}]}
    [write] = [a for a in plan.actions if isinstance(a, PatchPod)]
    assert write.resource_version == "rv-web-a"
    assert write.success_event is not None
    assert (
        write.success_event.message
        == f"successfully patch pod web-a specified-delete for update(revision {new})"
    )
    status = status_of(plan)
    assert status is not None
    assert (status["currentRevision"], status["updateRevision"], status["updatedReplicas"]) == (old, new, 0)


def test_recreate_rollout_step_by_step() -> None:
    cs, old, new, revs = _rollout({"maxUnavailable": 1})
    doomed = pod("web-a", old, labels={"apps.kruise.io/specified-delete": "true"})
    # step 2: the marked pod is deleted by the scale step (no update in the same pass)
    plan = run(cs, [doomed, pod("web-b", old), pod("web-c", old)], revs)
    assert deleted(plan) == ["web-a"]
    assert patched(plan) == {}
    # step 3: the replacement is created at the new revision
    plan = run(cs, [pod("web-b", old), pod("web-c", old)], revs)
    [new_pod] = created(plan)
    assert label(new_pod, "controller-revision-hash") == new
    # step 4: replacement not ready: nothing else may go unavailable
    fresh = pod("web-n", new, ready=False)
    plan = run(cs, [pod("web-b", old), pod("web-c", old), fresh], revs)
    assert [a for a in pod_actions(plan) if a.__class__.__name__ != "PatchPod" or a.subresource == ""] == []
    # step 5: ready: next pod
    plan = run(cs, [pod("web-b", old), pod("web-c", old), pod("web-n", new)], revs)
    assert list(patched(plan)) == ["web-b"]


def test_partition_keeps_old_pods() -> None:
    cs, old, new, revs = _rollout({"maxUnavailable": 3, "partition": 2})
    pods = [pod("web-a", old), pod("web-b", old), pod("web-c", old)]
    assert len(patched(run(cs, pods, revs))) == 1
    done = [pod("web-a", old), pod("web-b", old), pod("web-c", new)]
    plan = run(cs, done, revs)
    assert patched(plan) == {}
    status = status_of(plan)
    assert status is not None
    assert status["expectedUpdatedReplicas"] == 1
    assert status["currentRevision"] == old


def test_percent_partition() -> None:
    cs, old, _, revs = _rollout({"maxUnavailable": "100%", "partition": "50%"}, replicas=4)
    pods = [pod(f"web-{i}", old) for i in "abcd"]
    assert len(patched(run(cs, pods, revs))) == 2


def test_paused_updates_nothing_but_still_scales() -> None:
    cs, old, _, revs = _rollout({"paused": True, "maxUnavailable": 3})
    pods = [pod("web-a", old), pod("web-b", old)]
    plan = run(cs, pods, revs)
    assert patched(plan) == {}
    assert batch_sizes(plan) == [1]
    assert patched(run(cs, [*pods, pod("web-c", old)], revs)) == {}


def test_current_revision_promoted_when_all_updated() -> None:
    cs, _, new, revs = _rollout({})
    plan = run(cs, [pod("web-a", new), pod("web-b", new), pod("web-c", new)], revs)
    status = status_of(plan)
    assert status is not None
    assert status["currentRevision"] == new


def test_in_place_update_patch_content() -> None:
    cs, old, new, revs = _rollout({"type": "InPlaceIfPossible", "maxUnavailable": 1})
    pods = [pod("web-a", old), pod("web-b", old), pod("web-c", old)]
    plan = run(cs, pods, revs)
    writes = [a for a in plan.actions if isinstance(a, PatchPod)]
    assert [(w.name, w.subresource, w.resource_version) for w in writes] == [
        ("web-a", "status", "rv-web-a"),
        ("web-a", "", None),
    ]
    ready_false = writes[0].patch["status"]["conditions"]  # type: ignore[index]
    assert ready_false[0] == {
        "type": "InPlaceUpdateReady",
        "status": "False",
        "reason": "StartInPlaceUpdate",
        "lastTransitionTime": format_time(NOW),
    }
    assert ready_false[1]["type"] == "Ready"
    assert ready_false[1]["status"] == "False"
    patch = writes[1].patch
    assert patch["spec"] == {"containers": [{"name": "app", "image": "nginx:2"}]}
    labels = patch["metadata"]["labels"]  # type: ignore[index]
    assert labels["controller-revision-hash"] == new
    assert labels["pod-template-hash"] == new.rsplit("-", 1)[1]
    assert labels["lifecycle.apps.kruise.io/state"] == "Updating"
    state = orjson.loads(patch["metadata"]["annotations"]["apps.kruise.io/inplace-update-state"])  # type: ignore[index]
    assert state["revision"] == new
    assert state["lastContainerStatuses"] == {"app": {"imageID": "sha-nginx:1"}}
    assert state["updateImages"] is True
    assert writes[1].success_event is not None
    assert writes[1].success_event.message == f"successfully update pod web-a in-place(revision {new})"


def _updating(name: str, new: str, *, swapped: bool) -> dict[str, Any]:
    """A pod mid in-place update; ``swapped``: the kubelet runs the new image."""
    state = {
        "revision": new,
        "updateTimestamp": format_time(NOW),
        "lastContainerStatuses": {"app": {"imageID": "sha-nginx:1"}},
    }
    p = pod(
        name,
        new,
        state="Updating",
        image="nginx:2" if swapped else "nginx:1",
        in_place_ready=False,
        ready=False,
        annotations={"apps.kruise.io/inplace-update-state": orjson.dumps(state).decode()},
    )
    p["spec"]["containers"][0]["image"] = "nginx:2"
    return p


def test_in_place_completion_detected_from_container_status() -> None:
    cs, old, new, revs = _rollout({"type": "InPlaceIfPossible", "maxUnavailable": 1})
    others = [pod("web-b", old), pod("web-c", old)]
    # kubelet has not swapped the image: nothing for this pod, and no other pod starts (budget used)
    plan = run(cs, [_updating("web-a", new, swapped=False), *others], revs)
    assert patched(plan) == {}
    assert patched(plan, "status") == {}
    # swapped: condition True and lifecycle back to Normal
    plan = run(cs, [_updating("web-a", new, swapped=True), *others], revs)
    [cond] = patched(plan, "status")["web-a"]
    assert cond["status"]["conditions"][0]["type"] == "InPlaceUpdateReady"  # type: ignore[index]
    assert cond["status"]["conditions"][0]["status"] == "True"  # type: ignore[index]
    [life] = patched(plan)["web-a"]
    assert life["metadata"]["labels"] == {"lifecycle.apps.kruise.io/state": "Normal"}  # type: ignore[index]


def test_in_place_if_possible_falls_back_to_recreate_for_other_changes() -> None:
    old_cs = cloneset(2, strategy={"type": "InPlaceIfPossible"})
    old = rev_name(old_cs)
    cs = cloneset(2, env="debug", strategy={"type": "InPlaceIfPossible"}, status={"currentRevision": old})
    plan = run(cs, [pod("web-a", old), pod("web-b", old)], [revision(old_cs, 1), revision(cs, 2)])
    assert patched(plan) == {"web-a": [{"metadata": {"labels": {"apps.kruise.io/specified-delete": "true"}}}]}


def test_in_place_only_with_non_image_change_is_refused_without_touching_pods() -> None:
    old_cs = cloneset(2, strategy={"type": "InPlaceOnly"})
    old = rev_name(old_cs)
    cs = cloneset(2, env="debug", strategy={"type": "InPlaceOnly"}, status={"currentRevision": old})
    plan = run(cs, [pod("web-a", old), pod("web-b", old)], [revision(old_cs, 1), revision(cs, 2)])
    assert pod_actions(plan) == []
    [(reason, message)] = events(plan)
    assert reason == "FailedUpdate"
    assert "only allowed to update images" in message
    assert "add /spec/containers/0/env" in message
    status = status_of(plan)
    assert status is not None
    [condition] = status["conditions"]  # type: ignore[misc]
    assert condition["type"] == "FailedUpdate"
    assert condition["status"] == "True"
    assert condition["message"] == message


def test_in_place_only_problem_event_not_repeated_and_condition_cleared_once_fixed() -> None:
    old_cs = cloneset(2, strategy={"type": "InPlaceOnly"})
    old = rev_name(old_cs)
    first = run(
        cloneset(2, env="x", strategy={"type": "InPlaceOnly"}, status={"currentRevision": old}),
        [pod("web-a", old), pod("web-b", old)],
        [revision(old_cs, 1)],
    )
    status = status_of(first)
    assert status is not None
    failing = dict(status)
    again = cloneset(2, env="x", strategy={"type": "InPlaceOnly"}, status=failing)
    revs = [revision(old_cs, 1), revision(again, 2)]
    assert events(run(again, [pod("web-a", old), pod("web-b", old)], revs)) == []
    fixed = cloneset(2, image="nginx:3", strategy={"type": "InPlaceOnly"}, status=failing)
    plan = run(fixed, [pod("web-a", old), pod("web-b", old)], [revision(old_cs, 1), revision(fixed, 2)])
    status = status_of(plan)
    assert status is not None
    [condition] = status["conditions"]  # type: ignore[misc]
    assert condition["status"] == "False"
    assert "web-a" in patched(plan)


def test_grace_period_defers_the_image_change() -> None:
    strategy = {
        "type": "InPlaceIfPossible",
        "maxUnavailable": 1,
        "inPlaceUpdateStrategy": {"gracePeriodSeconds": 30},
    }
    cs, old, new, revs = _rollout(strategy)
    plan = run(cs, [pod("web-a", old), pod("web-b", old), pod("web-c", old)], revs)
    [start] = patched(plan)["web-a"]
    assert "spec" not in start
    grace = orjson.loads(start["metadata"]["annotations"]["apps.kruise.io/inplace-update-grace"])  # type: ignore[index]
    assert grace["containerImages"] == {"app": "nginx:2"}
    assert grace["graceSeconds"] == 30
    assert plan.requeue_after == 30
    # during grace: wait, requeue for the rest
    state = {"revision": new, "updateTimestamp": format_time(NOW), "lastContainerStatuses": None}
    waiting = pod(
        "web-a",
        new,
        state="Updating",
        in_place_ready=False,
        annotations={
            "apps.kruise.io/inplace-update-state": orjson.dumps(state).decode(),
            "apps.kruise.io/inplace-update-grace": orjson.dumps(grace).decode(),
        },
    )
    later = run(cs, [waiting, pod("web-b", old), pod("web-c", old)], revs, now=NOW.replace(second=10))
    assert later.requeue_after == 20
    assert patched(later) == {}
    # grace over: the image is patched and the grace annotation removed
    done = run(cs, [waiting, pod("web-b", old), pod("web-c", old)], revs, now=NOW.replace(second=31))
    [finish] = patched(done)["web-a"]
    assert finish["spec"] == {"containers": [{"name": "app", "image": "nginx:2"}]}
    assert finish["metadata"]["annotations"]["apps.kruise.io/inplace-update-grace"] is None  # type: ignore[index]


def test_in_place_update_hook_goes_through_preparing_update() -> None:
    hook = {"inPlaceUpdate": {"labelsHandler": {"gate": "on"}}}
    cs, old, new, revs = _rollout({"type": "InPlaceIfPossible", "maxUnavailable": 1}, lifecycle=hook)
    hooked = pod("web-a", old, labels={"gate": "on"})
    others = [pod("web-b", old, labels={"gate": "on"}), pod("web-c", old, labels={"gate": "on"})]
    plan = run(cs, [hooked, *others], revs)
    [write] = patched(plan)["web-a"]
    assert write["metadata"]["labels"] == {"lifecycle.apps.kruise.io/state": "PreparingUpdate"}  # type: ignore[index]
    # the user's controller still holds it: wait
    preparing = pod("web-a", old, labels={"gate": "on"}, state="PreparingUpdate")
    assert patched(run(cs, [preparing, *others], revs)) == {}
    # released: update in place
    released = pod("web-a", old, state="PreparingUpdate")
    plan = run(cs, [released, *others], revs)
    assert patched(plan)["web-a"][0]["spec"]["containers"][0]["image"] == "nginx:2"  # type: ignore[index]
    # done, hook not re-added by the user yet: Updated; re-hooked: Normal
    finished = _updating("web-a", new, swapped=True)
    plan = run(cs, [finished, *others], revs)
    assert patched(plan)["web-a"][0]["metadata"]["labels"]["lifecycle.apps.kruise.io/state"] == "Updated"  # type: ignore[index]


def test_pre_normal_hook_holds_new_pods_in_preparing_normal() -> None:
    cs = cloneset(1, lifecycle={"preNormal": {"labelsHandler": {"warm": "yes"}}})
    rev = rev_name(cs)
    fresh = pod("web-a", rev, state="PreparingNormal")
    assert patched(run(cs, [fresh])) == {}
    warm = pod("web-a", rev, state="PreparingNormal", labels={"warm": "yes"})
    [write] = patched(run(cs, [warm]))["web-a"]
    assert write["metadata"]["labels"] == {"lifecycle.apps.kruise.io/state": "Normal"}  # type: ignore[index]


def test_new_pod_becomes_normal_once_scheduled_and_gets_in_place_ready() -> None:
    cs = cloneset(1)
    rev = rev_name(cs)
    fresh = pod("web-a", rev, state="PreparingNormal", in_place_ready=None, ready=False)
    plan = run(cs, [fresh])
    assert patched(plan, "status")["web-a"][0]["status"]["conditions"][0]["status"] == "True"  # type: ignore[index]
    assert patched(plan)["web-a"][0]["metadata"]["labels"]["lifecycle.apps.kruise.io/state"] == "Normal"  # type: ignore[index]
    unscheduled = pod("web-a", rev, state="PreparingNormal", scheduled=False, ready=False)
    assert patched(run(cs, [unscheduled])) == {}


def test_rollback_to_an_old_template_renumbers_its_revision() -> None:
    v1 = cloneset(2, image="nginx:1")
    v2 = cloneset(2, image="nginx:2")
    back = cloneset(2, image="nginx:1", status={"currentRevision": rev_name(v2)})
    plan = run(
        back, [pod("web-a", rev_name(v2)), pod("web-b", rev_name(v2))], [revision(v1, 1), revision(v2, 2)]
    )
    assert RenumberRevision(rev_name(v1), 3) in plan.actions
    status = status_of(plan)
    assert status is not None
    assert status["updateRevision"] == rev_name(v1)


def test_priority_order_decides_which_pod_updates_first() -> None:
    strategy = {
        "maxUnavailable": 1,
        "priorityStrategy": {
            "weightPriority": [{"weight": 50, "matchSelector": {"matchLabels": {"tier": "canary"}}}]
        },
    }
    cs, old, _, revs = _rollout(strategy)
    pods = [pod("web-a", old), pod("web-b", old), pod("web-c", old, labels={"tier": "canary"})]
    assert list(patched(run(cs, pods, revs))) == ["web-c"]


def test_invalid_in_place_only_still_lets_new_pods_become_ready() -> None:
    old_cs = cloneset(2, strategy={"type": "InPlaceOnly"})
    old = rev_name(old_cs)
    cs = cloneset(2, env="debug", strategy={"type": "InPlaceOnly"}, status={"currentRevision": old})
    fresh = pod("web-n", rev_name(cs), state="PreparingNormal", in_place_ready=None, ready=False)
    plan = run(cs, [pod("web-a", old), fresh], [revision(old_cs, 1), revision(cs, 2)])
    assert list(patched(plan, "status")) == ["web-n"]
    assert list(patched(plan)) == ["web-n"]


def test_only_the_first_write_to_a_pod_carries_its_resource_version() -> None:
    cs = cloneset(1)
    orphan = pod("web-o", rev_name(cs), owner=None, state="PreparingNormal")
    plan = run(cs, [orphan])
    writes = [(a.name, a.resource_version) for a in plan.actions if isinstance(a, PatchPod)]
    assert writes == [("web-o", "rv-web-o"), ("web-o", None)]


def test_in_place_annotations_read_like_kruise() -> None:
    """Same JSON, key for key, as kruise's InPlaceUpdateState / UpdateSpec for the same update."""
    strategy = {"type": "InPlaceIfPossible", "inPlaceUpdateStrategy": {"gracePeriodSeconds": 3630}}
    cs, old, new, revs = _rollout(strategy, replicas=1)
    [start] = patched(run(cs, [pod("web-a", old)], revs))["web-a"]
    annotations = start["metadata"]["annotations"]  # type: ignore[index]
    now = format_time(NOW)
    assert annotations["apps.kruise.io/inplace-update-state"] == (
        f'{{"revision":"{new}","updateTimestamp":"{now}","lastContainerStatuses":null,"updateImages":true}}'
    )
    assert annotations["apps.kruise.io/inplace-update-grace"] == (
        f'{{"revision":"{new}","containerImages":{{"app":"nginx:2"}},"graceSeconds":3630}}'
    )
    cs, old, new, revs = _rollout({"type": "InPlaceIfPossible"}, replicas=1)
    [start] = patched(run(cs, [pod("web-a", old)], revs))["web-a"]
    assert start["metadata"]["annotations"]["apps.kruise.io/inplace-update-state"] == (  # type: ignore[index]
        f'{{"revision":"{new}","updateTimestamp":"{now}","lastContainerStatuses":{{"app":{{"imageID":"sha-nginx:1"}}}},'
        f'"updateImages":true,"containerBatchesRecord":[{{"timestamp":"{now}","containers":["app"]}}]}}'
    )


def test_mark_pod_not_ready_on_in_place_hook_is_restored_at_updated() -> None:
    hook = {"inPlaceUpdate": {"labelsHandler": {"gate": "on"}, "markPodNotReady": True}}
    cs, old, new, revs = _rollout({"type": "InPlaceIfPossible", "maxUnavailable": 1}, lifecycle=hook)
    others = [pod("web-b", old, labels={"gate": "on"}), pod("web-c", old, labels={"gate": "on"})]
    hooked = pod("web-a", old, labels={"gate": "on"})
    hooked["spec"]["readinessGates"].append({"conditionType": "KruisePodReady"})
    hooked["status"]["conditions"].append({"type": "KruisePodReady", "status": "True"})
    plan = run(cs, [hooked, *others], revs)
    [not_ready] = patched(plan, "status")["web-a"]
    condition = not_ready["status"]["conditions"][0]  # type: ignore[index]
    assert condition["type"] == "KruisePodReady"
    assert condition["status"] == "False"
    assert condition["message"] == '[{"userAgent":"Lifecycle","key":"preUpdateHook"}]'
    # the update finished, the hook is not back yet: Updated, and KruisePodReady back to True
    done = _updating("web-a", new, swapped=True)
    done["spec"]["readinessGates"].append({"conditionType": "KruisePodReady"})
    done["status"]["conditions"].append(
        {"type": "KruisePodReady", "status": "False", "message": condition["message"]}
    )
    plan = run(cs, [done, *others], revs)
    restored = [c for p in patched(plan, "status")["web-a"] for c in p["status"]["conditions"]]  # type: ignore[index]
    assert {"type": "KruisePodReady", "status": "True"}.items() <= next(
        c for c in restored if c["type"] == "KruisePodReady"
    ).items()


def test_partition_rollback_moves_pods_back_when_partition_rises() -> None:
    cs, old, new, revs = _rollout({"maxUnavailable": 3, "partition": 3})
    pods = [pod("web-a", new), pod("web-b", new), pod("web-c", old)]
    assert patched(run(cs, pods, revs)) == {}  # gate off: updated pods stay
    plan = run(cs, pods, revs, config=PlannerConfig(partition_rollback=True))
    assert len(patched(plan)) == 2  # both back to the current revision
    assert all(
        w.success_event is not None and old in w.success_event.message
        for w in plan.actions
        if isinstance(w, PatchPod)
    )


def test_short_hash_label() -> None:
    cs, old, new, revs = _rollout({"type": "InPlaceIfPossible", "maxUnavailable": 1}, replicas=1)
    plan = run(cs, [pod("web-a", old)], revs, config=PlannerConfig(short_hash_label=True))
    [write] = patched(plan)["web-a"]
    labels = write["metadata"]["labels"]  # type: ignore[index]
    assert labels["controller-revision-hash"] == new.rsplit("-", 1)[1]
    assert labels["pod-template-hash"] == new.rsplit("-", 1)[1]


def test_blocked_template_is_not_rolled_out_by_scaling_either() -> None:
    old_cs = cloneset(3, strategy={"type": "InPlaceOnly"})
    old = rev_name(old_cs)
    cs = cloneset(3, env="debug", strategy={"type": "InPlaceOnly"}, status={"currentRevision": old})
    plan = run(cs, [pod("web-a", old), pod("web-b", old)], [revision(old_cs, 1), revision(cs, 2)])
    [new] = created(plan)
    assert label(new, "controller-revision-hash") == old
    assert "env" not in new["spec"]["containers"][0]  # type: ignore[index]
    status = status_of(plan)
    assert status is not None
    assert status["expectedUpdatedReplicas"] == 3


def test_kruise_pod_ready_is_set_once_for_pods_with_the_gate() -> None:
    """kruise's podreadiness controller: the gate's condition starts True (in the same status write)."""
    cs = cloneset(1)
    fresh = pod("web-a", rev_name(cs), state="PreparingNormal", in_place_ready=None, ready=False)
    fresh["spec"]["readinessGates"].append({"conditionType": "KruisePodReady"})
    [status_patch] = patched(run(cs, [fresh]), "status")["web-a"]
    types = {c["type"]: c["status"] for c in status_patch["status"]["conditions"]}  # type: ignore[index]
    assert types == {"InPlaceUpdateReady": "True", "KruisePodReady": "True"}
