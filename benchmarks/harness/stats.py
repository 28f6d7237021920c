"""Pure statistics and formatting for benchmark results: medians, ratios, markdown tables.

No I/O, no clock: every function takes numbers (or ``None`` for "not measured") and returns
numbers or text. Used by the benchmark reports (``benchmarks/cloneset_report.py``) and
unit-tested in ``tests/unit/benchmarks/``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: What a table cell says when a value was not measured (never a made-up number).
NOT_MEASURED = "not measured yet"


@dataclass(frozen=True)
class Summary:
    """The spread of repeated samples of one measurement."""

    median: float
    low: float
    high: float
    count: int


def summarize(samples: Sequence[float]) -> Summary | None:
    """Median, min, max and count of ``samples``; None when there are none."""
    if not samples:
        return None
    return Summary(
        median=float(statistics.median(samples)),
        low=float(min(samples)),
        high=float(max(samples)),
        count=len(samples),
    )


def median_or_none(samples: Sequence[float]) -> float | None:
    summary = summarize(samples)
    return summary.median if summary else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``; None when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Ratios of samples taken side by side (same repeat index); unpaired tails are dropped."""
    out: list[float] = []
    for top, bottom in zip(numerators, denominators, strict=False):
        value = ratio(top, bottom)
        if value is not None:
            out.append(value)
    return out


def per_thousand(value: float | None, items: int) -> float | None:
    """``value`` scaled to 1000 items (e.g. CPU seconds per 1000 pods)."""
    if value is None or items <= 0:
        return None
    return value * 1000.0 / items


def format_seconds(value: float | None) -> str:
    return NOT_MEASURED if value is None else f"{value:.1f} s"


def format_ratio(value: float | None) -> str:
    return NOT_MEASURED if value is None else f"{value:.2f}x"


def format_spread(summary: Summary | None, unit: str = "s") -> str:
    """``"12.3 s (11.9-13.0, n=3)"``, or NOT_MEASURED."""
    if summary is None:
        return NOT_MEASURED
    if summary.count == 1:
        return f"{summary.median:.1f} {unit} (n=1)"
    return f"{summary.median:.1f} {unit} ({summary.low:.1f}-{summary.high:.1f}, n={summary.count})"


def format_mebibytes(value: float | None) -> str:
    return NOT_MEASURED if value is None else f"{value / (1024 * 1024):.0f} MiB"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table; ``|`` in cells is escaped, short rows are padded."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    width = len(headers)
    lines = [
        "| " + " | ".join(cell(h) for h in headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    for row in rows:
        padded = [*row, *([""] * (width - len(row)))][:width]
        lines.append("| " + " | ".join(cell(c) for c in padded) + " |")
    return "\n".join(lines)
