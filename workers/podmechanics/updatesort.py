"""Update ordering by ``priorityStrategy`` and ``scatterStrategy`` (kruise ``pkg/util/updatesort``).

``priority_sort`` is kruise's ``PrioritySorter``: a stable sort by ``weightPriority`` (the sum of
the weights of the terms whose selector matches, higher first) or ``orderPriority`` (the earliest
key the pod has, then the larger integer suffix of its value; pods with none of the keys first).
``scatter`` is kruise's ``scatterSort``: for each key=value term (most common first), the waiting
pods that carry it are interleaved with those that do not, in groups sized by the density of
matching pods in the whole set; the last matching pod goes last. Both take the order built so far
and refine it. Pure; called by the workload planners' update orders (CloneSet's
``podsort.update_order``; Advanced StatefulSet's ``unorderedUpdate.priorityStrategy``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from schemas.kruise.pub import UpdatePriorityStrategy, UpdateScatterTerm
from workers.podmechanics.ownership import selector_matches
from workers.podmechanics.pods import PodView


@dataclass(frozen=True)
class _Groups:
    count: int
    matched_size: int
    unmatched_size: int
    unmatched_remainder: int = 0


def _go_round(value: float) -> int:
    """Go's ``math.Round``: halves away from zero."""
    return int(value + 0.5) if value >= 0 else -int(-value + 0.5)


def _groups(matched: int, unmatched: int) -> _Groups:
    count = min(matched, unmatched)
    return _Groups(count, _go_round(matched / count), _go_round(unmatched / count))


def _by_density(
    total_matched: int, total_unmatched: int, update_matched: int, update_unmatched: int
) -> _Groups:
    update_groups = _groups(update_matched, update_unmatched)
    if total_unmatched / total_matched >= update_unmatched / update_matched:
        return update_groups
    total_groups = _groups(total_matched, total_unmatched)
    m_size, u_size = total_groups.matched_size, total_groups.unmatched_size
    count = min(update_matched // m_size, update_unmatched // u_size)
    return _Groups(count, m_size, u_size, update_unmatched - count * u_size)


def _matches(pod: PodView, term: UpdateScatterTerm) -> bool:
    return pod.labels.get(term.key, "") == term.value


def _scatter_term(
    term: UpdateScatterTerm, all_pods: Sequence[PodView], waiting: list[PodView]
) -> list[PodView]:
    matched = [p for p in waiting if _matches(p, term)]
    unmatched = [p for p in waiting if not _matches(p, term)]
    if len(matched) <= 1 or len(unmatched) <= 1:
        return waiting
    total_matched = sum(1 for p in all_pods if _matches(p, term)) - 1
    total_unmatched = sum(1 for p in all_pods if not _matches(p, term))
    last = matched.pop()
    if total_matched <= 0:
        return [*matched, *unmatched, last]
    groups = _by_density(total_matched, total_unmatched, len(matched), len(unmatched))
    result = unmatched[: groups.unmatched_remainder]
    unmatched = unmatched[groups.unmatched_remainder :]
    for _ in range(groups.count):
        result += matched[: groups.matched_size]
        matched = matched[groups.matched_size :]
        result += unmatched[: groups.unmatched_size]
        unmatched = unmatched[groups.unmatched_size :]
    return [*result, *matched, *unmatched, last]


def _terms(pods: Sequence[PodView], strategy: Sequence[UpdateScatterTerm]) -> list[UpdateScatterTerm]:
    if len(strategy) == 1:
        return list(strategy)
    counted: dict[tuple[str, str], int] = {}
    order: list[UpdateScatterTerm] = []
    for term in strategy:
        for pod in pods:
            if _matches(pod, term) and term.key in pod.labels:
                key = (term.key, term.value)
                if key not in counted:
                    order.append(term)
                counted[key] = counted.get(key, 0) + 1
    return sorted(order, key=lambda t: -counted[(t.key, t.value)])


def scatter(
    waiting: list[PodView], all_pods: Sequence[PodView], strategy: Sequence[UpdateScatterTerm]
) -> list[PodView]:
    """``waiting`` reordered so each term's pods are spread through it (density from ``all_pods``)."""
    if not strategy or len(waiting) <= 1:
        return waiting
    for term in _terms(waiting, strategy):
        waiting = _scatter_term(term, all_pods, waiting)
    return waiting


def _trailing_int(value: str) -> int:
    digits = len(value) - len(value.rstrip("0123456789"))
    return int(value[-digits:]) if digits else 0


def priority_sort(pods: Sequence[PodView], strategy: UpdatePriorityStrategy) -> list[PodView]:
    """Stable sort by weightPriority (higher sum first) or orderPriority (earlier key, larger suffix)."""
    if strategy.weight_priority:
        terms = strategy.weight_priority

        def weight(pod: PodView) -> int:
            return -sum(t.weight for t in terms if selector_matches(t.match_selector, pod.labels))

        return sorted(pods, key=weight)
    if strategy.order_priority:
        keys = [term.ordered_key for term in strategy.order_priority]

        def order(pod: PodView) -> tuple[int, int]:
            labels = pod.labels
            for level, key in enumerate(keys):
                if key in labels:
                    return (level, -_trailing_int(labels[key]))
            return (-1, 0)

        return sorted(pods, key=order)
    return list(pods)
