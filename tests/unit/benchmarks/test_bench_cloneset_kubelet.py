"""The CloneSet benchmark names its kubelet model: flags -> settings in the JSON -> every report."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.cloneset import parse_args
from benchmarks.cloneset_report import render_markdown
from benchmarks.cloneset_settings import describe_settings, kubelet_of
from benchmarks.cloneset_summary import summarize_records
from flotilla.devcluster.kwok_nodes import KubeletDelays


def _update(variant: str, seconds: float) -> dict[str, Any]:
    return {
        "scenario": "update", "variant": variant, "limits": "unlimited", "size": 50, "repeat": 0,
        "seconds": seconds, "error": None, "usage": {}, "machine_busy": None,
    }  # fmt: skip


def test_flags_default_to_no_delays_and_reach_the_settings() -> None:
    assert parse_args([]).kubelet == KubeletDelays()
    args = parse_args(["--quick", "--pod-start-ms", "2000", "--container-restart-ms", "500"])
    assert args.kubelet == KubeletDelays(pod_start_ms=2000, container_restart_ms=500)
    settings = describe_settings(args.limit_list, args.raw_concurrency, args.worker_arg, args.kubelet)
    assert settings["kubelet"]["pod_start_ms"] == 2000
    assert settings["kubelet"]["container_restart_ms"] == 500
    assert kubelet_of(settings) == args.kubelet


def test_negative_delay_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--pod-start-ms", "-1"])


def test_report_names_the_model_in_the_settings_table_and_the_timing_headings() -> None:
    records = [_update("cloneset-inplace", 5.0), _update("cloneset-recreate", 9.0)]
    settings = describe_settings(["unlimited"], 32, [], KubeletDelays(2000, 500))
    text = render_markdown(records, summarize_records(records), [settings])
    assert text.startswith("### Settings")
    assert "| kubelet model (kwok Stage delays) | pod start 2000 ms, container restart 500 ms |" in text
    assert "median seconds; kubelet: start 2000 ms, restart 500 ms)" in text


def test_results_from_before_the_model_had_no_delays() -> None:
    records = [_update("cloneset-inplace", 5.0)]
    text = render_markdown(records, summarize_records(records), [{"client_limits": {"unlimited": {}}}])
    assert "| kubelet model (kwok Stage delays) | none" in text
    assert "no kubelet delays)" in text


def test_results_of_different_models_are_not_merged() -> None:
    records = [_update("cloneset-inplace", 5.0)]
    plain = describe_settings(["unlimited"], 32, [])
    delayed = describe_settings(["unlimited"], 32, [], KubeletDelays(2000, 500))
    with pytest.raises(ValueError, match="different kubelet models"):
        render_markdown(records, summarize_records(records), [plain, delayed])
