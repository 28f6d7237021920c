"""Slow start: create in batches of 1, 2, 4, ... so a failing create costs little.

kube-controller-manager's ``slowStartBatch`` and kruise's ``DoItSlowly``: the first batch has
``first`` items, each next batch twice as many, and the caller stops at the first batch with a
failure. Pure; the CloneSet planner batches its pod creations with it, the BroadcastJob worker
its pods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def slow_start_batches(items: Sequence[T], first: int = 1) -> tuple[tuple[T, ...], ...]:
    """``items`` split into batches of ``first`` (at least 1), 2x, 4x, ..., in order."""
    batches: list[tuple[T, ...]] = []
    start, size = 0, max(first, 1)
    while start < len(items):
        batches.append(tuple(items[start : start + size]))
        start += size
        size *= 2
    return tuple(batches)
