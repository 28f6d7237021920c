"""Replica allocation tables, worked by hand from kruise v1.9.1's allocator.go and allocator_test.go.

The specific allocator sorts subsets by (current replicas, name) and hands the remainder to the
last ones; the min/max allocator fills minReplicas then maxReplicas in topology order.
"""

from __future__ import annotations

import pytest

from workers.uniteddeployment.allocation import (
    MAX_INT32,
    AllocationError,
    SubsetSpec,
    allocate,
    parse_subset_replicas,
    partitions,
)


def _plain(*names: str) -> list[SubsetSpec]:
    return [SubsetSpec(n) for n in names]


@pytest.mark.parametrize(
    ("current", "total", "expected"),
    [
        # kruise TestScaleReplicas: sorted t1(1) t3(2) t4(2) t2(4); 5 = 4*1 + 1, the last (t2) gets +1
        ({"t1": 1, "t2": 4, "t3": 2, "t4": 2}, 5, {"t1": 1, "t3": 1, "t4": 1, "t2": 2}),
        ({"t1": 1, "t2": 4, "t3": 2, "t4": 2}, 17, {"t1": 4, "t3": 4, "t4": 4, "t2": 5}),
        ({"t1": 2, "t2": 4, "t3": 2, "t4": 2}, 9, {"t1": 2, "t3": 2, "t4": 2, "t2": 3}),
        ({"t1": 0, "t2": 10}, 19, {"t1": 9, "t2": 10}),
        ({"t1": 0, "t2": 10}, 21, {"t1": 10, "t2": 11}),
        ({"t1": 2}, 0, {"t1": 0}),
        # new subsets (current 0) sort by name: 7 = 3*2 + 1 goes to "c"
        ({}, 7, {"a": 2, "b": 2, "c": 3}),
    ],
)
def test_even_split_follows_kruise_order_and_remainder(
    current: dict[str, int], total: int, expected: dict[str, int]
) -> None:
    names = sorted(set(current) | set(expected))
    assert allocate(total, _plain(*names), current) == expected


def test_specified_subsets_first_then_the_rest_evenly() -> None:
    # kruise TestSpecifyValidReplicas: 27, t1=4 t3=4 -> 19 over t4(2) t2(4): 9 and 10
    subsets = [SubsetSpec("t1", replicas=4), SubsetSpec("t2"), SubsetSpec("t3", replicas=4), SubsetSpec("t4")]
    current = {"t1": 1, "t2": 4, "t3": 2, "t4": 2}
    assert allocate(27, subsets, current) == {"t1": 4, "t2": 10, "t3": 4, "t4": 9}
    assert allocate(8, subsets, {"t1": 2, "t2": 4, "t3": 2, "t4": 2}) == {"t1": 4, "t2": 0, "t3": 4, "t4": 0}


def test_percent_rounds_half_up() -> None:
    # 10 * 25% = 2.5 -> 3 (math.Floor(x + 0.5)); 10 * 33% = 3.3 -> 3; rest 4 to the unspecified one
    subsets = [SubsetSpec("a", replicas="25%"), SubsetSpec("b", replicas="33%"), SubsetSpec("c")]
    assert allocate(10, subsets, {}) == {"a": 3, "b": 3, "c": 4}
    assert parse_subset_replicas(3, "50%") == 2  # 1.5 -> 2


@pytest.mark.parametrize(
    ("total", "subsets", "message"),
    [
        (
            5,
            [SubsetSpec("a", replicas=4), SubsetSpec("b", replicas=2)],
            "specified subsets' replica (6) is greater than UnitedDeployment replica (5)",
        ),
        (
            7,
            [SubsetSpec("a", replicas=4), SubsetSpec("b", replicas=2)],
            "specified subsets' replica (6) is less than UnitedDeployment replica (7)",
        ),
        (
            None,
            [SubsetSpec("a", replicas=4), SubsetSpec("b")],
            "all subsets must be specified when UnitedDeployment replica is unspecified",
        ),
    ],
)
def test_invalid_specified_replicas_use_kruise_messages(
    total: int | None, subsets: list[SubsetSpec], message: str
) -> None:
    with pytest.raises(AllocationError) as caught:
        allocate(total, subsets, {})
    assert str(caught.value) == message


def test_unset_total_takes_every_subset_as_specified() -> None:
    assert allocate(None, [SubsetSpec("a", replicas=4), SubsetSpec("b", replicas=1)], {}) == {"a": 4, "b": 1}


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (10, [2, 2, 2, 2, 2]),  # kruise TestCapacityAllocator: sum of mins == replicas
        (14, [5, 3, 2, 2, 2]),  # mins (10), then 3 more to the first (max 5), 1 to the second
        (5, [2, 2, 1, 0, 0]),  # mins in topology order until the replicas run out
    ],
)
def test_min_max_fills_mins_then_maxes_in_topology_order(total: int, expected: list[int]) -> None:
    maxes: list[int | None] = [5, 5, 5, 5, None]
    subsets = [SubsetSpec(f"s{i}", min_replicas=2, max_replicas=m) for i, m in enumerate(maxes)]
    assert allocate(total, subsets, {}) == {f"s{i}": n for i, n in enumerate(expected)}


def test_min_max_doc_example_and_bad_bounds() -> None:
    # allocator.go's comment: 5 replicas, a (min 2, max 4), b (min 2) -> a 3, b 2
    subsets = [SubsetSpec("a", min_replicas=2, max_replicas=4), SubsetSpec("b", min_replicas=2)]
    assert allocate(5, subsets, {}) == {"a": 3, "b": 2}
    # percent bounds: 20% of 10 = 2 min, 50% = 5 max
    assert allocate(10, [SubsetSpec("a", min_replicas="20%", max_replicas="50%"), SubsetSpec("b")], {}) == {
        "a": 5,
        "b": 5,
    }
    with pytest.raises(
        AllocationError, match=r"subset\[0\]\.maxReplicas\(1\) must be more than or equal to minReplicas\(3\)"
    ):
        allocate(5, [SubsetSpec("a", min_replicas=3, max_replicas=1)], {})
    assert MAX_INT32 == 2147483647


def test_partitions_are_capped_by_replicas() -> None:
    subsets = _plain("a", "b", "c")
    assert partitions(subsets, {"a": 5, "b": 1}, {"a": 2, "b": 3, "c": 1}) == {"a": 2, "b": 1, "c": 0}


def test_adaptive_without_bounds_fills_subsets_in_topology_order() -> None:
    # adaptiveAllocator: raw min 0 / max MaxInt32 -> the first subset takes every replica
    assert allocate(5, _plain("a", "b"), {}, adaptive=True) == {"a": 5, "b": 0}
