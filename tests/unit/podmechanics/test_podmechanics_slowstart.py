"""Slow-start batches, worked by hand from kube-controller-manager's slowStartBatch (1, 2, 4, ...)."""

from __future__ import annotations

from workers.podmechanics.slowstart import slow_start_batches


def test_batches_double_from_the_first_and_the_last_takes_what_is_left() -> None:
    assert slow_start_batches("abcdefghij") == (("a",), ("b", "c"), ("d", "e", "f", "g"), ("h", "i", "j"))
    assert slow_start_batches(range(10), first=2) == ((0, 1), (2, 3, 4, 5), (6, 7, 8, 9))


def test_nothing_to_create_is_no_batch_and_a_first_below_one_counts_as_one() -> None:
    assert slow_start_batches([]) == ()
    assert slow_start_batches([1, 2, 3], first=0) == ((1,), (2, 3))
