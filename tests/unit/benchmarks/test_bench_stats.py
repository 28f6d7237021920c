"""Unit tests of the benchmarks' pure statistics and formatting helpers (benchmarks/harness/stats.py)."""

from __future__ import annotations

import pytest

from benchmarks.harness.stats import (
    NOT_MEASURED,
    Summary,
    format_mebibytes,
    format_ratio,
    format_seconds,
    format_spread,
    markdown_table,
    median_or_none,
    paired_ratios,
    per_thousand,
    ratio,
    summarize,
)


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([], None),
        ([3.0], Summary(3.0, 3.0, 3.0, 1)),
        ([5.0, 1.0, 3.0], Summary(3.0, 1.0, 5.0, 3)),
        ([4.0, 1.0, 2.0, 3.0], Summary(2.5, 1.0, 4.0, 4)),
    ],
)
def test_summarize(samples: list[float], expected: Summary | None) -> None:
    assert summarize(samples) == expected


def test_median_or_none() -> None:
    assert median_or_none([]) is None
    assert median_or_none([2.0, 9.0, 4.0]) == 4.0


@pytest.mark.parametrize(
    ("top", "bottom", "expected"),
    [(6.0, 3.0, 2.0), (None, 3.0, None), (3.0, None, None), (3.0, 0.0, None), (3.0, -1.0, None)],
)
def test_ratio(top: float | None, bottom: float | None, expected: float | None) -> None:
    assert ratio(top, bottom) == expected


def test_paired_ratios_pair_by_position_and_drop_unpaired_or_invalid() -> None:
    assert paired_ratios([2.0, 6.0, 9.0], [1.0, 3.0]) == [2.0, 2.0]
    assert paired_ratios([2.0, 6.0], [0.0, 3.0]) == [2.0]
    assert paired_ratios([], [1.0]) == []


def test_median_of_paired_ratios_is_not_ratio_of_medians() -> None:
    """Side-by-side ratios cancel a repeat's shared noise; the ratio of medians would not."""
    tops, bottoms = [10.0, 30.0, 40.0], [5.0, 10.0, 40.0]
    assert median_or_none(paired_ratios(tops, bottoms)) == 2.0
    assert ratio(median_or_none(tops), median_or_none(bottoms)) == 3.0


def test_per_thousand() -> None:
    assert per_thousand(2.0, 500) == 4.0
    assert per_thousand(None, 500) is None
    assert per_thousand(2.0, 0) is None


def test_formatting_never_invents_numbers() -> None:
    assert format_seconds(None) == NOT_MEASURED
    assert format_ratio(None) == NOT_MEASURED
    assert format_spread(None) == NOT_MEASURED
    assert format_mebibytes(None) == NOT_MEASURED
    assert format_seconds(12.345) == "12.3 s"
    assert format_ratio(1.234) == "1.23x"
    assert format_mebibytes(3 * 1024 * 1024) == "3 MiB"


def test_format_spread() -> None:
    assert format_spread(Summary(2.0, 2.0, 2.0, 1)) == "2.0 s (n=1)"
    assert format_spread(Summary(2.0, 1.5, 3.25, 3)) == "2.0 s (1.5-3.2, n=3)"


def test_markdown_table_escapes_pipes_and_pads_short_rows() -> None:
    table = markdown_table(["a", "b"], [["x|y"], ["1", "2", "dropped"]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y |  |", "| 1 | 2 |"]
