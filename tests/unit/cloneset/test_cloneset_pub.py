"""The CloneSet consults a pod's PodUnavailableBudget before updating it.

kruise ``cloneset_update.go``: ``PodUnavailableBudgetValidatePod`` with UPDATE before ``updatePod``,
under the gate ``PodUnavailableBudgetUpdateGate``; refused, it looks again in 1 s.
"""

from __future__ import annotations

from typing import Any

from flotilla.runtime.features import feature_gates
from tests.unit.cloneset.cloneset_builders import cloneset, pod, rev_name, revision, run
from workers.cloneset.actions import CheckBudget, PatchPod
from workers.cloneset.config import PlannerConfig, planner_config

GATE_ON = PlannerConfig(pub_update_gate=True)
COVERED = {"kruise.io/related-pub": "web-pub"}


def _rollout(strategy: dict[str, Any]) -> tuple[Any, str, list[Any]]:
    old_cs = cloneset(3, image="nginx:1", strategy=strategy)
    old = rev_name(old_cs)
    new_cs = cloneset(3, image="nginx:2", strategy=strategy, status={"currentRevision": old})
    return new_cs, old, [revision(old_cs, 1), revision(new_cs, 2)]


def _pod_steps(plan: Any) -> list[tuple[str, str]]:
    return [(type(a).__name__, a.name) for a in plan.actions if isinstance(a, CheckBudget | PatchPod)]


def test_the_gate_maps_from_kruise_feature_gates() -> None:
    assert planner_config(feature_gates()).pub_update_gate is False  # alpha, off by default
    assert planner_config(feature_gates({"PodUnavailableBudgetUpdateGate": True})).pub_update_gate is True


def test_in_place_update_of_a_covered_pod_asks_its_budget_first_and_comes_back_in_a_second() -> None:
    cs, old, revs = _rollout({"type": "InPlaceIfPossible", "maxUnavailable": 1})
    pods = [pod("web-a", old, annotations=COVERED), pod("web-b", old), pod("web-c", old)]
    plan = run(cs, pods, revs, config=GATE_ON)
    assert _pod_steps(plan) == [("CheckBudget", "web-a"), ("PatchPod", "web-a"), ("PatchPod", "web-a")]
    [check] = [a for a in plan.actions if isinstance(a, CheckBudget)]
    assert check.pod["metadata"]["name"] == "web-a"  # type: ignore[index]
    assert plan.requeue_after == 1.0


def test_recreate_update_asks_too() -> None:
    cs, old, revs = _rollout({"maxUnavailable": 1})
    pods = [pod("web-a", old, annotations=COVERED), pod("web-b", old), pod("web-c", old)]
    plan = run(cs, pods, revs, config=GATE_ON)
    assert _pod_steps(plan) == [("CheckBudget", "web-a"), ("PatchPod", "web-a")]


def test_no_check_for_an_uncovered_pod_or_with_the_gate_off() -> None:
    cs, old, revs = _rollout({"type": "InPlaceIfPossible", "maxUnavailable": 1})
    uncovered = run(cs, [pod("web-a", old), pod("web-b", old), pod("web-c", old)], revs, config=GATE_ON)
    assert not [a for a in uncovered.actions if isinstance(a, CheckBudget)]
    covered = [pod("web-a", old, annotations=COVERED), pod("web-b", old), pod("web-c", old)]
    gate_off = run(cs, covered, revs)
    assert not [a for a in gate_off.actions if isinstance(a, CheckBudget)]
