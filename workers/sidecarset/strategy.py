"""Which pods a SidecarSet upgrades this pass: kruise's ``spreadingStrategy.GetNextUpgradePods``.

Of the matched pods not yet at the SidecarSet's hash and selected by ``updateStrategy.selector``,
a pod whose sidecars changed beyond their images (its ``sidecarset-hash-without-image`` differs)
is not upgradable (kruise leaves it alone and marks it); the others wait when a ready sidecar
does not yet run what its spec asks for. The waiting pods are ordered by
``kubecontroller.ActivePods`` (unassigned < assigned, Pending < Unknown < Running, not ready <
ready, ready for less time first, more restarts first, newer first), then ``priorityStrategy``
and ``scatterStrategy`` (``podmechanics.updatesort``; a ``key: "*"`` scatter term stands for
every value of the key the pods carry). ``partition`` pods of the matched total stay behind
(scaled up, at least one updated below 100%); ``maxUnavailable`` (scaled up) bounds the updated
pods that are not consistent or not ready, and a pod that is not ready now costs nothing. Pure;
called by ``planner``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cmp_to_key

from schemas.kruise.base import resolve_int_or_percent
from schemas.kruise.pub import UpdateScatterTerm
from schemas.kruise.sidecarset import SidecarSetUpdateStrategy
from workers.podmechanics.pods import PodView
from workers.podmechanics.updatesort import priority_sort, scatter
from workers.sidecarset.control import (
    SetView,
    is_pod_ready,
    is_state_consistent,
    is_updated,
    is_upgradable,
    selected_by_strategy,
)

_PHASE = {"Pending": 0, "Unknown": 1, "Running": 2}


@dataclass(frozen=True)
class NextPods:
    upgrade: tuple[PodView, ...]
    not_upgradable: tuple[PodView, ...]


def _cmp(a: int, b: int) -> int:
    return (a > b) - (a < b)


def _newer_first(t1: datetime | None, t2: datetime | None) -> int:
    if t1 == t2:
        return 0
    if t1 is None or t2 is None:
        return -1 if t1 is None else 1
    return -1 if t1 > t2 else 1


def _active_pods(a: PodView, b: PodView) -> int:
    """``kubecontroller.ActivePods.Less`` as a comparison."""
    if a.node_name != b.node_name and (not a.node_name or not b.node_name):
        return -1 if not a.node_name else 1
    pa, pb = _PHASE.get(a.phase, 0), _PHASE.get(b.phase, 0)
    if pa != pb:
        return _cmp(pa, pb)
    if a.ready != b.ready:
        return -1 if not a.ready else 1
    if a.ready and b.ready and a.ready_since != b.ready_since:
        by_ready = _newer_first(a.ready_since, b.ready_since)
        if by_ready:
            return by_ready
    if a.max_restarts != b.max_restarts:
        return -1 if a.max_restarts > b.max_restarts else 1
    return _newer_first(a.created, b.created)


def _scatter_terms(terms: Sequence[UpdateScatterTerm], pods: Sequence[PodView]) -> list[UpdateScatterTerm]:
    """``parseUpdateScatterTerms``: ``key=*`` becomes one term per value the pods carry."""
    out: list[UpdateScatterTerm] = []

    def insert(term: UpdateScatterTerm) -> None:
        if not any(t.key == term.key and t.value == term.value for t in out):
            out.append(term)

    for term in terms:
        if term.value != "*":
            insert(term)
            continue
        for pod in pods:
            if term.key in pod.labels:
                insert(UpdateScatterTerm(key=term.key, value=pod.labels[term.key]))
    return out


def sort_waiting(
    strategy: SidecarSetUpdateStrategy, pods: Sequence[PodView], waiting: Sequence[PodView]
) -> list[PodView]:
    """``SortUpdateIndexes``."""
    ordered = sorted(waiting, key=cmp_to_key(_active_pods))
    if strategy.priority_strategy is not None:
        ordered = priority_sort(ordered, strategy.priority_strategy)
    if strategy.scatter_strategy:
        ordered = scatter(ordered, pods, _scatter_terms(strategy.scatter_strategy, pods))
    return ordered


def partition_count(partition: int | str, total: int) -> int:
    """``CalculatePartitionReplicas``."""
    value = resolve_int_or_percent(partition, total, round_up=True)
    if total > 1 and value == total and isinstance(partition, str) and partition != "100%":
        value = total - 1
    return max(min(value, total), 0)


def upgrade_count(
    view: SetView, strategy: SidecarSetUpdateStrategy, pods: Sequence[PodView], waiting: Sequence[PodView]
) -> int:
    """``calculateUpgradeCount``: how many of the sorted ``waiting`` pods go this pass."""
    total = len(pods)
    partition = partition_count(strategy.partition, total)
    if len(waiting) - partition <= 0:
        return 0
    candidates = waiting[: len(waiting) - partition]
    max_unavailable = resolve_int_or_percent(strategy.max_unavailable, total, round_up=True)
    unavailable = sum(
        1
        for pod in pods
        if is_updated(pod, view) and (not is_state_consistent(pod, view) or not is_pod_ready(pod, view))
    )
    count = 0
    for pod in candidates:
        if not is_pod_ready(pod, view):
            count += 1
            continue
        if unavailable >= max_unavailable:
            break
        unavailable += 1
        count += 1
    return count


def next_upgrade_pods(view: SetView, strategy: SidecarSetUpdateStrategy, pods: Sequence[PodView]) -> NextPods:
    """``GetNextUpgradePods``."""
    waiting: list[PodView] = []
    not_upgradable: list[PodView] = []
    selector = strategy.selector.model_dump(by_alias=True, exclude_none=True) if strategy.selector else None
    for pod in pods:
        if is_updated(pod, view) or not selected_by_strategy(pod, selector):
            continue
        can, consistent = is_upgradable(pod, view)
        if can and consistent:
            waiting.append(pod)
        elif not can:
            not_upgradable.append(pod)
    ordered = sort_waiting(strategy, pods, waiting)
    count = upgrade_count(view, strategy, pods, ordered)
    return NextPods(tuple(ordered[:count]), tuple(not_upgradable))
