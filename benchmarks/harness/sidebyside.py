"""The side-by-side loop of the two-variant benchmarks (``benchmarks/broadcastjob.py``,
``sidecarset.py``, ``statefulset.py``), written once: per repeat (and per scenario), the variants
interleaved with their order rotated, each run's record tagged with its repeat and logged; the
table cell of a variant (median (min-max, n)) and the paired ratio of two variants by repeat; and
the JSON result written once the control plane stopped. A benchmark brings what differs: its
``run(scenario, variant, repeat)`` (one timed run, cleaned up), its log line and its table.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from benchmarks.harness.stats import median_or_none, paired_ratios, summarize

Record = dict[str, Any]
#: One timed run of ``(scenario, variant, repeat)``: its record (``variant``, ``seconds`` or None,
#: ``error``); the object and its pods are gone when it returns.
Run = Callable[[str, str, int], Awaitable[Record]]


def log(message: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def rotated(variants: Sequence[str], repeat: int) -> tuple[str, ...]:
    """The variants' order in ``repeat``: rotated by one each repeat, so none always runs first."""
    shift = repeat % len(variants)
    return (*variants[shift:], *variants[:shift])


def took(record: Record) -> str:
    """A run's seconds, or its error."""
    return f"{record['seconds']:.2f} s" if record["seconds"] is not None else str(record["error"])


async def run_side_by_side(
    variants: Sequence[str],
    repeats: int,
    run: Run,
    describe: Callable[[Record], str],
    scenarios: Sequence[str] = ("",),
) -> list[Record]:
    """Every repeat's runs: per scenario, each variant in the repeat's :func:`rotated` order; each
    record gets its ``repeat`` and is logged as ``describe(record)``."""
    records: list[Record] = []
    for repeat in range(repeats):
        order = rotated(variants, repeat)
        for scenario in scenarios:
            for variant in order:
                record = await run(scenario, variant, repeat)
                record["repeat"] = repeat
                records.append(record)
                log(describe(record))
    return records


def seconds_cell(records: Iterable[Record], variant: str) -> str:
    """The median seconds of ``variant``'s finished runs with their range and count."""
    summary = summarize(
        [r["seconds"] for r in records if r["variant"] == variant and r["seconds"] is not None]
    )
    if summary is None:
        return "not measured"
    return f"{summary.median:.2f} ({summary.low:.2f}-{summary.high:.2f}, n={summary.count})"


def paired_ratio(records: Sequence[Record], numerator: str, denominator: str) -> float | None:
    """The median over repeats of ``numerator``'s seconds / ``denominator``'s (both finished)."""
    by_repeat = {
        v: {r["repeat"]: r["seconds"] for r in records if r["variant"] == v} for v in (numerator, denominator)
    }
    pairs = [
        (by_repeat[numerator][i], by_repeat[denominator][i])
        for i in sorted(set(by_repeat[numerator]) & set(by_repeat[denominator]))
        if by_repeat[numerator][i] is not None and by_repeat[denominator][i] is not None
    ]
    return median_or_none(paired_ratios([top for top, _ in pairs], [bottom for _, bottom in pairs]))


def write_result(result: Record, output: Path, markdown: str) -> None:
    """Stamp the end (time, load), write the JSON result and print the table and where it is."""
    result["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    result["host"]["loadavg_at_end"] = os.getloadavg()
    output.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(markdown)
    print(f"results: {output}")
