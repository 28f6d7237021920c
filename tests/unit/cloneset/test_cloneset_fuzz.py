"""Hypothesis fuzz of the CloneSet planner: it never raises and never exceeds the limits.

Random CloneSets (replicas, partition, maxSurge, maxUnavailable, strategy type, paused,
scale limits, podsToDelete, hooks) meet random pods (revision, phase, readiness, lifecycle
state, specified deletion, hook labels); every plan must keep the invariants below.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.cloneset.cloneset_builders import cloneset, pod, rev_name, revision, run
from workers.cloneset.actions import CreatePods, DeletePod, PatchPod, UpdateStatus

counts = st.integers(min_value=0, max_value=6)
int_or_percent = st.one_of(counts, st.sampled_from(["0%", "25%", "50%", "100%"]))

pod_rows = st.lists(
    st.fixed_dictionaries(
        {
            "rev": st.sampled_from(["old", "new", "other"]),
            "ready": st.booleans(),
            "phase": st.sampled_from(["Running", "Pending", "Failed", "Unknown"]),
            "state": st.sampled_from(
                [
                    None,
                    "Normal",
                    "PreparingNormal",
                    "PreparingDelete",
                    "PreparingUpdate",
                    "Updating",
                    "Updated",
                ]
            ),
            "delete": st.booleans(),
            "hold": st.booleans(),
            "scheduled": st.booleans(),
            "owned": st.sampled_from([True, True, True, False]),
        }
    ),
    max_size=10,
)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    update_type = draw(st.sampled_from(["ReCreate", "InPlaceIfPossible", "InPlaceOnly"]))
    strategy: dict[str, Any] = {
        "type": update_type,
        "partition": draw(int_or_percent),
        "maxUnavailable": draw(int_or_percent),
        "maxSurge": 0 if update_type == "InPlaceOnly" else draw(int_or_percent),
        "paused": draw(st.booleans()),
    }
    if draw(st.booleans()):
        strategy["inPlaceUpdateStrategy"] = {"gracePeriodSeconds": draw(st.integers(0, 30))}
    scale: dict[str, Any] = {}
    if draw(st.booleans()):
        scale["maxUnavailable"] = draw(int_or_percent)
    lifecycle = None
    if draw(st.booleans()):
        hook = {"labelsHandler": {"hold": "yes"}, "markPodNotReady": draw(st.booleans())}
        lifecycle = {draw(st.sampled_from(["preDelete", "inPlaceUpdate", "preNormal"])): hook}
    return {
        "replicas": draw(counts),
        "strategy": strategy,
        "scale": scale,
        "lifecycle": lifecycle,
        "env": draw(st.sampled_from([None, "changed"])),
        "rows": draw(pod_rows),
        "pods_to_delete": draw(st.lists(st.integers(0, 10), max_size=3)),
        "seed": draw(st.integers(0, 2**32)),
    }


@given(scenarios())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_planner_never_raises_and_respects_limits(s: dict[str, Any]) -> None:
    old_cs = cloneset(s["replicas"], image="nginx:1", strategy=s["strategy"])
    old = rev_name(old_cs)
    scale = dict(s["scale"])
    scale["podsToDelete"] = [f"web-p{i}" for i in s["pods_to_delete"]]
    cs = cloneset(
        s["replicas"],
        image="nginx:2",
        env=s["env"],
        strategy=s["strategy"],
        scale=scale,
        lifecycle=s["lifecycle"],
        status={"currentRevision": old},
    )
    new = rev_name(cs)
    names = {"old": old, "new": new, "other": "web-unknown"}
    pods = [
        pod(
            f"web-p{i}",
            names[row["rev"]],
            ready=row["ready"] and row["phase"] == "Running",
            phase=row["phase"],
            state=row["state"],
            labels={
                **({"apps.kruise.io/specified-delete": "true"} if row["delete"] else {}),
                **({"hold": "yes"} if row["hold"] else {}),
            },
            scheduled=row["scheduled"],
            owner="cs-uid" if row["owned"] else None,
        )
        for i, row in enumerate(s["rows"])
    ]
    plan = run(cs, pods, [revision(old_cs, 1), revision(cs, 2)], seed=s["seed"])
    assert plan == run(cs, pods, [revision(old_cs, 1), revision(cs, 2)], seed=s["seed"])  # pure

    limits = _kruise_limits(s["replicas"], s["strategy"], s["scale"])
    active = [p for p in pods if p["status"]["phase"] not in ("Failed", "Succeeded")]
    observed = {p["metadata"]["name"] for p in pods}
    creations = sum(len(a.pods) for a in plan.actions if isinstance(a, CreatePods))
    deletions = [a for a in plan.actions if isinstance(a, DeletePod)]
    updates = [
        a
        for a in plan.actions
        if isinstance(a, PatchPod)
        and a.subresource == ""
        and ("apps.kruise.io/specified-delete" in str(a.patch) or "'Updating'" in str(a.patch))
    ]

    # never more pods than replicas + maxSurge, never more new pods than the scale limit allows
    assert creations <= max(0, s["replicas"] + limits["max_surge"] - len(active))
    assert creations <= limits["scale_max_unavailable"]
    # a pass scales or updates, never both; never creates and deletes at once
    assert not (creations and deletions)
    assert not ((creations or deletions) and updates)
    # only observed pods are touched
    assert all(a.name in observed for a in plan.actions if isinstance(a, PatchPod | DeletePod))
    # ready pods are deleted / taken down for update only within maxUnavailable (+ the surplus)
    ready_names = {p["metadata"]["name"] for p in active if _ready_for_the_cloneset(p)}
    budget = max(0, limits["max_unavailable"] + len(active) - s["replicas"])
    assert sum(1 for a in deletions if a.name in ready_names) <= budget
    assert len({a.name for a in updates}) <= max(budget, 0) or not updates
    # InPlaceOnly never falls back to recreating pods
    if s["strategy"]["type"] == "InPlaceOnly":
        assert not any("apps.kruise.io/specified-delete" in str(a.patch) for a in updates)
    # status at most once, and last
    statuses = [i for i, a in enumerate(plan.actions) if isinstance(a, UpdateStatus)]
    assert statuses in ([], [len(plan.actions) - 1])


def _percent_of(value: int | str, replicas: int, *, round_up: bool) -> int:
    """kruise ``intstr.GetScaledValueFromIntOrPercent``: "p%" of replicas, rounded up or down."""
    if isinstance(value, int):
        return value
    share = int(value.rstrip("%")) * replicas
    return -(-share // 100) if round_up else share // 100


def _kruise_limits(replicas: int, strategy: dict[str, Any], scale: dict[str, Any]) -> dict[str, int]:
    """The limits as kruise's ``calculateDiffsWithExpectation`` reads them, written out: maxSurge
    rounds up and is 0 while paused; maxUnavailable rounds up without surge, down with it;
    scaleStrategy.maxUnavailable unset is unlimited (MaxInt32)."""
    surge = 0 if strategy["paused"] else _percent_of(strategy["maxSurge"], replicas, round_up=True)
    unavailable = _percent_of(strategy["maxUnavailable"], replicas, round_up=surge == 0)
    scale_limit = scale.get("maxUnavailable")
    return {
        "max_surge": surge,
        "max_unavailable": unavailable,
        "scale_max_unavailable": 2**31 - 1
        if scale_limit is None
        else _percent_of(scale_limit, replicas, round_up=True),
    }


def _ready_for_the_cloneset(p: dict[str, Any]) -> bool:
    """Ready as kruise counts it for maxUnavailable: Running, Ready, in-place ready, lifecycle Normal."""
    conditions = {c["type"]: c["status"] for c in p["status"]["conditions"]}
    state = p["metadata"]["labels"].get("lifecycle.apps.kruise.io/state", "Normal")
    return (
        p["status"]["phase"] == "Running"
        and conditions.get("Ready") == "True"
        and conditions.get("InPlaceUpdateReady", "True") == "True"
        and state == "Normal"
    )
