"""The rollout arithmetic (kruise calculateDiffsWithExpectation), walked step by step.

Each row is one observed moment of a rollout: the CloneSet's numbers and a list of pods as
(revision, lifecycle state, ready, specified-for-deletion); the whole RolloutDiff is asserted.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.cloneset.cloneset_builders import NOW, cloneset, pod
from workers.cloneset.diff import RolloutDiff, calculate_diff
from workers.cloneset.limits import partition_replicas, resolve_limits, scaled_value
from workers.podmechanics.pods import read_pod

NEW, OLD = "web-new", "web-old"
N, PD = "Normal", "PreparingDelete"

Row = tuple[str, str, bool, bool]


def diff(
    replicas: int,
    partition: int | str,
    max_unavailable: int | str,
    max_surge: int | str,
    rows: list[Row],
    *,
    scale_max_unavailable: int | str | None = None,
    paused: bool = False,
    exclude_preparing_delete: bool = False,
) -> RolloutDiff:
    strategy: dict[str, Any] = {
        "partition": partition,
        "maxUnavailable": max_unavailable,
        "maxSurge": max_surge,
        "paused": paused,
    }
    scale = {} if scale_max_unavailable is None else {"maxUnavailable": scale_max_unavailable}
    cs = cloneset(replicas, strategy=strategy, scale=scale)
    pods = [
        read_pod(
            pod(
                f"web-p{i}",
                rev,
                state=state,
                ready=ready,
                labels={"apps.kruise.io/specified-delete": "true"} if delete else None,
            )
        )
        for i, (rev, state, ready, delete) in enumerate(rows)
    ]
    return calculate_diff(
        resolve_limits(cs),
        pods,
        is_updated=lambda p: p.revision == NEW,
        revisions_differ=any(r[0] == OLD for r in rows),
        pods_to_delete=(),
        min_ready_seconds=0,
        now=NOW,
        exclude_preparing_delete=exclude_preparing_delete,
    )


def ready(rev: str = NEW, n: int = 1) -> list[Row]:
    return [(rev, N, True, False)] * n


def unready(rev: str = NEW, n: int = 1) -> list[Row]:
    return [(rev, N, False, False)] * n


def doomed(rev: str = NEW, *, is_ready: bool = True) -> list[Row]:
    return [(rev, N, is_ready, True)]


STEPS = [
    ("empty cloneset", (0, 0, 1, 0, []), RolloutDiff()),
    ("scale 0 -> 5 (step 1/2)", (5, 0, 1, 0, []), RolloutDiff(scale_up=5, scale_up_limit=5)),
    ("scale 0 -> 5 (step 2/2)", (5, 0, 1, 0, ready(n=5)), RolloutDiff()),
    ("specified delete 1 (step 1/3)", (5, 0, 1, 0, doomed() + ready(n=4)), RolloutDiff(delete_ready_limit=1)),
    ("specified delete 1 (step 2/3)", (5, 0, 1, 0, ready(n=4)), RolloutDiff(scale_up=1, scale_up_limit=1)),
    ("specified delete 1 (step 3/3)", (5, 0, 1, 0, ready(n=4) + unready()), RolloutDiff()),
    (
        "specified delete with maxSurge (step 1/3): replacement first",
        (5, 0, 0, 1, doomed() + ready(n=4)),
        RolloutDiff(scale_up=1, scale_up_limit=1, use_surge=1),
    ),
    (
        "specified delete with maxSurge (step 2/3): wait for it to be ready",
        (5, 0, 0, 1, doomed() + ready(n=4) + unready()),
        RolloutDiff(use_surge=1),
    ),
    (
        "specified delete with maxSurge (step 3/3): now delete",
        (5, 0, 0, 1, doomed() + ready(n=5)),
        RolloutDiff(use_surge=1, delete_ready_limit=1),
    ),
    (
        "recreate partition=3 maxSurge=1 (step 1/4): surge pod at new revision",
        (5, 3, 1, 1, ready(OLD, 5)),
        RolloutDiff(scale_up=1, scale_up_limit=1, use_surge=1, update=2, update_max_unavailable=1),
    ),
    (
        "recreate partition=3 maxSurge=1 (step 2/4): surge created, update one",
        (5, 3, 1, 1, ready(OLD, 5) + unready()),
        RolloutDiff(use_surge=1, update=1, update_max_unavailable=2),
    ),
    (
        "recreate partition=3 maxSurge=1 (step 3/4): old pod marked for recreate",
        (5, 3, 1, 1, ready(OLD, 4) + doomed(OLD) + unready()),
        RolloutDiff(
            use_surge=1, use_surge_old_revision=1, delete_ready_limit=1, update=1, update_max_unavailable=2
        ),
    ),
    (
        "recreate partition=3 maxSurge=1 (step 4/4): done",
        (5, 3, 1, 1, ready(OLD, 3) + ready(NEW, 2)),
        RolloutDiff(),
    ),
    ("partition 99% keeps all but one", (5, "99%", 3, 2, ready(OLD, 5)), None),
    (
        "scale maxUnavailable=2 limits creation",
        (6, 0, 1, 0, ready(n=2) + unready()),
        RolloutDiff(scale_up=3, scale_up_limit=1),
    ),
    (
        "pod in PreparingDelete still counts toward replicas",
        (3, 0, 1, 0, [*ready(n=2), (NEW, PD, True, True)]),
        RolloutDiff(),
    ),
    ("paused drops maxSurge", (5, 0, 0, 3, ready(OLD, 5)), RolloutDiff(update=5)),
]


@pytest.mark.parametrize(("name", "args", "expected"), STEPS, ids=[s[0] for s in STEPS])
def test_rollout_diff_step(name: str, args: tuple[Any, ...], expected: RolloutDiff | None) -> None:
    replicas, partition, max_unavailable, max_surge, rows = args
    kwargs: dict[str, Any] = {}
    if name.startswith("scale maxUnavailable"):
        kwargs["scale_max_unavailable"] = 2
    if name.startswith("paused"):
        kwargs["paused"] = True
    got = diff(replicas, partition, max_unavailable, max_surge, rows, **kwargs)
    if expected is None:  # 99%: partition 4, so one pod is updated (surge 2 rounds up, maxUnavailable 3)
        assert got.update == 1
        assert got.use_surge == 1
        return
    assert got == expected


def test_exclude_preparing_delete_creates_the_replacement_at_once() -> None:
    rows = [*ready(n=2), (NEW, PD, True, True)]
    assert diff(3, 0, 1, 0, rows, exclude_preparing_delete=True) == RolloutDiff(scale_up=1, scale_up_limit=1)


@pytest.mark.parametrize(
    ("value", "total", "round_up", "expected"),
    [
        (3, 10, True, 3),
        ("25%", 10, True, 3),
        ("25%", 10, False, 2),
        ("0%", 10, True, 0),
        ("100%", 3, False, 3),
    ],
)
def test_scaled_value(value: int | str, total: int, round_up: bool, expected: int) -> None:
    assert scaled_value(value, total, round_up=round_up) == expected


@pytest.mark.parametrize(
    ("partition", "replicas", "expected"),
    [(0, 5, 0), (3, 5, 3), (9, 5, 5), ("40%", 5, 2), ("99%", 5, 4), ("100%", 5, 5), ("50%", 1, 1)],
)
def test_partition_percent_rounds_up_but_updates_one(
    partition: int | str, replicas: int, expected: int
) -> None:
    assert partition_replicas(partition, replicas) == expected


def test_malformed_percent_is_refused() -> None:
    with pytest.raises(ValueError, match="percentage"):
        scaled_value("ten", 10, round_up=True)


def test_max_unavailable_rounds_down_with_surge() -> None:
    cs = cloneset(10, strategy={"maxUnavailable": "25%", "maxSurge": "15%"})
    limits = resolve_limits(cs)
    assert (limits.max_surge, limits.max_unavailable) == (2, 2)
    assert resolve_limits(cloneset(10, strategy={"maxUnavailable": "25%"})).max_unavailable == 3
