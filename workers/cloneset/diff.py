"""The heart of the CloneSet planner: how many pods to create, delete and update now.

``calculate_diff`` is kruise's ``calculateDiffsWithExpectation``: it counts pods by revision,
lifecycle state, specified deletion and availability, and returns a :class:`RolloutDiff`.
The scale planner (``scale``) and the update planner (``update``) both read it; a reconcile
never acts on both halves in one pass. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from workers.cloneset.clonepods import is_cloneset_available
from workers.cloneset.limits import RolloutLimits
from workers.podmechanics.pods import PodView, is_specified_delete

#: Whether a pod counts as updated (at the update revision) for this calculation.
IsPodUpdated = Callable[[PodView], bool]


@dataclass(frozen=True)
class RolloutDiff:
    """What the CloneSet must do next, in pod counts (all fields kruise's ``expectationDiffs``)."""

    scale_up: int = 0
    """Pods to create (non-negative)."""
    scale_up_old_revision: int = 0
    """Of those, how many at the current (old) revision; may exceed ``scale_up``."""
    scale_down: int = 0
    """Pods to delete, excluding pods already specified for deletion."""
    scale_down_old_revision: int = 0
    """Of those, how many at the old revision; may exceed ``scale_down``."""
    scale_up_limit: int = 0
    """Most pods creatable now (scaleStrategy.maxUnavailable minus pods unavailable)."""
    delete_ready_limit: int = 0
    """Most ready pods deletable now (updateStrategy.maxUnavailable)."""
    use_surge: int = 0
    """Pods temporarily wanted above replicas."""
    use_surge_old_revision: int = 0
    """Of the surge, pods at the old revision."""
    update: int = 0
    """Pods to move to the update revision (negative: back to the current revision)."""
    update_max_unavailable: int = 0
    """Most pods that may be unavailable while updating."""


@dataclass(frozen=True)
class PodCounts:
    """Pods counted per revision side (new = update revision)."""

    new: int = 0
    new_active: int = 0
    old: int = 0
    old_active: int = 0
    new_unavailable: int = 0
    old_unavailable: int = 0
    new_to_delete: int = 0
    old_to_delete: int = 0
    new_pre_deleting: int = 0
    old_pre_deleting: int = 0


def count_pods(
    pods: Sequence[PodView],
    is_updated: IsPodUpdated,
    pods_to_delete: Collection[str],
    min_ready_seconds: int,
    now: datetime,
) -> PodCounts:
    tally = dict.fromkeys(PodCounts.__dataclass_fields__, 0)
    for pod in pods:
        side = "new" if is_updated(pod) else "old"
        tally[side] += 1
        if pod.lifecycle_state == "PreparingDelete":
            tally[f"{side}_pre_deleting"] += 1
            continue
        tally[f"{side}_active"] += 1
        if is_specified_delete(pod, pods_to_delete):
            tally[f"{side}_to_delete"] += 1
        elif not is_cloneset_available(pod, min_ready_seconds, now):
            tally[f"{side}_unavailable"] += 1
    return PodCounts(**tally)


def _plus_and_minus(a: int, b: int) -> bool:
    return (a > 0 and b < 0) or (a < 0 and b > 0)


def calculate_diff(
    limits: RolloutLimits,
    pods: Sequence[PodView],
    *,
    is_updated: IsPodUpdated,
    revisions_differ: bool,
    pods_to_delete: Collection[str],
    min_ready_seconds: int,
    now: datetime,
    partition_rollback: bool = False,
    exclude_preparing_delete: bool = False,
) -> RolloutDiff:
    """kruise's ``calculateDiffsWithExpectation`` over ``pods`` (the CloneSet's active pods)."""
    c = count_pods(pods, is_updated, pods_to_delete, min_ready_seconds, now)
    replicas, partition = limits.replicas, limits.partition
    max_surge, max_unavailable = limits.max_surge, limits.max_unavailable

    update_old_diff = c.old_active - partition
    update_new_diff = c.new_active - (replicas - partition)
    total_unavailable = c.new_pre_deleting + c.old_pre_deleting + c.new_unavailable + c.old_unavailable
    if not revisions_differ or not partition_rollback:
        update_old_diff = max(update_old_diff, 0)
        update_new_diff = min(update_new_diff, 0)

    use_surge = use_surge_old = 0
    if max_surge > 0:
        scale_surge = scale_old_surge = 0
        to_delete = c.new_to_delete + c.old_to_delete
        if to_delete > 0:
            scale_surge = min(max(total_unavailable + to_delete - max_unavailable, 0), to_delete)
            if scale_surge > c.new_to_delete:
                scale_old_surge = scale_surge - c.new_to_delete
        update_surge = update_old_surge = 0
        if _plus_and_minus(update_old_diff, update_new_diff):
            if abs(update_old_diff) <= abs(update_new_diff):
                update_surge = abs(update_old_diff)
                if update_old_diff < 0:
                    update_old_surge = update_surge
            else:
                update_surge = abs(update_new_diff)
                if update_new_diff > 0:
                    update_old_surge = update_surge
        # The controller never scales and updates in one reconcile: the larger need wins.
        if scale_surge >= update_surge:
            use_surge = min(max_surge, scale_surge)
            use_surge_old = min(use_surge, scale_old_surge)
        else:
            use_surge = min(max_surge, update_surge)
            use_surge_old = min(use_surge, update_old_surge)

    total, total_old = len(pods), c.old
    if exclude_preparing_delete:
        total -= c.old_pre_deleting + c.new_pre_deleting
        total_old -= c.old_pre_deleting
    expected_total = replicas + use_surge
    expected_old = partition + use_surge_old

    scale_up = scale_up_old = scale_up_limit = 0
    if expected_total - total > 0:
        scale_up = expected_total - total
        scale_up_old = max(expected_old - total_old, 0)
        scale_up_limit = min(scale_up, max(limits.scale_max_unavailable - total_unavailable, 0))

    scale_down = scale_down_old = 0
    if total - c.old_to_delete - c.new_to_delete - expected_total > 0:
        scale_down = total - c.old_to_delete - c.new_to_delete - expected_total
        scale_down_old = max(total_old - c.old_to_delete - expected_old, 0)
    delete_ready_limit = 0
    if c.new_to_delete > 0 or c.old_to_delete > 0 or scale_down > 0:
        delete_ready_limit = max(max_unavailable + (len(pods) - replicas) - total_unavailable, 0)

    update = update_old_diff if abs(update_old_diff) <= abs(update_new_diff) else -update_new_diff
    update_max_unavailable = max_unavailable + len(pods) - replicas if update != 0 else 0

    return RolloutDiff(
        scale_up=scale_up,
        scale_up_old_revision=scale_up_old,
        scale_down=scale_down,
        scale_down_old_revision=scale_down_old,
        scale_up_limit=scale_up_limit,
        delete_ready_limit=delete_ready_limit,
        use_surge=use_surge,
        use_surge_old_revision=use_surge_old,
        update=update,
        update_max_unavailable=update_max_unavailable,
    )
