"""Whole rollouts in a simulated cluster: plan, apply, let the kubelet act, repeat until quiet.

Hypothesis draws a CloneSet (replicas, strategy, partition, maxUnavailable, maxSurge,
minReadySeconds), lets it settle, then changes the image (and maybe more) and the replica
count; every rollout must settle (a pass that plans nothing) in the state kruise reaches.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.kruise.cloneset import CloneSet
from tests.unit.cloneset.cloneset_builders import NOW, cloneset
from tests.unit.cloneset.cloneset_sim import Cluster


def _next(current: CloneSet, **changes: Any) -> CloneSet:
    """The CloneSet after a user edit: new spec, same status, generation + 1."""
    edited = cloneset(**changes)
    wire = edited.to_wire()
    wire["status"] = current.to_wire().get("status", {})
    wire["metadata"]["generation"] = 2
    return CloneSet.from_wire(wire)


#: Pods kept at the old revision for each partition the rollouts draw, by replicas 0..6, worked
#: out by hand from kruise's ``CalculatePartitionReplicas``: an integer partition is capped at
#: replicas; "50%" is rounded up (ceil(0.5 * replicas)), which never reaches replicas above 1.
KEPT_AT_OLD_REVISION: dict[int | str, tuple[int, ...]] = {
    0: (0, 0, 0, 0, 0, 0, 0),
    1: (0, 1, 1, 1, 1, 1, 1),
    2: (0, 1, 2, 2, 2, 2, 2),
    "50%": (0, 1, 1, 2, 2, 3, 3),
}


def _expected_updated(r: dict[str, Any]) -> int:
    return int(r["after"]) - KEPT_AT_OLD_REVISION[r["strategy"]["partition"]][r["after"]]


def _labels(cluster: Cluster) -> list[str]:
    return [p["metadata"]["labels"]["controller-revision-hash"] for p in cluster.pods.values()]


@st.composite
def rollouts(draw: st.DrawFn) -> dict[str, Any]:
    update_type = draw(st.sampled_from(["ReCreate", "InPlaceIfPossible", "InPlaceOnly"]))
    max_surge = 0 if update_type == "InPlaceOnly" else draw(st.sampled_from([0, 1, 2, "50%"]))
    max_unavailable = draw(st.sampled_from([1, 2, "20%", "50%"] + ([0] if max_surge else [])))
    return {
        "before": draw(st.integers(0, 5)),
        "after": draw(st.integers(0, 6)),
        "strategy": {
            "type": update_type,
            "partition": draw(st.sampled_from([0, 0, 1, 2, "50%"])),
            "maxUnavailable": max_unavailable,
            "maxSurge": max_surge,
        },
        "env": None if update_type == "InPlaceOnly" else draw(st.sampled_from([None, "changed"])),
        "scale": draw(st.sampled_from([{}, {"maxUnavailable": 1}])),
        "min_ready_seconds": draw(st.sampled_from([0, 15])),
    }


@given(rollouts())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_rollout_settles_where_kruise_does(r: dict[str, Any]) -> None:
    common = {"strategy": r["strategy"], "scale": r["scale"], "min_ready_seconds": r["min_ready_seconds"]}
    cluster = Cluster(cloneset(r["before"], image="nginx:1", **common), NOW)
    cluster.run()
    assert len(cluster.pods) == r["before"]
    original = set(cluster.pods)

    cluster.cloneset = _next(cluster.cloneset, replicas=r["after"], image="nginx:2", env=r["env"], **common)
    cluster.run()

    status = cluster.cloneset.status
    update = status.update_revision
    updated = sum(1 for label in _labels(cluster) if label == update)
    expected = _expected_updated(r)
    assert len(cluster.pods) == r["after"]
    assert updated == expected
    assert status.replicas == r["after"]
    assert status.updated_replicas == expected
    assert status.ready_replicas == status.available_replicas == r["after"]
    assert (status.current_revision == update) == (expected == r["after"])
    for pod in cluster.pods.values():
        assert pod["metadata"]["labels"]["lifecycle.apps.kruise.io/state"] == "Normal"
        wanted = "nginx:2" if pod["metadata"]["labels"]["controller-revision-hash"] == update else "nginx:1"
        assert pod["spec"]["containers"][0]["image"] == wanted
    in_place = r["strategy"]["type"] != "ReCreate" and r["env"] is None and r["strategy"]["maxSurge"] == 0
    if in_place and r["after"] >= r["before"]:
        assert original <= set(cluster.pods)  # updated in place: no pod replaced


def test_blocked_in_place_only_settles_without_touching_pods() -> None:
    strategy = {"type": "InPlaceOnly", "maxUnavailable": 1}
    cluster = Cluster(cloneset(3, strategy=strategy), NOW)
    cluster.run()
    before = {name: p["metadata"]["uid"] for name, p in cluster.pods.items()}
    cluster.cloneset = _next(cluster.cloneset, replicas=3, env="changed", strategy=strategy)
    cluster.run()
    assert {name: p["metadata"]["uid"] for name, p in cluster.pods.items()} == before
    conditions = {c.type: c for c in cluster.cloneset.status.conditions or ()}
    assert conditions["FailedUpdate"].status == "True"


HOOKS = {
    "preDelete": {"labelsHandler": {"hold": "yes"}},
    "inPlaceUpdate": {"labelsHandler": {"gate": "on"}, "markPodNotReady": True},
    "preNormal": {"labelsHandler": {"warm": "yes"}},
}


def hook_handler(cluster: Cluster) -> None:
    """The user's controller behind the hooks: warm new pods, release deletions, gate updates."""
    for pod in cluster.pods.values():
        labels = pod["metadata"]["labels"]
        state = labels.get("lifecycle.apps.kruise.io/state")
        if state == "PreparingNormal":
            labels["warm"] = "yes"
        elif state == "PreparingDelete":
            labels.pop("hold", None)
        elif state == "PreparingUpdate":
            labels.pop("gate", None)
        elif state == "Updated":
            labels["gate"] = "on"


@given(rollouts())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_rollouts_with_every_lifecycle_hook_settle(r: dict[str, Any]) -> None:
    common = {
        "strategy": r["strategy"],
        "scale": r["scale"],
        "min_ready_seconds": r["min_ready_seconds"],
        "lifecycle": HOOKS,
        "template_labels": {"app": "web", "hold": "yes", "gate": "on"},
    }
    cluster = Cluster(cloneset(r["before"], image="nginx:1", **common), NOW, actors=[hook_handler])
    cluster.run()
    assert len(cluster.pods) == r["before"]
    cluster.cloneset = _next(cluster.cloneset, replicas=r["after"], image="nginx:2", env=r["env"], **common)
    cluster.run()
    status = cluster.cloneset.status
    expected = _expected_updated(r)
    assert len(cluster.pods) == r["after"]
    assert status.updated_replicas == expected
    assert status.available_replicas == r["after"]
    for pod in cluster.pods.values():
        assert pod["metadata"]["labels"]["lifecycle.apps.kruise.io/state"] == "Normal"
