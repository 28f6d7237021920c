"""The orders CloneSet pods are deleted and updated in.

``deletion_order`` is kruise's ``ActivePodsWithRanks`` (unassigned < assigned, Pending <
Unknown < Running, unavailable < available, not ready < ready, lower pod-deletion-cost first,
higher rank first, ready for less time first, more restarts first, newer first), ranked by
topology spread when the template has ``topologySpreadConstraints`` and by same-node crowding
otherwise (``spread``). ``update_order`` is the default update order
(``kubecontroller.ActivePods``) refined by ``priorityStrategy`` and ``scatterStrategy``, with
pods waiting in PreparingUpdate first (the priority and scatter steps are
``podmechanics.updatesort``). Pure; called by ``scale`` and ``update``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cmp_to_key

from schemas.kruise.cloneset import CloneSetUpdateStrategy
from workers.cloneset.spread import scale_in_ranks
from workers.podmechanics.pods import PodView
from workers.podmechanics.updatesort import priority_sort, scatter

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def _name(pod: PodView) -> str:
    return pod.name


def _cmp(a: int, b: int) -> int:
    return (a > b) - (a < b)


def _newer_first(t1: datetime | None, t2: datetime | None) -> int:
    """``afterOrZero``: an unknown time sorts first, then later before earlier."""
    if t1 == t2:
        return 0
    if t1 is None or t2 is None:
        return -1 if t1 is None else 1
    return -1 if t1 > t2 else 1


def _compare_active(a: PodView, b: PodView) -> int:
    """The shared head of both orders: scheduling, phase, readiness."""
    na, nb = a.node_name, b.node_name
    if na != nb and (not na or not nb):
        return -1 if not na else 1
    pa, pb = _PHASE_ORDINAL.get(a.phase, 0), _PHASE_ORDINAL.get(b.phase, 0)
    if pa != pb:
        return _cmp(pa, pb)
    return 0


def _compare_tail(a: PodView, b: PodView) -> int:
    if a.ready and b.ready:
        by_ready = _newer_first(a.ready_since, b.ready_since)
        if by_ready:
            return by_ready
    ra, rb = a.max_restarts, b.max_restarts
    if ra != rb:
        return -1 if ra > rb else 1
    return _newer_first(a.created, b.created)


def _victim_compare(
    a: PodView,
    b: PodView,
    is_available: Callable[[PodView], bool] | None,
    rank: Callable[[PodView], float] | None,
) -> int:
    head = _compare_active(a, b)
    if head:
        return head
    if is_available is not None and is_available(a) != is_available(b):
        return -1 if not is_available(a) else 1
    if a.ready != b.ready:
        return -1 if not a.ready else 1
    ca, cb = a.deletion_cost, b.deletion_cost
    if ca != cb:
        return _cmp(ca, cb)
    if rank is not None:
        rank_a, rank_b = rank(a), rank(b)
        if rank_a != rank_b:
            return -1 if rank_a > rank_b else 1
    return _compare_tail(a, b)


def _group_order(group: Sequence[PodView], rank: Callable[[PodView], float] | None) -> list[PodView]:
    """``ActivePodsWithRanks`` without an availability check (the rankers' inner order)."""

    def compare(a: PodView, b: PodView) -> int:
        return _victim_compare(a, b, None, rank)

    return sorted(sorted(group, key=_name), key=cmp_to_key(compare))


def deletion_order(
    pods: Sequence[PodView],
    is_available: Callable[[PodView], bool],
    spread_keys: Sequence[str] = (),
    node_labels: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[PodView, ...]:
    """Pods in the order scale-in deletes them (first = first victim).

    Step 5 ranks pods with kruise's spread-constraints ranker when the template has topology
    spread keys (``spread``; ``node_labels`` are the pods' nodes' labels), else with the
    same-node ranker.
    """
    ranks = scale_in_ranks(pods, node_labels or {}, spread_keys, _group_order)

    def compare(a: PodView, b: PodView) -> int:
        return _victim_compare(a, b, is_available, lambda pod: ranks.get(pod.uid, 0.0))

    return tuple(sorted(sorted(pods, key=_name), key=cmp_to_key(compare)))


def _update_compare(a: PodView, b: PodView) -> int:
    head = _compare_active(a, b)
    if head:
        return head
    if a.ready != b.ready:
        return -1 if not a.ready else 1
    return _compare_tail(a, b)


def update_order(
    waiting: Sequence[PodView], all_pods: Sequence[PodView], strategy: CloneSetUpdateStrategy
) -> list[PodView]:
    """Pods waiting for update in the order they get it (``SortUpdateIndexes``)."""
    ordered = sorted(sorted(waiting, key=_name), key=cmp_to_key(_update_compare))
    if strategy.priority_strategy is not None:
        ordered = priority_sort(ordered, strategy.priority_strategy)
    if strategy.scatter_strategy:
        ordered = scatter(ordered, all_pods, strategy.scatter_strategy)
    return sorted(ordered, key=lambda pod: pod.lifecycle_state != "PreparingUpdate")
