"""How a UnitedDeployment's replicas are split over its subsets (kruise ``allocator.go``).

The allocators, chosen as kruise's ``NewReplicaAllocator`` chooses them:

* **specific** (no subset sets ``minReplicas`` / ``maxReplicas``): subsets with ``replicas``
  (a number or a percent of ``spec.replicas``, rounded half up) get it; the rest is shared evenly
  by the others, the remainder going one each to the subsets last in the order "current replicas
  ascending, then name" (kruise ``subsetInfos.Less``, walked from the end). Errors when the
  specified replicas exceed ``spec.replicas`` or, with every subset specified, fall short of it.
* **min/max** (elastic): in topology order each subset first gets its ``minReplicas``, then in
  the same order up to ``maxReplicas - minReplicas`` more, while replicas are left.
* **adaptive** (``scheduleStrategy.type: Adaptive``): the min/max order, an unschedulable subset
  narrowed to its ready pods, a schedulable one never below them.
* **reservation** (Adaptive with ``reserveUnschedulablePods``): kruise's
  ``allocateByMinMaxMapAndReservation``: a subset that is unschedulable or marked so may only
  count ``spec.replicas - reservedPods`` of what it is given; the replicas it cannot count are
  given again to the next subsets (temporary pods), while the subset keeps its reserved pods.

Pure; called by ``planner``; its tables are in tests/unit/uniteddeployment/test_allocation.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MAX_INT32 = 2**31 - 1


class AllocationError(ValueError):
    """kruise's "Specified subset replicas is ineffective" reasons; the message is kruise's."""


@dataclass(frozen=True)
class SubsetSpec:
    """What the allocator reads of one ``topology.subsets[]`` entry."""

    name: str
    replicas: int | str | None = None
    min_replicas: int | str | None = None
    max_replicas: int | str | None = None


def parse_subset_replicas(total: int | None, value: int | str) -> int:
    """``ParseSubsetReplicas``: a number as is, ``"N%"`` of ``total`` rounded half up."""
    if isinstance(value, int):
        if value < 0:
            raise AllocationError(f"subset replicas ({value}) should not be less than 0")
        return value
    if total is None:
        raise AllocationError(
            f"subsetReplicas ({value}) should not be string when unitedDeployment replicas is empty"
        )
    if not value.endswith("%"):
        raise AllocationError(
            f"subset replicas ({value}) only support integer value or percentage value with a suffix '%'"
        )
    try:
        percent = int(value[:-1])
    except ValueError as err:
        raise AllocationError(
            f"subset replicas ({value}) should be correct percentage integer: {err}"
        ) from None
    if percent > 100 or percent < 0:
        raise AllocationError(f"subset replicas ({value}) should be in range [0, 100]")
    # Go: int32(math.Floor(x + 0.5)), x = float64(total) * float64(percent) / 100
    return int((total * percent / 100) + 0.5)


def is_elastic(subsets: Sequence[SubsetSpec]) -> bool:
    return any(s.min_replicas is not None or s.max_replicas is not None for s in subsets)


def allocate(
    total: int | None,
    subsets: Sequence[SubsetSpec],
    current: Mapping[str, int],
    *,
    adaptive: bool = False,
    ready: Mapping[str, int] | None = None,
    unschedulable: Mapping[str, bool] | None = None,
    reservation: Mapping[str, Reserved] | None = None,
) -> dict[str, int]:
    """Replicas of each subset. ``total`` is ``spec.replicas`` (None when unset); ``current`` the
    ``spec.replicas`` of each existing subset workload (it orders the even split). ``adaptive``
    (``scheduleStrategy.type: Adaptive``) is kruise's adaptiveAllocator: the min/max order, with
    each existing subset's ``ready`` pods and the ``unschedulable`` subsets (``adaptive.assess``).
    ``reservation`` (given when ``reserveUnschedulablePods`` is on; one entry per existing subset,
    ``reservation.assess``) chooses the reservation allocator."""
    if reservation is not None:
        return _reservation(total or 0, subsets, reservation)
    if adaptive:
        return _adaptive(total or 0, subsets, ready or {}, unschedulable or {})
    if is_elastic(subsets):
        return _min_max(total or 0, subsets)
    return _specific(total, subsets, current)


def _adaptive(
    total: int, subsets: Sequence[SubsetSpec], ready: Mapping[str, int], unschedulable: Mapping[str, bool]
) -> dict[str, int]:
    """``adaptiveAllocator.Alloc``: an unschedulable subset keeps its ready pods (min and max
    narrowed to them), a schedulable one never drops below its ready pods (up to its max)."""
    lows, highs = min_max_bounds(total, subsets)
    for subset in subsets:
        low, high = lows[subset.name], highs[subset.name]
        stuck = unschedulable.get(subset.name, False)
        if stuck and subset.name in ready:
            low, high = max(ready[subset.name], low), min(ready[subset.name], high)
        running = ready.get(subset.name, 0)
        if not stuck and running > low:
            low = min(running, high)
        lows[subset.name], highs[subset.name] = low, high
    return _fill(total, subsets, lows, highs)


@dataclass(frozen=True)
class Reserved:
    """What the reservation allocator reads of one existing subset (kruise ``Subset``)."""

    replicas: int
    """The workload's ``spec.replicas``."""
    reserved_pods: int
    unschedulable: bool
    """It has reserved pods now."""
    marked: bool
    """Its ``Schedulable`` condition was False when the pass began (``MarkedAsUnschedulable``)."""

    @property
    def allocatable(self) -> bool:
        return not self.unschedulable and not self.marked


class _Record:
    """``reservationAllocatorSubsetRecord``: what was given to a subset, and what it can still run."""

    def __init__(self, max_allocatable: int) -> None:
        self.max_allocatable = max_allocatable
        self.allocated = 0

    def allocate(self, to: int, rest: int) -> int:
        """Raise the subset to ``to`` (at most ``rest`` more); return how many of those count
        (beyond ``max_allocatable`` they will be reserved pods, and count nothing)."""
        add = min(to - self.allocated, rest)
        self.allocated += add
        self.max_allocatable -= add
        if self.max_allocatable < 0:
            return max(0, add + self.max_allocatable)
        return add


def _reservation(
    total: int, subsets: Sequence[SubsetSpec], existing: Mapping[str, Reserved]
) -> dict[str, int]:
    """``reservationAllocator.Alloc``: mins in topology order, then each schedulable subset up to
    its max and each unschedulable one up to its current replicas, stopping once all are counted."""
    lows, highs = min_max_bounds(total, subsets)
    records: dict[str, _Record] = {}
    for subset in subsets:
        found = existing.get(subset.name)
        if found is None or found.allocatable:
            records[subset.name] = _Record(MAX_INT32)
        else:
            records[subset.name] = _Record(found.replicas - found.reserved_pods)
    rest = total

    def result() -> dict[str, int]:
        return {name: record.allocated for name, record in records.items()}

    for subset in subsets:
        rest -= records[subset.name].allocate(lows[subset.name], rest)
        if rest <= 0:
            return result()
    for subset in subsets:
        found = existing.get(subset.name)
        to = highs[subset.name] if found is None or not found.unschedulable else found.replicas
        rest -= records[subset.name].allocate(to, rest)
        if rest <= 0:
            return result()
    return result()


def _specific(total: int | None, subsets: Sequence[SubsetSpec], current: Mapping[str, int]) -> dict[str, int]:
    expected = -1 if total is None else total
    order = sorted(subsets, key=lambda s: (current.get(s.name, 0), s.name))
    specified: dict[str, int] = {}
    for subset in subsets:
        if subset.replicas is None:
            continue
        try:
            specified[subset.name] = parse_subset_replicas(total, subset.replicas)
        except AllocationError:
            continue  # kruise logs and treats the subset as unspecified
    specified_sum = sum(specified.values())
    if expected != -1:
        if specified_sum > expected:
            raise AllocationError(
                f"specified subsets' replica ({specified_sum}) is greater than UnitedDeployment replica"
                f" ({expected})"
            )
        if specified_sum < expected and len(specified) == len(order):
            raise AllocationError(
                f"specified subsets' replica ({specified_sum}) is less than UnitedDeployment replica"
                f" ({expected})"
            )
    elif len(specified) != len(order):
        raise AllocationError("all subsets must be specified when UnitedDeployment replica is unspecified")
    result = {s.name: current.get(s.name, 0) for s in order}
    result.update(specified)
    left = [s for s in order if s.name not in specified]
    if left:
        rest = expected - specified_sum
        # Go's integer division and remainder truncate toward zero
        average = int(rest / len(left))
        remainder = rest - average * len(left)
        for subset in reversed(left):
            if remainder > 0:
                result[subset.name] = average + 1
                remainder -= 1
            else:
                result[subset.name] = average
    return result


def min_max_bounds(total: int, subsets: Sequence[SubsetSpec]) -> tuple[dict[str, int], dict[str, int]]:
    """Each subset's parsed ``minReplicas`` (default 0) and ``maxReplicas`` (default MaxInt32)."""
    lows: dict[str, int] = {}
    highs: dict[str, int] = {}
    for index, subset in enumerate(subsets):
        low = _bound(total, subset.min_replicas, 0)
        high = _bound(total, subset.max_replicas, MAX_INT32)
        if low > high:
            raise AllocationError(
                f"subset[{index}].maxReplicas({high}) must be more than or equal to minReplicas({low})"
            )
        lows[subset.name] = low
        highs[subset.name] = high
    return lows, highs


def _bound(total: int, value: int | str | None, default: int) -> int:
    if value is None:
        return default
    try:
        return parse_subset_replicas(total, value)
    except AllocationError:
        return 0  # kruise ignores the parse error and keeps the zero value


def _min_max(total: int, subsets: Sequence[SubsetSpec]) -> dict[str, int]:
    lows, highs = min_max_bounds(total, subsets)
    return _fill(total, subsets, lows, highs)


def _fill(
    total: int, subsets: Sequence[SubsetSpec], lows: Mapping[str, int], highs: Mapping[str, int]
) -> dict[str, int]:
    """``allocateByMinMaxMap``: every subset's min in topology order, then up to its max."""
    allocated = 0
    result: dict[str, int] = {}
    for subset in subsets:
        add = max(min(lows[subset.name], total - allocated), 0)
        result[subset.name] = add
        allocated += add
    if allocated >= total:
        return result
    for subset in subsets:
        add = max(min(highs[subset.name] - lows[subset.name], total - allocated), 0)
        result[subset.name] += add
        allocated += add
    return result


def partitions(
    subsets: Sequence[SubsetSpec], wanted: Mapping[str, int] | None, replicas: Mapping[str, int]
) -> dict[str, int]:
    """``calcNextPartitions``: each subset's ``manualUpdate.partitions`` entry, at most its replicas."""
    result: dict[str, int] = {}
    for subset in subsets:
        partition = (wanted or {}).get(subset.name, 0)
        if subset.name in replicas and partition > replicas[subset.name]:
            partition = replicas[subset.name]
        result[subset.name] = partition
    return result
