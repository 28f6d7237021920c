"""``make bench-inplace-real``'s per-pod breakdown (``benchmarks.inplace_phases``): which steps a
pod's watch event shows, and the hops of a run worked out by hand from made-up marks."""

from __future__ import annotations

from typing import Any

from benchmarks.inplace_phases import Marks, phases, render_phases, steps_shown

NEW = "127.0.0.1:5000/flotilla/bench:new"


def _pod(
    image: str = NEW,
    *,
    node: str | None = "n",
    running: str | None = None,
    gate: bool = False,
    ready: bool = False,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [
            {"type": "InPlaceUpdateReady", "status": "True" if gate else "False"},
            {"type": "Ready", "status": "True" if ready else "False"},
        ]
    }
    if running is not None:
        status["containerStatuses"] = [{"image": running, "state": {"running": {}}}]
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": image}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": "real-a", "uid": "u"}, "spec": spec, "status": status}


def test_steps_shown_by_one_event() -> None:
    assert steps_shown(_pod("old", running="old", gate=True, ready=True), NEW) == set()
    # the in-place patch landed: the old container still runs, Ready still True from before
    assert steps_shown(_pod(running="old", ready=True), NEW) == {"patched", "scheduled"}
    assert steps_shown(_pod(node=None), NEW) == {"patched"}  # a new pod, not scheduled yet
    assert steps_shown(_pod(running=NEW), NEW) == {"patched", "scheduled", "started"}
    assert steps_shown(_pod(running=NEW, gate=True, ready=True), NEW) == {
        "patched",
        "scheduled",
        "started",
        "gate",
        "ready",
    }
    terminated = _pod(running=NEW)
    terminated["status"]["containerStatuses"][0]["state"] = {"terminated": {}}
    assert steps_shown(terminated, NEW) == {"patched", "scheduled"}


def test_in_place_hops_by_hand() -> None:
    # armed at 100; a and b patched at once (first wave), c patched when a turned Ready
    a = Marks("a", {"patched": 100.2, "scheduled": 100.2, "started": 101.4, "gate": 101.7, "ready": 102.5})
    b = Marks("b", {"patched": 100.3, "scheduled": 100.3, "started": 101.3, "gate": 101.6, "ready": 103.0})
    c = Marks("c", {"patched": 102.8, "scheduled": 102.8, "started": 104.0, "gate": 104.2, "ready": 104.6})
    unfinished = Marks("d", {"patched": 103.1})  # not counted
    got = phases([a, b, c, unfinished], 100.0)
    # to_patch: a 0.2, b 0.3, c 102.8 - 102.5 = 0.3 -> median 0.3
    # to_start: 1.2, 1.0, 1.2 -> 1.2; to_gate: 0.3, 0.3, 0.2 -> 0.3; to_ready: 0.8, 1.4, 0.4 -> 0.8
    # cycle: a 0.2+1.2+0.3+0.8 = 2.5, b 0.3+1.0+0.3+1.4 = 3.0, c 0.3+1.2+0.2+0.4 = 2.1 -> 2.5
    assert got == {
        "to_patch": 0.3,
        "to_schedule": 0.0,
        "to_start": 1.2,
        "to_gate": 0.3,
        "to_ready": 0.8,
        "cycle": 2.5,
    }


def test_recreate_hops_gate_before_the_container() -> None:
    # a new pod: created (patched) 100.5, scheduled 100.6, InPlaceUpdateReady set at creation
    # (100.55), running 103.1, Ready 103.4
    new = Marks("n", {"patched": 100.5, "gate": 100.55, "scheduled": 100.6, "started": 103.1, "ready": 103.4})
    got = phases([new], 100.0)
    assert got["to_patch"] == 0.5
    assert got["to_schedule"] == 0.1
    assert got["to_start"] == 2.5
    assert got["to_gate"] == 0.0  # the gate came first: nothing to wait for
    assert got["to_ready"] == 0.3
    assert got["cycle"] == 3.4


def test_render_takes_the_median_of_the_runs() -> None:
    records = [
        {"variant": "inplace", "phases": {"to_patch": 0.2, "cycle": 2.0}},
        {"variant": "inplace", "phases": {"to_patch": 0.4, "cycle": 3.0}},
        {"variant": "recreate", "phases": {}},
    ]
    table = render_phases(records, ("recreate", "inplace"))
    lines = table.splitlines()
    assert lines[2].startswith("| recreate | - | -")
    assert lines[3] == "| inplace | 0.30 | - | - | - | - | 2.50 |"
