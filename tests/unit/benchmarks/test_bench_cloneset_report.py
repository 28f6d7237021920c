"""Unit tests of the CloneSet benchmark's pure summary: side-by-side ratios, goals, "not measured yet"."""

from __future__ import annotations

from typing import Any

from benchmarks.cloneset_report import render_markdown
from benchmarks.cloneset_summary import summarize_records
from benchmarks.harness.stats import NOT_MEASURED


def run(
    variant: str, repeat: int, seconds: float | None, scenario: str = "scale", size: int = 1000
) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "variant": variant,
        "limits": "unlimited",
        "size": size,
        "repeat": repeat,
        "seconds": seconds,
        "error": None if seconds is not None else "timed out",
        "usage": {"kube-controller-manager": {"cpu_seconds": 2.0, "peak_rss_bytes": 100 * 2**20}},
        "machine_busy": 0.5,
    }


def test_ratios_pair_runs_of_the_same_repeat() -> None:
    records = [
        run("replicaset", 0, 10.0), run("cloneset", 0, 9.0), run("rawloop", 0, 9.0),
        run("replicaset", 1, 20.0), run("cloneset", 1, 22.0), run("rawloop", 1, 20.0),
        run("replicaset", 2, 10.0), run("cloneset", 2, None), run("rawloop", 2, 5.0),
    ]  # fmt: skip
    [row] = summarize_records(records)["scale"]
    assert row["ratios"]["cloneset/replicaset"] == (0.9 + 1.1) / 2  # repeat 2 failed: not paired
    assert row["ratios"]["replicaset/rawloop"] == 10.0 / 9.0
    assert row["median_seconds"]["cloneset"] == (9.0 + 22.0) / 2
    assert row["cost"]["replicaset"]["controller_cpu_seconds_per_1000_pods"] == 2.0


def test_goals_without_cloneset_runs_are_not_measured() -> None:
    records = [run("replicaset", 0, 10.0), run("rawloop", 0, 8.0), run("deployment", 0, 30.0, "update")]
    summary = summarize_records(records)
    assert [g["verdict"] for g in summary["goals"]] == [NOT_MEASURED] * 3
    text = render_markdown(records, summary)
    assert NOT_MEASURED in text
    assert "1.25x" in text  # ReplicaSet / raw


def test_goals_verdicts() -> None:
    records = [
        run("replicaset", 0, 10.0), run("cloneset", 0, 10.5), run("rawloop", 0, 10.0),
        run("cloneset-inplace", 0, 2.0, "update"), run("cloneset-recreate", 0, 12.0, "update"),
    ]  # fmt: skip
    verdicts = {g["goal"]: g["verdict"] for g in summarize_records(records)["goals"]}
    assert verdicts == {
        "CloneSet 0->N within 1.0x of ReplicaSet": "missed",
        "CloneSet 0->N within 1.1x of the raw loop": "met",
        "in-place >= 5x faster than recreate": "met",
    }
