"""Scaling, walked step by step through whole plans: slow start, limits, victims, specified deletion, PVCs."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.kruise.cloneset import CloneSet
from tests.unit.cloneset.cloneset_builders import (
    NOW,
    UID,
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
from workers.cloneset.actions import CreatePods, CreateRevision, DeletePod, PatchCloneSet, UpdateStatus
from workers.cloneset.config import PlannerConfig
from workers.cloneset.observed import ObservedCloneSet
from workers.cloneset.planner import plan


def test_new_cloneset_creates_revision_then_pods_in_slow_start_batches() -> None:
    cs = cloneset(10)
    plan = run(cs, [], revisions=[])
    assert isinstance(plan.actions[0], CreateRevision)
    assert batch_sizes(plan) == [1, 2, 4, 3]
    rev = rev_name(cs)
    pods = created(plan)
    names = [str(p["metadata"]["name"]) for p in pods]  # type: ignore[index]
    assert len(set(names)) == 10
    for p in pods:
        name = str(p["metadata"]["name"])  # type: ignore[index]
        assert name.startswith("web-")
        assert len(name) == len("web-") + 5
        assert label(p, "apps.kruise.io/cloneset-instance-id") == name[4:]
        assert label(p, "controller-revision-hash") == rev
        assert label(p, "pod-template-hash") == rev.rsplit("-", 1)[1]
        assert label(p, "lifecycle.apps.kruise.io/state") == "PreparingNormal"  # as kruise creates it
        assert p["spec"]["readinessGates"] == [  # type: ignore[index]
            {"conditionType": "InPlaceUpdateReady"},
            {"conditionType": "KruisePodReady"},
        ]
        owner = p["metadata"]["ownerReferences"][0]  # type: ignore[index]
        assert owner["uid"] == UID
        assert owner["controller"] is True
        assert owner["kind"] == "CloneSet"
    status = status_of(plan)
    assert status is not None
    assert status["updateRevision"] == rev
    assert status["currentRevision"] == rev
    assert status["labelSelector"] == "app=web"
    assert status["replicas"] == 0
    assert status["expectedUpdatedReplicas"] == 10


def test_new_pods_start_preparing_normal_unless_bound_by_the_template_without_a_hook() -> None:
    """kruise creates every pod PreparingNormal; only a template naming its node, with no preNormal
    hook, is Normal at once (kruise's next pass would move it: its HasPodScheduled is nodeName set)."""
    states = "lifecycle.apps.kruise.io/state"
    hooked = cloneset(2, lifecycle={"preNormal": {"labelsHandler": {"warm": "yes"}}})
    assert {label(p, states) for p in created(run(hooked, []))} == {"PreparingNormal"}
    plain = cloneset(2, lifecycle={"preDelete": {"labelsHandler": {"hold": "true"}}})
    assert {label(p, states) for p in created(run(plain, []))} == {"PreparingNormal"}

    def bound(cs: CloneSet) -> CloneSet:
        wire = cs.to_wire()
        wire["spec"]["template"]["spec"]["nodeName"] = "node-1"  # type: ignore[index]
        return CloneSet.from_wire(wire)

    assert {label(p, states) for p in created(run(bound(cloneset(2)), []))} == {"Normal"}
    assert {label(p, states) for p in created(run(bound(hooked), []))} == {"PreparingNormal"}


@pytest.mark.parametrize(
    ("node", "hook", "expected"),
    [
        ("", None, None),  # unschedulable / not yet scheduled: stays PreparingNormal
        ("node-1", None, "Normal"),  # scheduled, no hook
        ("node-1", {"labelsHandler": {"warm": "yes"}}, None),  # scheduled but not hooked
    ],
)
def test_preparing_normal_moves_to_normal_once_scheduled(
    node: str, hook: dict[str, object] | None, expected: str | None
) -> None:
    cs = cloneset(1, lifecycle=None if hook is None else {"preNormal": hook})
    p = pod(
        "web-a", rev_name(cs), state="PreparingNormal", ready=False, phase="Pending", scheduled=node != ""
    )
    key = "lifecycle.apps.kruise.io/state"
    labels = [dict(w.get("metadata", {}).get("labels", {})) for w in patched(run(cs, [p])).get("web-a", [])]  # type: ignore[attr-defined]
    writes = [found[key] for found in labels if key in found]
    assert writes == ([] if expected is None else [expected])


def test_same_seed_same_plan_other_seed_other_names() -> None:
    cs = cloneset(3)
    assert run(cs, seed=1) == run(cs, seed=1)
    assert created(run(cs, seed=1)) != created(run(cs, seed=2))


def test_scale_max_unavailable_limits_creation_and_says_so() -> None:
    cs = cloneset(6, scale={"maxUnavailable": 2})
    rev = rev_name(cs)
    pods = [pod("web-a", rev), pod("web-b", rev), pod("web-c", rev, ready=False)]
    plan = run(cs, pods)
    assert batch_sizes(plan) == [1]
    assert events(plan) == [
        ("ScaleUpLimited", "scaleUp is limited because of scaleStrategy.maxUnavailable, limit: 1")
    ]


def test_steady_state_plans_nothing() -> None:
    cs = cloneset(2)
    rev = rev_name(cs)
    pods = [pod("web-a", rev), pod("web-b", rev)]
    status = {
        "observedGeneration": 1,
        "replicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "updatedReplicas": 2,
        "updatedReadyReplicas": 2,
        "updatedAvailableReplicas": 2,
        "expectedUpdatedReplicas": 2,
        "updateRevision": rev,
        "currentRevision": rev,
        "collisionCount": 0,
        "labelSelector": "app=web",
    }
    cs = cloneset(2, status=status)
    plan = run(cs, pods)
    assert plan.actions == ()
    assert plan.requeue_after is None


def test_scale_in_victim_order() -> None:
    cs = cloneset(3, strategy={"maxUnavailable": 10})
    rev = rev_name(cs)
    pods = [
        pod("web-old", rev, created_ago=9000),
        pod("web-cheap", rev, annotations={"controller.kubernetes.io/pod-deletion-cost": "-5"}),
        pod("web-unscheduled", rev, scheduled=False, phase="Pending", ready=False),
        pod("web-pending", rev, phase="Pending", ready=False),
        pod("web-notready", rev, ready=False),
        pod("web-young", rev, created_ago=60, ready_for=30),
        pod("web-costly", rev, annotations={"controller.kubernetes.io/pod-deletion-cost": "100"}),
    ]
    plan = run(cs, pods)
    assert deleted(plan) == ["web-unscheduled", "web-pending", "web-notready", "web-cheap"]


def test_scale_in_prefers_crowded_nodes_then_restarts() -> None:
    cs = cloneset(2)
    rev = rev_name(cs)
    pods = [
        pod("web-a", rev, node="n1"),
        pod("web-b", rev, node="n1", restarts=3),
        pod("web-c", rev, node="n2"),
    ]
    assert deleted(run(cs, pods)) == ["web-b"]


def test_scale_in_limited_by_max_unavailable_for_ready_pods() -> None:
    cs = cloneset(1, strategy={"maxUnavailable": 0, "maxSurge": 1})  # kruise refuses maxSurge 0 here
    rev = rev_name(cs)
    pods = [pod("web-a", rev), pod("web-b", rev), pod("web-c", rev, ready=False)]
    # 2 surplus pods: the unready one goes at once; one ready one fits the budget (0 + 3 - 1 - 1).
    assert deleted(run(cs, pods)) == ["web-c", "web-a"]


def test_delete_removes_pvcs_with_the_same_instance_id() -> None:
    claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
    cs = cloneset(1, claim_templates=[claim])
    rev = rev_name(cs)
    pvcs = [_pvc("data-web-a", "a"), _pvc("data-web-b", "b")]
    plan = run(cs, [pod("web-a", rev), pod("web-b", rev)], pvcs=pvcs)
    delete = [a for a in plan.actions if isinstance(a, DeletePod)]
    assert len(delete) == 1
    assert delete[0].claims == (f"data-{delete[0].name}",)


def _pvc(name: str, instance: str, *, owner: str = UID) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "labels": {"app": "web", "apps.kruise.io/cloneset-instance-id": instance},
            "ownerReferences": [{"kind": "CloneSet", "name": "web", "uid": owner, "controller": True}],
        }
    }


def test_new_pod_gets_pvcs_and_reuses_an_orphaned_pvc_id() -> None:
    claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
    cs = cloneset(2, claim_templates=[claim])
    rev = rev_name(cs)
    plan = run(cs, [pod("web-a", rev)], pvcs=[_pvc("data-web-a", "a"), _pvc("data-web-zzzzz", "zzzzz")])
    [batch] = [a for a in plan.actions if isinstance(a, CreatePods)]
    [new] = batch.pods
    assert new.pod["metadata"]["name"] == "web-zzzzz"  # type: ignore[index]
    assert new.claims == ()  # the PVC exists: reused, not created
    volumes = new.pod["spec"]["volumes"]  # type: ignore[index]
    assert volumes == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-zzzzz"}}]


def test_new_pod_creates_missing_pvc_first() -> None:
    claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
    cs = cloneset(1, claim_templates=[claim])
    [batch] = [a for a in run(cs).actions if isinstance(a, CreatePods)]
    [new] = batch.pods
    [pvc] = new.claims
    pod_id = label(new.pod, "apps.kruise.io/cloneset-instance-id")
    assert pvc["metadata"]["name"] == f"data-web-{pod_id}"  # type: ignore[index]
    assert label(pvc, "apps.kruise.io/cloneset-instance-id") == pod_id
    assert pvc["metadata"]["ownerReferences"][0]["uid"] == UID  # type: ignore[index]


def test_disable_pvc_reuse_deletes_orphaned_pvcs_and_hands_others_to_finished_pods() -> None:
    claim = {"metadata": {"name": "data"}, "spec": {}}
    cs = cloneset(1, claim_templates=[claim], scale={"disablePVCReuse": True})
    rev = rev_name(cs)
    finished = pod("web-f", rev, phase="Failed", ready=False)
    pvcs = [_pvc("data-web-a", "a"), _pvc("data-web-gone", "gone"), _pvc("data-web-f", "f")]
    plan = run(cs, [pod("web-a", rev), finished], pvcs=pvcs)
    kinds = [(type(a).__name__, getattr(a, "name", "")) for a in plan.actions]
    assert ("DeleteClaim", "data-web-gone") in kinds
    assert ("PatchClaim", "data-web-f") in kinds
    assert ("DeleteClaim", "data-web-a") not in kinds


def _specified(rev: str, name: str, **kwargs: Any) -> dict[str, Any]:
    return pod(name, rev, labels={"apps.kruise.io/specified-delete": "true"}, **kwargs)


def test_specified_delete_with_surge_replaces_before_deleting() -> None:
    """v0.9.0 replacement: maxUnavailable=0, maxSurge=1; capacity never dips."""
    cs = cloneset(3, strategy={"maxUnavailable": 0, "maxSurge": 1})
    rev = rev_name(cs)
    base = [pod("web-a", rev), pod("web-b", rev)]
    # step 1/3: create the replacement, delete nothing
    plan = run(cs, [*base, _specified(rev, "web-x")])
    assert batch_sizes(plan) == [1]
    assert deleted(plan) == []
    # step 2/3: replacement not ready yet: wait
    new = pod("web-n", rev, ready=False)
    plan = run(cs, [*base, _specified(rev, "web-x"), new])
    assert pod_actions(plan) == [] or all(a.__class__.__name__ == "PatchPod" for a in pod_actions(plan))
    assert deleted(plan) == []
    assert batch_sizes(plan) == []
    # step 3/3: replacement ready: delete the specified pod
    plan = run(cs, [*base, _specified(rev, "web-x"), pod("web-n", rev)])
    assert deleted(plan) == ["web-x"]


def test_specified_delete_examples_of_the_v090_release() -> None:
    rev = rev_name(cloneset(3))
    a_unavailable = pod("web-a", rev, ready=False)
    # maxUnavailable=2, maxSurge=1, a unavailable, specify b -> delete b now
    cs = cloneset(3, strategy={"maxUnavailable": 2, "maxSurge": 1})
    plan = run(cs, [a_unavailable, _specified(rev, "web-b"), pod("web-c", rev)])
    assert deleted(plan) == ["web-b"]
    # maxUnavailable=1, maxSurge=1, a unavailable, specify b -> create first
    cs = cloneset(3, strategy={"maxUnavailable": 1, "maxSurge": 1})
    plan = run(cs, [a_unavailable, _specified(rev, "web-b"), pod("web-c", rev)])
    assert deleted(plan) == []
    assert batch_sizes(plan) == [1]
    # same, specify a itself -> delete a at once (already unavailable)
    plan = run(cs, [_specified(rev, "web-a", ready=False), pod("web-b", rev), pod("web-c", rev)])
    assert deleted(plan) == ["web-a"]


def test_pods_to_delete_deletes_and_is_pruned() -> None:
    cs = cloneset(2, scale={"podsToDelete": ["web-b", "web-gone"]})
    rev = rev_name(cs)
    plan = run(cs, [pod("web-a", rev), pod("web-b", rev)])
    assert deleted(plan) == ["web-b"]
    [prune] = [a for a in plan.actions if isinstance(a, PatchCloneSet)]
    assert prune.patch == {"spec": {"scaleStrategy": {"podsToDelete": ["web-b"]}}}
    assert isinstance(plan.actions[-1], UpdateStatus)


def test_scale_in_waits_while_deletions_are_pending() -> None:
    cs = cloneset(1, strategy={"maxUnavailable": 0, "maxSurge": 1})  # kruise refuses maxSurge 0 here
    rev = rev_name(cs)
    plan = run(cs, [pod("web-a", rev), _specified(rev, "web-b"), pod("web-c", rev)])
    # surplus 2, one specified; ready budget 0 + 3 - 1 = 2 -> the specified one goes, no scale-in yet
    assert deleted(plan) == ["web-b"]


def test_pre_delete_hook_parks_the_pod_then_deletes_when_released() -> None:
    hook = {"preDelete": {"labelsHandler": {"hold": "true"}}}
    cs = cloneset(1, lifecycle=hook)
    rev = rev_name(cs)
    held = pod("web-b", rev, labels={"hold": "true"})
    plan = run(cs, [pod("web-a", rev, created_ago=99999), held])
    assert deleted(plan) == []
    assert (
        patched(plan)["web-b"][0]["metadata"]["labels"]["lifecycle.apps.kruise.io/state"] == "PreparingDelete"
    )  # type: ignore[index]
    # still held: nothing
    parked = pod("web-b", rev, labels={"hold": "true"}, state="PreparingDelete")
    assert pod_actions(run(cs, [pod("web-a", rev), parked])) == []
    # hook released: delete
    released = pod("web-b", rev, state="PreparingDelete")
    assert deleted(run(cs, [pod("web-a", rev), released])) == ["web-b"]


def test_pre_delete_with_mark_pod_not_ready_sets_kruise_pod_ready_false() -> None:
    hook = {"preDelete": {"labelsHandler": {"hold": "true"}, "markPodNotReady": True}}
    cs = cloneset(0, lifecycle=hook)
    rev = rev_name(cs)
    held = pod("web-a", rev, labels={"hold": "true"})
    held["spec"]["readinessGates"].append({"conditionType": "KruisePodReady"})
    held["status"]["conditions"].append({"type": "KruisePodReady", "status": "True"})
    plan = run(cs, [held])
    [status_patch] = patched(plan, "status")["web-a"]
    conditions = status_patch["status"]["conditions"]  # type: ignore[index]
    assert conditions[0]["type"] == "KruisePodReady"
    assert conditions[0]["status"] == "False"
    assert conditions[0]["message"] == '[{"userAgent":"Lifecycle","key":"preDeleteHook"}]'
    assert conditions[1]["type"] == "Ready"
    assert conditions[1]["status"] == "False"


def test_scale_up_cancels_preparing_delete_first() -> None:
    cs = cloneset(2, lifecycle={"preDelete": {"labelsHandler": {"hold": "true"}}})
    rev = rev_name(cs)
    parked = pod("web-b", rev, labels={"hold": "true"}, state="PreparingDelete")
    plan = run(cs, [pod("web-a", rev), parked])
    assert batch_sizes(plan) == []
    assert (
        patched(plan)["web-b"][0]["metadata"]["labels"]["lifecycle.apps.kruise.io/state"] == "PreparingNormal"
    )  # type: ignore[index]


def test_revision_is_adopted_when_it_already_exists() -> None:
    cs = cloneset(1)
    plan = run(cs, [], revisions=[revision(cs)])
    assert not any(isinstance(a, CreateRevision) for a in plan.actions)


def test_pods_are_refreshed_in_a_scaling_pass_too() -> None:
    """A new pod gets InPlaceUpdateReady and Normal even while more pods are being created."""
    cs = cloneset(3)
    rev = rev_name(cs)
    fresh = pod("web-a", rev, state="PreparingNormal", in_place_ready=None, ready=False)
    plan = run(cs, [fresh])
    assert batch_sizes(plan) == [1, 1]
    assert list(patched(plan, "status")) == ["web-a"]
    assert list(patched(plan)) == ["web-a"]
    first_create = next(i for i, a in enumerate(plan.actions) if isinstance(a, CreatePods))
    last_patch = max(i for i, a in enumerate(plan.actions) if type(a).__name__ == "PatchPod")
    assert last_patch < first_create


def test_replacement_waits_for_the_terminating_pod_whose_pvc_it_reuses() -> None:
    claim = {"metadata": {"name": "data"}, "spec": {}}
    cs = cloneset(2, claim_templates=[claim])
    rev = rev_name(cs)
    terminating = pod("web-x", rev)
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T11:59:00Z"
    pvcs = [_pvc("data-web-a", "a"), _pvc("data-web-x", "x")]
    plan = run(cs, [pod("web-a", rev), terminating], pvcs=pvcs)
    assert batch_sizes(plan) == []  # web-x is still there: its replacement (same name, same PVC) waits
    assert plan.requeue_after == 2.0
    plan = run(cs, [pod("web-a", rev)], pvcs=pvcs)  # gone: the replacement takes its name and PVC
    [new] = created(plan)
    assert new["metadata"]["name"] == "web-x"  # type: ignore[index]


def test_a_finished_pod_keeps_its_id_and_the_replacement_gets_a_fresh_one() -> None:
    claim = {"metadata": {"name": "data"}, "spec": {}}
    cs = cloneset(1, claim_templates=[claim])
    failed = pod("web-x", rev_name(cs), phase="Failed", ready=False)
    [new] = created(run(cs, [failed], pvcs=[_pvc("data-web-x", "x")]))
    assert new["metadata"]["name"] != "web-x"  # type: ignore[index]


ZONE = "topology.kubernetes.io/zone"
NODE_ZONES = {"n1": "a", "n2": "a", "n4": "a", "n3": "b"}


def _zone_spread(cs: CloneSet) -> CloneSet:
    wire = cs.to_wire()
    wire["spec"]["template"]["spec"]["topologySpreadConstraints"] = [
        {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway"}
    ]
    return CloneSet.from_wire(wire)


def test_scale_in_ranks_by_topology_spread_when_the_template_has_constraints() -> None:
    # zone a: one pod on each of n1, n2, n4; zone b: two pods sharing n3. Same-node ranking
    # would take a pod from crowded n3; zone ranking takes one from crowded zone a.
    def pods(rev: str) -> list[dict[str, Any]]:
        return [
            pod("web-a1", rev, node="n1"),
            pod("web-a2", rev, node="n2"),
            pod("web-a4", rev, node="n4", created_ago=60, ready_for=30),
            pod("web-b1", rev, node="n3"),
            pod("web-b2", rev, node="n3"),
        ]

    labels = {node: {ZONE: zone} for node, zone in NODE_ZONES.items()}
    plain = cloneset(4)
    assert deleted(run(plain, pods(rev_name(plain)))) in (["web-b1"], ["web-b2"])

    spread = _zone_spread(cloneset(4))
    observed = ObservedCloneSet.of(
        spread, pods(rev_name(spread)), [], [revision(spread)], name_seed=7, node_labels=labels
    )
    # in zone a the youngest-ready pod sorts first and gets the highest rank: 3 * log(2 + 2)
    assert deleted(plan(observed, PlannerConfig(), NOW)) == ["web-a4"]


def test_spread_ranking_leaves_out_pods_on_nodes_it_could_not_read() -> None:
    spread = _zone_spread(cloneset(1))
    rev = rev_name(spread)
    pods = [pod("web-a1", rev, node="n1"), pod("web-x", rev, node="gone")]
    observed = ObservedCloneSet.of(
        spread, pods, [], [revision(spread)], name_seed=7, node_labels={"n1": {ZONE: "a"}}
    )
    # web-a1 ranks 1 * log(1 + 2) in zone a; web-x on an unreadable node ranks 0
    assert deleted(plan(observed, PlannerConfig(), NOW)) == ["web-a1"]
