"""``reserveUnschedulablePods``: the reservation allocator, which pods are reserved, the subsets'
``Schedulable`` condition, and a planner pass (pod label patches, maxUnavailable, status).

Expected values come from kruise v1.9.1: the rows of ``TestReservedAdaptiveAllocation``
(allocator_test.go), ``TestCalculateSubsetsStatusForReservedAdaptiveStrategy`` /
``TestPostProcessSubsetStatusForReservedAdaptiveStrategy`` (uniteddeployment_controller_test.go)
and ``TestCheckPodReserved`` (uniteddeployment_controller_utils_test.go), and the steps of its e2e
specs "adaptive united deployment with unschedulable pods reserved" / "... with reserved pods and
min replicas" (test/e2e/apps/v1alpha1/uniteddeployment.go:256, :352) worked by hand through
``allocateByMinMaxMapAndReservation`` and ``calculateSubsetsStatusForReservedAdaptiveStrategy``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from schemas.kruise.rules.uniteddeployment import STATELESS_ONLY, validate_uniteddeployment
from tests.unit.uniteddeployment.test_planner import NOW, _ud
from workers.podmechanics.kube_json import format_time
from workers.runtime import actions as act
from workers.runtime.contract import Plan
from workers.uniteddeployment.allocation import Reserved, SubsetSpec, allocate
from workers.uniteddeployment.planner import ObservedUnitedDeployment, plan
from workers.uniteddeployment.reservation import (
    RESERVED_LABEL,
    SubsetPods,
    after_allocation,
    assess,
    pod_reserved,
)

REV = "web-rev"


def _row(
    replicas: int,
    cur: list[int],
    reserved: list[int],
    mins: list[int] | None = None,
    maxes: list[int] | None = None,
) -> list[int]:
    """One row of kruise's ``TestReservedAdaptiveAllocation``: ``reserved`` -1 = marked, none reserved;
    min/max -1 = unset; the last subset has no max."""
    subsets = []
    existing = {}
    for i in range(len(cur)):
        low = mins[i] if mins is not None and mins[i] >= 0 else None
        high = maxes[i] if maxes is not None and maxes[i] >= 0 and i < len(cur) - 1 else None
        subsets.append(SubsetSpec(f"subset-{i}", min_replicas=low, max_replicas=high))
        kept = max(0, reserved[i])
        existing[f"subset-{i}"] = Reserved(
            replicas=cur[i], reserved_pods=kept, unschedulable=kept != 0, marked=reserved[i] != 0
        )
    got = allocate(replicas, subsets, {}, adaptive=True, reservation=existing)
    return [got[f"subset-{i}"] for i in range(len(cur))]


MIN1 = [1, 1, 1, 1]
MAX2 = [2, 2, 2, -1]
MIN2 = [2, 2, 2, 2]
MAX4 = [4, 4, 4, -1]


@pytest.mark.parametrize(
    ("replicas", "cur", "reserved", "mins", "maxes", "expect"),
    [
        (8, [0, 0, 0, 0], [0, 0, 0, 0], MIN1, MAX2, [2, 2, 2, 2]),
        (8, [2, 2, 2, 2], [0, 2, 2, 0], MIN1, MAX2, [2, 2, 2, 6]),
        (8, [2, 2, 2, 6], [0, 1, 1, 0], MIN1, MAX2, [2, 2, 2, 4]),
        (8, [2, 2, 2, 4], [0, -1, 1, 0], MIN1, MAX2, [2, 2, 2, 3]),
        (8, [2, 2, 2, 3], [0, 0, -1, 0], MIN1, MAX2, [2, 2, 2, 2]),
        (16, [2, 2, 2, 6], [0, 1, 1, 0], MIN2, MAX4, [4, 2, 2, 10]),
        (8, [4, 2, 2, 10], [0, 1, 1, 0], MIN1, MAX2, [2, 2, 2, 4]),
        (16, [4, 2, 2, 10], [0, -1, -1, 0], MIN2, MAX4, [4, 4, 4, 8]),
        (16, [4, 4, 4, 8], [0, 2, 2, 0], MIN2, MAX4, [4, 4, 4, 8]),
        (16, [4, 4, 4, 8], [0, -1, -1, 0], MIN2, MAX4, [4, 4, 4, 4]),
        (2, [0, 0, 0], [0, 0, 0], None, None, [2, 0, 0]),
        (2, [2, 0, 0], [2, 0, 0], None, None, [2, 2, 0]),
        (2, [2, 2, 0], [2, 2, 0], None, None, [2, 2, 2]),
        (4, [2, 2, 2], [2, 2, 0], None, None, [2, 2, 4]),
        (4, [2, 2, 4], [4, -1, 0], None, None, [2, 4, 2]),
        (4, [2, 4, 2], [4, 2, 0], None, None, [2, 4, 2]),
        (4, [2, 4, 2], [4, -1, 0], None, None, [2, 4, 0]),
        (2, [2, 2, 2], [2, 1, 0], None, None, [2, 2, 1]),
        (2, [2, 2, 1], [0, 1, 0], None, None, [2, 0, 0]),
        (2, [2, 2, 0], [0, 0, 0], None, None, [2, 0, 0]),
        (4, [2, 2, 4], [-1, 2, 0], None, None, [4, 2, 2]),
        (2, [0, 0, 0], [0, 0, 0], [1, 1, 0], None, [1, 1, 0]),
        (2, [1, 1, 0], [1, 1, 0], [1, 1, 0], None, [1, 1, 2]),
        (2, [1, 1, 2], [-1, 1, 0], [1, 1, 0], None, [2, 1, 1]),
        (2, [2, 1, 1], [1, 1, 0], [1, 1, 0], None, [2, 1, 1]),
        (2, [2, 1, 1], [0, 1, 0], [1, 1, 0], None, [2, 1, 0]),
        (2, [2, 1, 0], [0, -1, 0], [1, 1, 0], None, [1, 1, 0]),
    ],
)
def test_reservation_allocation_matches_kruise_s_table(
    replicas: int,
    cur: list[int],
    reserved: list[int],
    mins: list[int] | None,
    maxes: list[int] | None,
    expect: list[int],
) -> None:
    assert _row(replicas, cur, reserved, mins, maxes) == expect


def test_reservation_allocation_along_the_e2e_specs() -> None:
    # :256, three unbounded subsets, 2 replicas; subset-0 and subset-1 never schedule at first
    assert _row(2, [0, 0, 0], [0, 0, 0]) == [2, 0, 0], "created: subset-0 gets both"
    assert _row(2, [2, 0, 0], [2, 0, 0]) == [2, 2, 0], "subset-0's 2 reserved: temporary pods in subset-1"
    assert _row(2, [2, 2, 0], [2, 2, 0]) == [2, 2, 2], "subset-1's too: subset-2 runs them"
    assert _row(4, [2, 2, 2], [2, 2, 0]) == [2, 2, 4], "scale up while unschedulable"
    assert _row(2, [2, 2, 4], [2, 2, 0]) == [2, 2, 2], "scale down while unschedulable"
    # subset-0 recovers: its 2 pods leave the reservation while it is still marked
    assert _row(4, [2, 2, 4], [-1, 2, 0]) == [4, 2, 2]
    assert _row(4, [4, 2, 2], [2, 2, 0]) == [4, 2, 2], "its 2 new pods start reserved"
    assert _row(4, [4, 2, 2], [-1, 2, 0]) == [4, 0, 0], "they are Ready: the temporary pods go"
    assert _row(5, [4, 0, 0], [0, 0, 0]) == [5, 0, 0]
    # :352, subset-0 and subset-1 with minReplicas 1
    mins = [1, 1, -1]
    assert _row(2, [0, 0, 0], [0, 0, 0], mins) == [1, 1, 0]
    assert _row(2, [1, 1, 0], [1, 1, 0], mins) == [1, 1, 2]
    assert _row(4, [1, 1, 2], [1, 1, 0], mins) == [1, 1, 4]
    assert _row(4, [1, 1, 4], [-1, 1, 0], mins) == [4, 1, 3], "subset-0 recovered, still marked"
    assert _row(4, [4, 1, 3], [3, 1, 0], mins) == [4, 1, 3]
    assert _row(4, [4, 1, 3], [-1, 1, 0], mins) == [4, 1, 0]
    assert _row(5, [4, 1, 0], [0, 1, 0], mins) == [5, 1, 0]


def _pod(
    name: str,
    *,
    age: float,
    pending: bool,
    ready_for: float | None = None,
    label: str | None = None,
    revision: str = REV,
    subset: str = "subset-1",
) -> dict[str, Any]:
    labels = {
        "app": "web",
        "apps.kruise.io/subset-name": subset,
        "apps.kruise.io/controller-revision-hash": revision,
    }
    if label is not None:
        labels[RESERVED_LABEL] = label
    conditions: list[dict[str, Any]] = []
    if pending:
        conditions = [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"},
            {"type": "Ready", "status": "False", "lastTransitionTime": format_time(NOW)},
        ]
    else:
        since = NOW - timedelta(seconds=ready_for or 0)
        conditions = [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True", "lastTransitionTime": format_time(since)},
        ]
    return {
        "metadata": {
            "name": name,
            "labels": labels,
            "creationTimestamp": format_time(NOW - timedelta(seconds=age)),
        },
        "spec": {} if pending else {"nodeName": "n1"},
        "status": {"phase": "Pending" if pending else "Running", "conditions": conditions},
    }


def _reserving_ud(critical: int = 10, lasting: int = 30, **spec: Any) -> dict[str, Any]:
    ud = _ud(**spec)
    ud["spec"]["topology"]["scheduleStrategy"] = {
        "type": "Adaptive",
        "adaptive": {
            "reserveUnschedulablePods": True,
            "rescheduleCriticalSeconds": critical,
            "unschedulableDuration": lasting,
        },
    }
    return ud


def _schedulable(status: str) -> tuple[dict[str, Any], ...]:
    return ({"type": "Schedulable", "status": status},)


@pytest.mark.parametrize(
    ("condition", "pod", "reserved", "unschedulable", "requeue", "patches"),
    [
        # kruise's cases: rescheduleCriticalSeconds 10, unschedulableDuration 30
        ("True", _pod("p", age=1, pending=True), 0, False, 9.0, [("p", False)]),
        ("True", _pod("p", age=8, pending=False, ready_for=5, label="false"), 0, False, None, []),
        ("True", _pod("p", age=13, pending=True, label="false"), 1, True, 30.0, [("p", True)]),
        ("True", _pod("p", age=25, pending=False, ready_for=10, label="true"), 1, True, 20.0, []),
        (
            "True",
            _pod("p", age=50, pending=False, ready_for=35, label="true"),
            0,
            False,
            None,
            [("p", False)],
        ),
        ("False", _pod("p", age=1, pending=True), 1, True, None, [("p", True)]),
    ],
    ids=[
        "just created, pending",
        "running within the critical seconds",
        "pending until timeout",
        "recovered, not long enough",
        "recovered, long enough",
        "created in a previously unschedulable subset",
    ],
)
def test_which_pods_are_reserved_as_kruise_s_cases(
    condition: str,
    pod: dict[str, Any],
    reserved: int,
    unschedulable: bool,
    requeue: float | None,
    patches: list[tuple[str, bool]],
) -> None:
    found = assess(
        _reserving_ud(),
        {"subset-1": _schedulable(condition)},
        {"subset-1": SubsetPods(1, (pod,))},
        REV,
        NOW,
        NOW,
    )
    subset = found.subsets["subset-1"]
    assert (subset.reserved_pods, subset.unschedulable) == (reserved, unschedulable)
    assert subset.marked == (condition == "False")
    assert found.requeue_after == requeue
    assert [(p.pod, p.reserved) for p in found.patches] == patches
    (schedulable,) = found.conditions["subset-1"]
    assert schedulable["status"] == ("False" if unschedulable else "True")
    assert schedulable["message"] == ("reserved pods found" if unschedulable else "no reserved pods")


def test_check_pod_reserved_as_kruise_s_cases() -> None:
    critical, lasting = timedelta(seconds=10), timedelta(seconds=5)

    def check(pod: dict[str, Any], updated_since: float = 0) -> tuple[bool, float | None, bool]:
        return pod_reserved(pod, REV, NOW - timedelta(seconds=updated_since), critical, lasting, NOW)

    assert check(_pod("p", age=3, pending=True)) == (False, 7.0, False)
    assert check(_pod("p", age=11, pending=True)) == (True, 5.0, False)
    assert check(_pod("p", age=1, pending=False, ready_for=3)) == (False, None, False)
    assert check(_pod("p", age=100, pending=True, label="true")) == (True, 5.0, False)
    assert check(_pod("p", age=100, pending=False, ready_for=3, label="true")) == (True, 2.0, False)
    assert check(_pod("p", age=100, pending=False, ready_for=6, label="true")) == (False, None, False)
    # an old revision times out with the update (UnitedDeploymentUpdated changed 11 s ago)
    old = _pod("p", age=100, pending=False, ready_for=3, revision="old")
    assert check(old, updated_since=11) == (True, 5.0, True)
    assert check(old, updated_since=4) == (False, 6.0, False)


@pytest.mark.parametrize(
    ("replicas", "next_replicas", "marked_again"), [(10, 10, False), (10, 15, True), (15, 10, False)]
)
def test_a_just_recovered_subset_given_more_replicas_is_marked_again(
    replicas: int, next_replicas: int, marked_again: bool
) -> None:
    found = assess(
        _reserving_ud(),
        {"subset-1": _schedulable("False")},
        {"subset-1": SubsetPods(replicas, ())},
        REV,
        NOW,
        NOW,
    )
    assert found.subsets["subset-1"] == Reserved(replicas, 0, unschedulable=False, marked=True)
    after_allocation(found, {"subset-1": next_replicas}, NOW)
    (schedulable,) = found.conditions["subset-1"]
    assert (schedulable["status"] == "False") == marked_again
    if marked_again:
        assert schedulable["message"] == "subset just recovered scaled up"


def _three_subsets(**spec: Any) -> dict[str, Any]:
    ud = _reserving_ud(critical=20, lasting=1, **spec)
    ud["spec"]["replicas"] = 2
    ud["spec"]["topology"]["subsets"] = [{"name": "subset-0"}, {"name": "subset-1"}, {"name": "subset-2"}]
    ud["spec"].pop("updateStrategy")
    return ud


def _existing(ud: dict[str, Any], replicas: dict[str, int], ready: dict[str, int]) -> tuple[Any, list[Any]]:
    """The revision and the CloneSets of a first pass, named w0.., at the given replicas / ready."""
    first = plan(ObservedUnitedDeployment(ud), NOW)
    revision = next(
        a.body
        for a in first.actions
        if isinstance(a, act.CreateObject) and a.resource.kind == "ControllerRevision"
    )
    workloads = []
    for index, action in enumerate(
        a for a in first.actions if isinstance(a, act.CreateObject) and a.resource.plural == "clonesets"
    ):
        body = action.body
        subset = body["metadata"]["labels"]["apps.kruise.io/subset-name"]
        workloads.append(
            {
                **body,
                "metadata": {
                    **body["metadata"],
                    "name": f"w{index}",
                    "uid": f"u{index}",
                    "resourceVersion": "1",
                },
                "spec": {**body["spec"], "replicas": replicas[subset]},
                "status": {"replicas": replicas[subset], "readyReplicas": ready[subset]},
            }
        )
    return revision, workloads


def reservation_pass() -> tuple[Plan, list[Any]]:
    """A pass over subset-0's two pods Pending 21 s (critical 20 s): the plan and the CloneSets."""
    ud = _three_subsets()
    revision, workloads = _existing(
        ud, {"subset-0": 2, "subset-1": 0, "subset-2": 0}, {"subset-0": 0, "subset-1": 0, "subset-2": 0}
    )
    rev = revision["metadata"]["name"]
    assert workloads[0]["metadata"]["labels"]["apps.kruise.io/controller-revision-hash"] == rev
    pods = tuple(
        _pod(f"p{i}", age=21, pending=True, label="false", revision=rev, subset="subset-0") for i in range(2)
    )
    status = {
        "subsetStatuses": [
            {
                "name": "subset-0",
                "conditions": [{"type": "Schedulable", "status": "True", "reason": "reschedule"}],
            },
            {"name": "subset-1"},
            {"name": "subset-2"},
        ],
        "currentRevision": rev,
    }
    observed = ObservedUnitedDeployment(
        {**ud, "status": status}, (revision,), {"CloneSet": tuple(workloads)}, pods
    )
    return plan(observed, NOW), workloads


def test_planner_reserves_timed_out_pods_and_moves_their_replicas() -> None:
    p, workloads = reservation_pass()
    pod_patches = [
        (a.name, a.patch) for a in p.actions if isinstance(a, act.PatchObject) and a.resource.plural == "pods"
    ]
    assert pod_patches == [
        ("p0", {"metadata": {"labels": {RESERVED_LABEL: "true"}}}),
        ("p1", {"metadata": {"labels": {RESERVED_LABEL: "true"}}}),
    ]
    first_write = next(i for i, a in enumerate(p.actions) if isinstance(a, act.PatchObject))
    assert p.actions[first_write].resource.plural == "pods", "pods are labelled before the subsets change"
    by_name = {
        w["metadata"]["name"]: w["metadata"]["labels"]["apps.kruise.io/subset-name"] for w in workloads
    }
    scaled = {
        by_name[a.name]: a.patch["spec"]
        for a in p.actions
        if isinstance(a, act.PatchObject) and a.resource.plural == "clonesets"
    }
    assert scaled == {"subset-1": {"replicas": 2}}, "2 temporary pods in subset-1; subset-0 keeps its 2"
    (new_status,) = [a.body["status"] for a in p.actions if isinstance(a, act.UpdateStatus)]
    assert new_status["subsetReplicas"] == {"subset-0": 2, "subset-1": 2, "subset-2": 0}
    assert new_status["reservedPods"] == 2
    assert new_status["replicas"] == 0, "status.replicas leaves the reserved pods out"
    assert new_status["labelSelector"] == f"app=web,{RESERVED_LABEL}=false"
    entry = next(s for s in new_status["subsetStatuses"] if s["name"] == "subset-0")
    assert entry["reservedPods"] == 2
    assert [(c["status"], c["reason"], c["message"]) for c in entry["conditions"]] == [
        ("False", "reschedule", "reserved pods found")
    ]
    assert p.requeue_after == 1.0, "reserved pods are looked at again after unschedulableDuration"


def test_an_unschedulable_subset_is_updated_with_kruise_s_max_unavailable() -> None:
    ud = _three_subsets()
    revision, workloads = _existing(
        ud, {"subset-0": 2, "subset-1": 2, "subset-2": 0}, {"subset-0": 0, "subset-1": 2, "subset-2": 0}
    )
    rev = revision["metadata"]["name"]
    pods = tuple(
        _pod(f"p{i}", age=100, pending=True, label="true", revision=rev, subset="subset-0") for i in range(2)
    )
    status = {
        "subsetStatuses": [
            {
                "name": "subset-0",
                "conditions": [{"type": "Schedulable", "status": "False", "reason": "reschedule"}],
            },
            {
                "name": "subset-1",
                "conditions": [{"type": "Schedulable", "status": "True", "reason": "reschedule"}],
            },
            {"name": "subset-2"},
        ],
        "currentRevision": rev,
    }
    # a new image: every subset moves to the new revision; subset-0 (2 replicas, 0 ready) may
    # take all of its pods down at once
    changed = {**ud, "status": status}
    changed["spec"] = {
        **ud["spec"],
        "template": {"cloneSetTemplate": {**ud["spec"]["template"]["cloneSetTemplate"]}},
    }
    changed["spec"]["template"]["cloneSetTemplate"]["spec"] = {
        **ud["spec"]["template"]["cloneSetTemplate"]["spec"],
        "minReadySeconds": 1,
    }
    p = plan(ObservedUnitedDeployment(changed, (revision,), {"CloneSet": tuple(workloads)}, pods), NOW)
    by_name = {
        w["metadata"]["name"]: w["metadata"]["labels"]["apps.kruise.io/subset-name"] for w in workloads
    }
    strategies = {
        by_name[a.name]: a.patch["spec"].get("updateStrategy")
        for a in p.actions
        if isinstance(a, act.PatchObject) and a.resource.plural == "clonesets"
    }
    assert strategies["subset-0"] == {"maxUnavailable": 2}
    assert strategies["subset-1"] is None, "schedulable: the template's strategy"


def test_reservation_is_refused_for_stateful_templates_as_kruise_s_webhook() -> None:
    ud = _reserving_ud()
    template = ud["spec"]["template"].pop("cloneSetTemplate")
    assert not [
        e
        for e in validate_uniteddeployment(
            ud | {"spec": {**ud["spec"], "template": {"deploymentTemplate": template}}}, None
        )
        if STATELESS_ONLY in str(e)
    ]
    ud["spec"]["template"] = {"statefulSetTemplate": template}
    (error,) = [e for e in validate_uniteddeployment(ud, None) if STATELESS_ONLY in str(e)]
    assert str(error).startswith("spec.topology.scheduleStrategy: Invalid value: ")
    assert str(error).endswith(
        ": only stateless workloads (Deployment and CloneSet) are supported by reserved rescheduling"
    )


def test_new_subsets_are_looked_at_again_once_their_pods_could_time_out() -> None:
    # kruise's manageSubsetProvision pushes rescheduleCriticalSeconds after creating subsets
    assert plan(ObservedUnitedDeployment(_three_subsets()), NOW).requeue_after == 20.0
