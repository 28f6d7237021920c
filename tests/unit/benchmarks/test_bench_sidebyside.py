"""The two-variant benchmarks' shared loop (benchmarks/harness/sidebyside.py): the runs' order
(per repeat, per scenario, the variants rotated by one each repeat, as the benchmarks ran them
before they shared it), each record tagged with its repeat, and the paired ratio over repeats
where both variants finished (worked by hand)."""

from __future__ import annotations

from typing import Any

from benchmarks.harness.sidebyside import paired_ratio, run_side_by_side, seconds_cell


async def test_runs_interleave_the_variants_with_their_order_rotated_each_repeat() -> None:
    calls: list[tuple[str, str, int]] = []

    async def run(scenario: str, variant: str, repeat: int) -> dict[str, Any]:
        calls.append((scenario, variant, repeat))
        return {"variant": variant, "seconds": 1.0, "error": None}

    records = await run_side_by_side(("a", "b"), 2, run, lambda r: str(r), scenarios=("up", "update"))
    assert calls == [
        ("up", "a", 0), ("up", "b", 0), ("update", "a", 0), ("update", "b", 0),
        ("up", "b", 1), ("up", "a", 1), ("update", "b", 1), ("update", "a", 1),
    ]  # fmt: skip
    assert [r["repeat"] for r in records] == [0, 0, 0, 0, 1, 1, 1, 1]


def test_the_ratio_pairs_runs_of_one_repeat_and_skips_an_unfinished_one() -> None:
    records = [
        {"variant": "a", "repeat": 0, "seconds": 6.0},
        {"variant": "b", "repeat": 0, "seconds": 2.0},
        {"variant": "a", "repeat": 1, "seconds": 4.0},
        {"variant": "b", "repeat": 1, "seconds": None},  # not done in time: repeat 1 has no pair
        {"variant": "a", "repeat": 2, "seconds": 5.0},
        {"variant": "b", "repeat": 2, "seconds": 5.0},
    ]
    # pairs 6/2 = 3.0 and 5/5 = 1.0: median 2.0
    assert paired_ratio(records, "a", "b") == 2.0
    assert seconds_cell(records, "a") == "5.00 (4.00-6.00, n=3)"
    assert seconds_cell(records, "b") == "3.50 (2.00-5.00, n=2)"
    assert seconds_cell(records, "c") == "not measured"
