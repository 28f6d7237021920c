"""Unit tests of the cluster-scale benchmark's pure helpers (benchmarks/scale_report.py) and its
counting pod tracker (benchmarks/scale_pods.py). Expected values are worked by hand or come from
the worker's own log formatter and kruise's klog line format, never from the function tested."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest

from benchmarks.harness.podwatch import all_updated
from benchmarks.scale_pods import CountingTracker
from benchmarks.scale_report import (
    FULL,
    MIB,
    QUICK,
    Shape,
    flag_value,
    flotilla_reconciled_keys,
    growth_per_thousand,
    kruise_reconciled_keys,
    per_minute,
    render_report,
    throughput_ratio,
    verdicts,
    with_flag,
)
from flotilla.runtime.logs import JsonFormatter, reconcile_context


def worker_log(*entries: tuple[str | None, str]) -> str:
    """Log lines exactly as a worker writes them: (key or None, message) through JsonFormatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.bench.scale")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        for key, message in entries:
            if key is None:
                logger.info(message)
            else:
                with reconcile_context(key):
                    logger.info(message)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_flotilla_keys_come_from_the_workers_reconciled_lines_only() -> None:
    text = worker_log(
        ("cloneset/scale/scale-000", "reconciled: in sync (0 actions)"),
        ("cloneset/scale/scale-001", "reconciled: scale up (5 actions)"),
        ("cloneset/scale/scale-002", "conflict, re-planning from fresh state: 409"),
        ("statefulset/scale/other", "reconciled: in sync (0 actions)"),
        (None, "reconciled: a line without a key"),
    )
    partial = '{"ts":"x","msg":"reconciled: in sync","key":"cloneset/scale/scale-009"'  # cut mid-write
    assert flotilla_reconciled_keys(text + "=== 05:00:00 starting: flotilla worker\n" + partial) == {
        "scale/scale-000",
        "scale/scale-001",
    }


def test_kruise_keys_come_from_its_finished_syncing_lines() -> None:
    # klog's text format as kruise-manager v1.9.1 writes it with --logtostderr
    # (cloneset_controller.go:209; the same as a bench-scale run's kruise-manager.log)
    text = (
        'I1130 05:20:01.123456   12345 cloneset_controller.go:209] "Finished syncing CloneSet" '
        'cloneSet="scale/scale-001" cost="1.234ms"\n'
        'I1130 05:20:01.223456   12345 cloneset_controller.go:209] "Finished syncing CloneSet" '
        'cloneSet="scale/scale-002" cost="2ms" result={"Requeue":false,"RequeueAfter":0}\n'
        'E1130 05:20:02.000000   12345 cloneset_controller.go:212] "Failed syncing CloneSet" '
        'err="boom" cloneSet="scale/scale-003"\n'
        "I1130 05:20:03.000000   12345 leaderelection.go:257] "
        "successfully acquired lease kruise-system/kruise-manager\n"
    )
    assert kruise_reconciled_keys(text) == {"scale/scale-001", "scale/scale-002"}


def test_with_flag_replaces_both_spellings_and_appends_when_absent() -> None:
    argv = ["flotilla", "watcher", "--lease-name=bench-watcher", "--http-port", "1234", "--x=1"]
    assert with_flag(argv, "--lease-name", "cold") == [
        "flotilla", "watcher", "--http-port", "1234", "--x=1", "--lease-name=cold",
    ]  # fmt: skip
    assert with_flag(argv, "--http-port", "99") == [
        "flotilla", "watcher", "--lease-name=bench-watcher", "--x=1", "--http-port=99",
    ]  # fmt: skip
    assert with_flag(["a"], "--new", "v") == ["a", "--new=v"]
    assert flag_value(argv, "--lease-name") == "bench-watcher"
    assert flag_value(argv, "--http-port") == "1234"
    assert flag_value(argv, "--missing") is None
    assert flag_value(["--health-probe-addr=127.0.0.1:8081"], "--health-probe-addr") == "127.0.0.1:8081"


def test_derived_figures_worked_by_hand() -> None:
    # 100 MiB at 1,110 objects -> 120 MiB at 10,200: 20 MiB over 9,090 objects = 2.2 MiB per 1,000
    growth = growth_per_thousand(100 * MIB, 1_110, 120 * MIB, 10_200)
    assert growth == pytest.approx(20 * MIB * 1000 / 9_090)
    assert growth_per_thousand(None, 1, 5, 2) is None
    assert growth_per_thousand(1, 5, 2, 5) is None  # no more objects: no growth rate
    assert per_minute(10.0, 13.0, 30.0) == pytest.approx(6.0)  # 3 CPU s in 30 s
    assert per_minute(None, 1.0, 30.0) is None
    assert per_minute(1.0, 2.0, 0.0) is None
    assert throughput_ratio(90.0, 30.0) == pytest.approx(3.0)
    assert throughput_ratio(90.0, None) is None


def test_shapes() -> None:
    assert (FULL.pods, FULL.first_stage(), FULL.first_stage() * FULL.pods_per_cloneset) == (10_000, 10, 1_000)
    assert (QUICK.pods, QUICK.nodes, QUICK.first_stage()) == (200, 4, 1)
    assert Shape(3, 5, 1).first_stage() == 1


def result(
    shape: Shape, quick: bool, one: float, three: float, cold: float, peaks: list[int]
) -> dict[str, Any]:
    stages = [
        {
            "clonesets": shape.first_stage() * (10 if i else 1),
            "pods": 1000 * (10 if i else 1),
            "objects": 1020 * (10 if i else 1),
            "rss": {
                "flotilla-watcher": {"rss_bytes": (60 + 40 * i) * MIB, "peak_bytes": (70 + 40 * i) * MIB},
                "flotilla-worker-cloneset": {"rss_bytes": peak - MIB, "peak_bytes": peak},
            },
            "reads": ["x", "4.0", "3.0", "93.0", "20", "2000"],
        }
        for i, peak in enumerate(peaks)
    ]
    return {
        "shape": {
            "clonesets": shape.clonesets,
            "pods_per_cloneset": shape.pods_per_cloneset,
            "nodes": shape.nodes,
        },
        "quick": quick,
        "flotilla": {
            "stages": stages,
            "rolls": [
                {"workers": 1, "seconds": one, "pods_created": 0},
                {"workers": 3, "seconds": three, "pods_created": 0},
            ],
            "watcher_restart_cold": {
                "ready_seconds": 2.0,
                "keys_seconds": cold,
                "keys_expected": 100,
                "keys_seen": 100,
            },
            "idle": {"window_seconds": 330.0, "resyncs": 1, "cpu_per_minute": {"flotilla-watcher": 0.5}},
        },
        "kruise": {
            "restart": {"ready_seconds": 16.0, "keys_seconds": 20.0, "keys_expected": 100, "keys_seen": 100}
        },
    }


def test_verdicts_judge_only_the_full_shape() -> None:
    full = verdicts(result(FULL, False, 90.0, 30.0, 45.0, [100 * MIB, 110 * MIB]))
    assert [v.verdict for v in full] == ["met", "met", "met", "met"]
    assert full[0].measured == "3.00x"
    missed = verdicts(result(FULL, False, 90.0, 60.0, 75.0, [100 * MIB, 160 * MIB]))
    # 1.5x < 2.5x; 75 s >= 60 s; 160 MiB >= 150 MiB; 160 > 100 * 1.25
    assert [v.verdict for v in missed] == ["missed", "missed", "missed", "missed"]
    quick = verdicts(result(QUICK, True, 90.0, 30.0, 45.0, [100 * MIB, 110 * MIB]))
    assert all(v.verdict.startswith("not judged") for v in quick)


def test_report_names_every_section_and_the_ratio() -> None:
    text = render_report(result(QUICK, True, 90.0, 30.0, 45.0, [100 * MIB, 110 * MIB]))
    for heading in (
        "### Restarts",
        "### Rolling all 10 CloneSets",
        "### Memory",
        "### Idle cost",
        "### API server reads",
        "### Goals",
    ):
        assert heading in text
    assert "3.00x" in text
    assert "--quick: a smoke run, not results" in text
    # (100 - 60) MiB over (10,200 - 1,020) objects, per 1,000: 4.36 MiB -> "4 MiB"
    assert "flotilla-watcher: RSS growth per 1,000 more objects: 4 MiB" in text


def pod(name: str, ready: bool, image: str, deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "uid": f"uid-{name}"}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": metadata,
        "spec": {"containers": [{"name": "app", "image": image}]},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "app", "image": image}],
        },
    }


def test_counting_tracker_agrees_with_a_full_scan_after_every_event() -> None:
    tracker = CountingTracker(None, "ns", "a=b")  # type: ignore[arg-type]  # no I/O: events fed directly
    events = [
        ("ADDED", pod("a", False, "v1")),
        ("MODIFIED", pod("a", True, "v1")),
        ("ADDED", pod("b", True, "v1")),
        ("MODIFIED", pod("a", False, "v2")),
        ("MODIFIED", pod("a", True, "v2")),
        ("MODIFIED", pod("b", True, "v1", deleting=True)),
        ("ADDED", pod("c", True, "v2")),
        ("DELETED", pod("b", True, "v1", deleting=True)),
    ]
    for kind, obj in events:
        tracker._apply(kind, obj)
        for size in (1, 2, 3):
            for image in ("v1", "v2"):
                assert tracker.settled(size, image) == all_updated(tracker.pods, size, image), (
                    kind,
                    obj,
                    size,
                    image,
                )
    assert tracker.settled(2, "v2")
    assert tracker.updated("v2") == 2
    tracker.pods = {}  # a relist replaces the map, then re-adds what it listed
    tracker._apply("ADDED", pod("c", True, "v2"))
    assert (tracker.live, tracker.updated("v2"), tracker.settled(1, "v2")) == (1, 1, True)


def test_joined_puts_each_side_of_two_runs_in_one_result() -> None:
    from benchmarks.scale import joined

    shape = {"clonesets": 100, "pods_per_cloneset": 100, "nodes": 20}
    ours = {"command": "python -m benchmarks.scale --no-kruise", "shape": shape, "flotilla": {"rolls": [1]}}
    theirs = {"command": "python -m benchmarks.scale --kruise-only", "shape": shape, "kruise": {"roll": 2}}
    out = joined([ours, theirs])
    assert out["flotilla"] == {"rolls": [1]}
    assert out["kruise"] == {"roll": 2}
    assert [run["command"] for run in out["runs"]] == [ours["command"], theirs["command"]]
    assert "flotilla" not in out["runs"][0]
    assert "kruise" not in out["runs"][1]
    with pytest.raises(SystemExit, match="different shapes"):
        joined([ours, {**theirs, "shape": {**shape, "nodes": 4}}])
    with pytest.raises(SystemExit, match="flotilla side"):
        joined([ours, ours])
