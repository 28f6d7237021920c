"""kruise-manager's container-launch-priority controller, one pod at a time (tables by hand from
kruise v1.9.1 pkg/controller/containerlaunchpriority/container_launch_priority_controller_test.go:
TestFindNextPriorities, TestHandle, TestReconcile, TestShouldEnqueue), through the pure planner,
the worker's plan (the writes it sends) and the watcher's routing (kruise's event filter).

Expected barrier data, marks and routing are kruise's table values; the handle table is played
twice as kruise's is (a second pass on the written state changes nothing).
"""

from __future__ import annotations

from typing import Any

import pytest

from schemas.bus.envelope import make_key
from watcher.config import CATALOGUE, POD, WatcherConfig, WatchTarget
from watcher.mapping import Router
from workers.containerlaunchpriority import planner, worker
from workers.podmechanics import launchpriority as lp
from workers.runtime import actions as runtime
from workers.runtime.contract import TerminalError
from workers.runtime.snapshot import KeyedSnapshot, NoConfig

NS, POD_NAME, CM = "default", "fake-pod", "fake-pod-barrier"
COMPLETED = "apps.kruise.io/container-launch-priority-completed"


def _env(priority: int) -> list[dict[str, Any]]:
    key = f"p_{priority}"
    return [{"name": "KRUISE_CONTAINER_BARRIER", "valueFrom": {"configMapKeyRef": {"name": CM, "key": key}}}]


def _six(ready: dict[str, bool], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """kruise's table pod: a=3 b=5 c=0 d (none) e=-1 f=3."""
    prios = {"a": 3, "b": 5, "c": 0, "e": -1, "f": 3}
    containers = [{"name": n, **({"env": _env(prios[n])} if n in prios else {})} for n in "abcdef"]
    meta: dict[str, Any] = {"namespace": NS, "name": POD_NAME, "uid": "u-1"}
    if annotations:
        meta["annotations"] = annotations
    statuses = [{"name": n, "ready": r} for n, r in ready.items()]
    return {"metadata": meta, "spec": {"containers": containers}, "status": {"containerStatuses": statuses}}


def _barrier(*priorities: int) -> dict[str, Any]:
    return {"metadata": {"namespace": NS, "name": CM}, "data": {f"p_{p}": "true" for p in priorities}}


# -- findNextPriorities --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        (_six({"a": False, "b": True}), [-1, 0, 3, 3]),
        (_six({"a": False, "b": True, "f": True}), [-1, 0, 3]),
    ],
)
def test_find_next_priorities(pod: dict[str, Any], expected: list[int]) -> None:
    assert lp.next_priorities(pod) == expected


def test_find_next_priorities_kruise_second_case_with_f_at_4() -> None:
    """kruise's first TestFindNextPriorities row has f at 4: [-1, 0, 3, 4]."""
    pod = _six({"a": False, "b": True})
    pod["spec"]["containers"][5]["env"] = _env(4)
    assert lp.next_priorities(pod) == [-1, 0, 3, 4]


# -- handle (TestHandle: existed -> expected keys, completed) ------------------------------------

HANDLE = [
    ({}, (), (5,), False),
    ({"a": False, "b": True, "f": True}, (5, 3), (5, 3), False),
    ({"a": True, "b": True, "f": True}, (5, 3), (5, 3, 0), False),
    ({"a": True, "b": True, "c": True, "f": True}, (5, 3, 0), (5, 3, 0, -1), True),
]


def _apply(pod: dict[str, Any], barrier: dict[str, Any], decided: planner.Decision) -> None:
    """What the API server makes of the decision's writes."""
    if decided.add_key is not None:
        barrier["data"][decided.add_key] = "true"
    if decided.mark_completed:
        pod["metadata"].setdefault("annotations", {})[COMPLETED] = "true"


@pytest.mark.parametrize(("ready", "existed", "expected", "completed"), HANDLE)
def test_handle(
    ready: dict[str, bool], existed: tuple[int, ...], expected: tuple[int, ...], completed: bool
) -> None:
    pod, barrier = _six(ready), _barrier(*existed)
    for _ in range(2):  # kruise handles twice: the second pass writes nothing new
        decided = planner.decide(planner.Observed(pod, barrier))
        assert decided.create_barrier is None
        _apply(pod, barrier, decided)
        assert barrier["data"] == {f"p_{p}": "true" for p in expected}
        assert (pod["metadata"].get("annotations", {}).get(COMPLETED) == "true") is completed


# -- Reconcile (TestReconcile) and the writes the worker sends -----------------------------------


def _snapshot(pod: dict[str, Any] | None, barrier: dict[str, Any] | None) -> worker.Snapshot:
    return KeyedSnapshot(NS, POD_NAME, planner.Observed(pod, barrier))


def test_reconcile_one_container_pod0() -> None:
    """kruise's pod0: one container at p_100, not ready, empty barrier: p_100 added, completed."""
    pod = {
        "metadata": {"namespace": NS, "name": "pod0", "uid": "u0"},
        "spec": {"containers": [{"name": "testContainer1", "env": _env(100)}]},
        "status": {"containerStatuses": [{"name": "testContainer1", "ready": False}]},
    }
    decided = planner.decide(planner.Observed(pod, {"metadata": {"name": "pod0-barrier"}}))
    assert (decided.add_key, decided.mark_completed) == ("p_100", True)


def test_reconcile_two_containers_pod1() -> None:
    """kruise's pod1: p_100 and p_1000, neither ready: p_1000 first, not completed."""
    pod = {
        "metadata": {"namespace": NS, "name": "pod1", "uid": "u1"},
        "spec": {"containers": [{"name": "c1", "env": _env(100)}, {"name": "c2", "env": _env(1000)}]},
        "status": {"containerStatuses": [{"name": "c2", "ready": False}, {"name": "c1", "ready": False}]},
    }
    decided = planner.decide(planner.Observed(pod, {"metadata": {"name": "pod1-barrier"}, "data": {}}))
    assert (decided.add_key, decided.mark_completed) == ("p_1000", False)


def test_a_missing_barrier_is_created_owned_by_the_pod_then_opened() -> None:
    plan = worker.plan(_snapshot(_six({}), None), NoConfig(), 0.0)
    assert plan.actions == (
        runtime.CreateObject(
            worker.CONFIGMAPS,
            NS,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": CM,
                    "namespace": NS,
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": POD_NAME, "uid": "u-1"}],
                },
            },
        ),
        runtime.PatchObject(worker.CONFIGMAPS, NS, CM, {"data": {"p_5": "true"}}),
    )


def test_the_last_key_marks_the_pod_with_its_uid_as_precondition() -> None:
    pod = _six({"a": True, "b": True, "c": True, "f": True})
    plan = worker.plan(_snapshot(pod, _barrier(5, 3, 0)), NoConfig(), 0.0)
    assert plan.actions == (
        runtime.PatchObject(worker.CONFIGMAPS, NS, CM, {"data": {"p_-1": "true"}}),
        runtime.PatchObject(
            worker.POD, NS, POD_NAME, {"metadata": {"uid": "u-1", "annotations": {COMPLETED: "true"}}}
        ),
    )


def test_nothing_to_write_while_the_opened_containers_start() -> None:
    plan = worker.plan(_snapshot(_six({"b": False}), _barrier(5)), NoConfig(), 0.0)
    assert plan.actions == ()


def test_a_completed_pod_is_not_patched_again() -> None:
    pod = _six({n: True for n in "abcdef"}, annotations={COMPLETED: "true"})
    assert worker.plan(_snapshot(pod, _barrier(5, 3, 0, -1)), NoConfig(), 0.0).actions == ()


def test_a_pod_with_no_priorities_left_is_marked() -> None:
    """kruise: no priorities left -> patchCompleted (the barrier exists)."""
    pod = _six({n: True for n in "abcdef"})
    plan = worker.plan(_snapshot(pod, _barrier(5)), NoConfig(), 0.0)
    assert [type(a).__name__ for a in plan.actions] == ["PatchObject"]
    assert plan.actions[0] == runtime.PatchObject(
        worker.POD, NS, POD_NAME, {"metadata": {"uid": "u-1", "annotations": {COMPLETED: "true"}}}
    )


def test_a_gone_pod_plans_nothing() -> None:
    assert worker.plan(_snapshot(None, _barrier(5)), NoConfig(), 0.0).actions == ()


def test_a_barrier_env_kruise_cannot_read_is_dead_lettered_with_what_to_fix() -> None:
    pod = _six({})
    pod["spec"]["containers"][0]["env"] = [{"name": "KRUISE_CONTAINER_BARRIER", "value": "p_1"}]
    with pytest.raises(TerminalError, match=r"KRUISE_CONTAINER_BARRIER has no valueFrom\.configMapKeyRef"):
        worker.plan(_snapshot(pod, None), NoConfig(), 0.0)


# -- the watcher's routing: kruise's shouldEnqueue without the barrier read ----------------------

TYPE = next(spec for spec in CATALOGUE if spec.name == "containerlaunchpriority")
KEY = make_key("containerlaunchpriority", NS, POD_NAME)


def _routed(pod: dict[str, Any]) -> bool:
    keys = Router(WatcherConfig(types=(TYPE,))).keys(WatchTarget(POD), pod)
    assert keys in ((), (KEY,))
    return keys == (KEY,)


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        # TestShouldEnqueue rows whose answer needs no barrier: nothing ready -> enqueue
        (_six({}), True),
        (_six({"a": True, "b": True, "f": True}), True),
        (_six({"a": True, "b": True, "c": True, "f": True}), True),
        # completed annotation -> never
        (_six({"a": True, "b": True, "c": True, "f": False}, annotations={COMPLETED: "true"}), False),
        # every prioritized container ready -> no next priority
        (_six({n: True for n in "abcef"}), False),
        # a pod without barrier env
        (
            {
                "metadata": {"namespace": NS, "name": POD_NAME},
                "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            },
            False,
        ),
    ],
)
def test_the_watcher_routes_pods_waiting_on_their_barrier(pod: dict[str, Any], expected: bool) -> None:
    assert _routed(pod) is expected


def test_containers_ready_stops_the_routing() -> None:
    pod = _six({})
    pod["status"]["conditions"] = [{"type": "ContainersReady", "status": "True"}]
    assert not _routed(pod)
    pod["status"]["conditions"] = [{"type": "ContainersReady", "status": "False"}]
    assert _routed(pod)


def test_an_unreadable_barrier_env_is_routed_so_the_worker_reports_it() -> None:
    pod = _six({})
    pod["spec"]["containers"][0]["env"] = [{"name": "KRUISE_CONTAINER_BARRIER", "value": "x"}]
    assert _routed(pod)


def test_the_type_s_resync_triggers_only_its_own_keys() -> None:
    """A resync of ``containerlaunchpriority`` lists pods; the CloneSets owning them are not
    triggered by it (they have resyncs of their own). An informer's relist still feeds both."""
    from watcher.pipeline import Pipeline

    owner = {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": "web", "controller": True}
    pod = _six({})
    pod["metadata"].update(ownerReferences=[owner], resourceVersion="7")
    cloneset = next(spec for spec in CATALOGUE if spec.name == "cloneset")
    both = (make_key("cloneset", NS, "web"), KEY)

    def pending(only: str | None) -> set[str]:
        pipeline = Pipeline(Router(WatcherConfig(types=(cloneset, TYPE))))
        pipeline.relist("s", WatchTarget(POD), [pod], "", round_id="r", only=only)
        return {str(trigger.envelope.key) for _, trigger in pipeline.ledger.take(100)}

    assert pending("containerlaunchpriority") == {KEY}
    assert pending(None) == set(both)
