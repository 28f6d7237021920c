"""kwok's Stages as rendered for kwok: no delay by default, a kubelet's delays when asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from flotilla.devcluster.kwok_nodes import KubeletDelays, default_stages, write_kwok_config


def _by_name(stages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["metadata"]["name"]: s for s in stages}


def test_no_stage_is_delayed_by_default() -> None:
    for stages in (default_stages(), default_stages(KubeletDelays())):
        assert all("delay" not in s["spec"] for s in stages)


def test_pod_start_and_container_restart_are_delayed_and_nothing_else() -> None:
    stages = _by_name(default_stages(KubeletDelays(pod_start_ms=2000, container_restart_ms=500)))
    assert stages["flotilla-pod-running"]["spec"]["delay"] == {"durationMilliseconds": 2000}
    assert stages["flotilla-pod-image-swap"]["spec"]["delay"] == {"durationMilliseconds": 500}
    delayed = {name for name, s in stages.items() if "delay" in s["spec"]}
    assert delayed == {"flotilla-pod-running", "flotilla-pod-image-swap"}
    # What each Stage does is unchanged by the delay.
    plain = _by_name(default_stages())
    for name, stage in stages.items():
        assert {k: v for k, v in stage["spec"].items() if k != "delay"} == plain[name]["spec"]


def test_jitter_is_kwoks_upper_bound_and_only_on_delayed_stages() -> None:
    stages = _by_name(default_stages(KubeletDelays(pod_start_ms=2000, jitter_ms=300)))
    assert stages["flotilla-pod-running"]["spec"]["delay"] == {
        "durationMilliseconds": 2000,
        "jitterDurationMilliseconds": 2300,
    }
    assert "delay" not in stages["flotilla-pod-image-swap"]["spec"]


def test_negative_delays_are_refused() -> None:
    with pytest.raises(ValueError, match="container_restart_ms"):
        KubeletDelays(container_restart_ms=-1)


def test_kwok_config_file_carries_the_delays(tmp_path: Path) -> None:
    path = write_kwok_config(tmp_path, (), None, KubeletDelays(pod_start_ms=1500, container_restart_ms=250))
    options, *stages = yaml.safe_load_all(path.read_text())
    assert options["kind"] == "KwokConfiguration"
    delays = {s["metadata"]["name"]: s["spec"].get("delay") for s in stages}
    assert delays["flotilla-pod-running"] == {"durationMilliseconds": 1500}
    assert delays["flotilla-pod-image-swap"] == {"durationMilliseconds": 250}
    assert delays["flotilla-pod-delete"] is None


def test_description_names_the_model() -> None:
    assert KubeletDelays().describe().startswith("none")
    assert KubeletDelays(2000, 500, 100).describe() == (
        "pod start 2000 ms, container restart 500 ms, + 0-100 ms jitter each"
    )
