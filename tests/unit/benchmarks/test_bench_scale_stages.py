"""Unit tests of the roll profile's stage bookkeeping (benchmarks/scale_stages.py): a pod walked by
hand through kruise's in-place protocol (condition False, image patch, the fake kubelet's swap,
condition True, Ready), and pod-seconds integrated over times set by hand."""

from __future__ import annotations

import time
from typing import Any

import pytest

from benchmarks.scale_stages import PodFacts, StageTracker, cloneset_state, pod_stage


def pod(
    name: str,
    owner: str,
    spec: str,
    running: str,
    in_place: str | None,
    ready: bool,
) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    if in_place is not None:
        conditions.append({"type": "InPlaceUpdateReady", "status": in_place})
    return {
        "metadata": {"name": name, "uid": f"uid-{name}", "labels": {"app": owner}},
        "spec": {"containers": [{"name": "main", "image": spec}]},
        "status": {"conditions": conditions, "containerStatuses": [{"image": running}]},
    }


#: One pod through an in-place update v1 -> v2, the stage expected after each write.
PROTOCOL = [
    (("v1", "v1", "True", True), "queued"),
    (("v1", "v1", "False", True), "started"),  # the worker: InPlaceUpdateReady False
    (("v1", "v1", "False", False), "started"),  # the fake kubelet: Ready follows the gate
    (("v2", "v1", "False", False), "kwok-swap"),  # the worker: the image patch
    (("v2", "v2", "False", False), "refresh"),  # the fake kubelet runs v2
    (("v2", "v2", "True", False), "kwok-ready"),  # the worker: InPlaceUpdateReady True
    (("v2", "v2", "True", True), "done"),  # the fake kubelet: Ready
]


@pytest.mark.parametrize(("fields", "expected"), PROTOCOL)
def test_pod_stage_follows_the_in_place_protocol(fields: tuple[str, str, str, bool], expected: str) -> None:
    spec, running, in_place, ready = fields
    facts = PodFacts.of(pod("p", "cs", spec, running, in_place, ready), "app")
    assert pod_stage(facts, "v2") == expected


def test_cloneset_state() -> None:
    from collections import Counter

    assert cloneset_state(Counter({"queued": 3, "done": 2})) == "waiting"
    assert cloneset_state(Counter({"queued": 3, "refresh": 1})) == "in-flight"
    assert cloneset_state(Counter({"done": 5, "queued": 0})) == "done"


def test_tracker_integrates_pod_and_cloneset_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    tracker = StageTracker(None, "ns", "a=b")  # type: ignore[arg-type]  # no I/O: events fed directly
    tracker._apply("ADDED", pod("a", "cs1", "v1", "v1", "True", True))
    tracker._apply("ADDED", pod("b", "cs2", "v1", "v1", "True", True))
    tracker.begin("v2")
    clock[0] = 102.0  # both queued 2 s
    tracker._apply("MODIFIED", pod("a", "cs1", "v2", "v1", "False", False))
    clock[0] = 105.0  # a in kwok-swap 3 s, b queued 5 s
    tracker._apply("MODIFIED", pod("a", "cs1", "v2", "v2", "True", True))
    tracker._apply("MODIFIED", pod("b", "cs2", "v2", "v2", "True", True))
    clock[0] = 106.0  # both done 1 s
    profile = tracker.end()
    assert profile["pods"] == 2
    assert profile["clonesets"] == 2
    assert profile["seconds"] == pytest.approx(6.0)
    per_pod = profile["pod_seconds_per_pod"]
    assert per_pod["queued"] == pytest.approx((2 + 5) / 2)
    assert per_pod["kwok-swap"] == pytest.approx(3 / 2)
    assert per_pod["done"] == pytest.approx(1.0)
    per_set = profile["cloneset_seconds_per_cloneset"]
    assert per_set["waiting"] == pytest.approx((2 + 5) / 2)  # cs1 waits 2 s, cs2 5 s
    assert per_set["in-flight"] == pytest.approx(3 / 2)
    assert per_set["done"] == pytest.approx(1.0)
