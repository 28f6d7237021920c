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
    assert [g["verdict"] for g in summary["goals"]] == [NOT_MEASURED] * 6
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
        "Flotilla 0->N <= 0.8x kruise-manager": NOT_MEASURED,
        "Flotilla in-place <= 0.8x kruise-manager": NOT_MEASURED,
        "Flotilla 0->N within 1.2x of the protocol loop": NOT_MEASURED,
    }


def test_kruise_manager_and_protocol_loop_side_by_side() -> None:
    records = [
        run("cloneset", 0, 8.0), run("kruise", 0, 10.0), run("protocol-loop", 0, 5.0),
        run("cloneset-inplace", 0, 6.0, "update"), run("kruise-inplace", 0, 10.0, "update"),
        run("kruise-recreate", 0, 15.0, "update"),
    ]  # fmt: skip
    summary = summarize_records(records)
    [scale], [update] = summary["scale"], summary["update"]
    assert scale["ratios"]["cloneset/kruise"] == 0.8
    assert scale["ratios"]["kruise/protocol-loop"] == 2.0
    assert update["ratios"]["kruise-recreate/kruise-inplace"] == 1.5
    assert scale["cost"]["kruise"]["controller_process"] == "kruise-manager"
    verdicts = {g["goal"]: g["verdict"] for g in summary["goals"]}
    assert verdicts["Flotilla 0->N <= 0.8x kruise-manager"] == "met"
    assert verdicts["Flotilla in-place <= 0.8x kruise-manager"] == "met"  # 0.6x
    assert verdicts["Flotilla 0->N within 1.2x of the protocol loop"] == "missed"  # 1.6x
    text = render_markdown(records, summary)
    assert "CloneSet (kruise-manager)" in text
    assert "1.50x" in text  # kruise ReCreate / in-place
