"""Adaptive scheduling (``scheduleStrategy.type: Adaptive``, no reserved pods): which subsets are
unschedulable, their ``Schedulable`` condition, and the allocation that moves replicas away.

Expected values are worked by hand from kruise v1.9.1's
``calculateSubsetsStatusForDefaultAdaptiveStrategy``, ``GetTimeBeforePendingTimeout`` and
``adaptiveAllocator``, and the steps of its e2e spec "adaptive united deployment basic"
(subsets max 2 / max 2 / unbounded, subset-1 unschedulable, rescheduleCriticalSeconds 10,
unschedulableDuration 10).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.unit.uniteddeployment.test_planner import NOW, _ud
from workers.podmechanics.kube_json import format_time
from workers.runtime import actions as act
from workers.uniteddeployment.adaptive import SubsetState, assess, pending_timeout
from workers.uniteddeployment.allocation import SubsetSpec, allocate
from workers.uniteddeployment.planner import ObservedUnitedDeployment, plan

E2E_SUBSETS = (
    SubsetSpec("subset-0", max_replicas=2),
    SubsetSpec("subset-1", max_replicas=2),
    SubsetSpec("subset-2"),
)
ADAPTIVE = {"type": "Adaptive", "adaptive": {"rescheduleCriticalSeconds": 10, "unschedulableDuration": 10}}


def _pending(age: float, *, reason: str = "Unschedulable", node: str = "") -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "creationTimestamp": format_time(NOW - timedelta(seconds=age))},
        "spec": {"nodeName": node} if node else {},
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": reason}],
        },
    }


def _adaptive_ud(**status: Any) -> dict[str, Any]:
    ud = _ud(status=status) if status else _ud()
    ud["spec"]["topology"]["scheduleStrategy"] = ADAPTIVE
    return ud


def test_a_pod_pending_unschedulable_beyond_the_critical_seconds_times_out() -> None:
    critical = timedelta(seconds=10)
    assert pending_timeout(_pending(11), critical, NOW) == (True, None)
    assert pending_timeout(_pending(4), critical, NOW) == (False, 6.0), "check again when it would"
    assert pending_timeout(_pending(60, reason="SchedulerError"), critical, NOW) == (False, None)
    assert pending_timeout(_pending(60, node="n1"), critical, NOW) == (False, None), "bound: not pending"


def test_a_subset_with_a_timed_out_pod_turns_unschedulable_for_unschedulable_duration() -> None:
    ud = _adaptive_ud()
    states = {
        "a": SubsetState(replicas=1, ready=1, pods=()),
        "b": SubsetState(replicas=2, ready=0, pods=(_pending(11), _pending(3))),
    }
    found = assess(ud, {"a": (), "b": (), "c": ()}, states, NOW)
    assert found.unschedulable == {"a": False, "b": True}
    assert found.conditions["b"] == [
        {
            "type": "Schedulable",
            "status": "False",
            "reason": "reschedule",
            "message": "timeout pending pods found",
            "lastTransitionTime": format_time(NOW),
        }
    ]
    assert found.conditions["a"] == []
    assert found.requeue_after == 7.0, "the younger pod times out in 7 s (before the 10 s recovery)"


def test_an_unschedulable_subset_recovers_after_unschedulable_duration() -> None:
    def condition(age: int) -> dict[str, Any]:
        since = format_time(NOW - timedelta(seconds=age))
        return {"type": "Schedulable", "status": "False", "reason": "reschedule", "lastTransitionTime": since}

    ud = _adaptive_ud()
    states = {"b": SubsetState(replicas=0, ready=0, pods=())}
    still = assess(ud, {"b": (condition(4),)}, states, NOW)
    assert still.unschedulable == {"b": True}
    assert still.requeue_after == 6.0
    assert still.conditions["b"] == [condition(4)], "unchanged while it lasts"
    recovered = assess(ud, {"b": (condition(11),)}, states, NOW)
    assert recovered.unschedulable == {"b": False}
    assert recovered.conditions["b"] == [
        {
            "type": "Schedulable",
            "status": "True",
            "reason": "recover",
            "message": "unschedulable subset recovered after 10.000000 seconds",
            "lastTransitionTime": format_time(NOW),
        }
    ]


def test_adaptive_allocation_follows_kruise_s_e2e_steps() -> None:
    def alloc(total: int, ready: dict[str, int], stuck: set[str]) -> list[int]:
        unschedulable = {name: name in stuck for name in ready}
        got = allocate(total, E2E_SUBSETS, {}, adaptive=True, ready=ready, unschedulable=unschedulable)
        return [got["subset-0"], got["subset-1"], got["subset-2"]]

    # create 3, subset-1 stuck with no ready pod: its replica goes to subset-2
    assert alloc(3, {"subset-0": 2, "subset-1": 0, "subset-2": 0}, {"subset-1"}) == [2, 0, 1]
    assert alloc(5, {"subset-0": 2, "subset-1": 0, "subset-2": 1}, {"subset-1"}) == [2, 0, 3]
    assert alloc(4, {"subset-0": 2, "subset-1": 0, "subset-2": 3}, {"subset-1"}) == [2, 0, 2]
    # recovered: running pods stay where they are, the new replica goes back to subset-1
    assert alloc(5, {"subset-0": 2, "subset-1": 0, "subset-2": 2}, set()) == [2, 1, 2]
    # no subset unschedulable and nothing ready: the plain min/max order
    assert alloc(3, {}, set()) == [2, 1, 0]


def test_planner_moves_a_stuck_subset_s_replicas_and_requeues() -> None:
    ud = _adaptive_ud()
    ud["spec"]["replicas"] = 3
    ud["spec"]["topology"]["subsets"] = [
        {"name": "a", "maxReplicas": 2},
        {"name": "b", "maxReplicas": 2},
        {"name": "c"},
    ]
    ud["spec"].pop("updateStrategy")
    first = plan(ObservedUnitedDeployment(ud), NOW)
    revision = next(
        a.body
        for a in first.actions
        if isinstance(a, act.CreateObject) and a.resource.kind == "ControllerRevision"
    )
    made = [
        a.body for a in first.actions if isinstance(a, act.CreateObject) and a.resource.plural == "clonesets"
    ]
    assert sorted(c["spec"]["replicas"] for c in made) == [0, 1, 2], "a 2, b 1, c 0 before anything is stuck"
    workloads = []
    for index, body in enumerate(made):
        subset = body["metadata"]["labels"]["apps.kruise.io/subset-name"]
        ready = {"a": 2, "b": 0, "c": 0}[subset]
        workloads.append(
            {
                **body,
                "metadata": {
                    **body["metadata"],
                    "name": f"w{index}",
                    "uid": f"u{index}",
                    "resourceVersion": "1",
                },
                "status": {"replicas": body["spec"]["replicas"], "readyReplicas": ready},
            }
        )
    stuck_pod = _pending(11)
    stuck_pod["metadata"]["labels"] = {"app": "web", "apps.kruise.io/subset-name": "b"}
    observed = ObservedUnitedDeployment(
        {**ud, "status": {"subsetStatuses": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}},
        (revision,),
        {"CloneSet": tuple(workloads)},
        (stuck_pod,),
    )
    second = plan(observed, NOW)
    patches = {
        a.name: a.patch["spec"]["replicas"]
        for a in second.actions
        if isinstance(a, act.PatchObject) and "replicas" in a.patch.get("spec", {})
    }
    by_subset = {
        w["metadata"]["name"]: w["metadata"]["labels"]["apps.kruise.io/subset-name"] for w in workloads
    }
    assert {by_subset[name]: replicas for name, replicas in patches.items()} == {"b": 0, "c": 1}
    (status,) = [a.body["status"] for a in second.actions if isinstance(a, act.UpdateStatus)]
    assert status["subsetReplicas"] == {"a": 2, "b": 0, "c": 1}
    entry = next(s for s in status["subsetStatuses"] if s["name"] == "b")
    assert [(c["type"], c["status"], c["reason"]) for c in entry["conditions"]] == [
        ("Schedulable", "False", "reschedule")
    ]
    assert second.requeue_after == 10.0, "look again when the subset may recover"
