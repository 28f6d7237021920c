"""The conformance report: ginkgo's JSON read as kruise writes it, two runs classified side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

from flotilla.conformance.results import (
    BOTH_FAIL,
    BOTH_PASS,
    DEFECT,
    FLOTILLA_ONLY,
    EnvironmentLimit,
    RunResult,
    SpecResult,
    compare,
    defects,
    from_ginkgo_report,
    tally,
)

pytestmark = pytest.mark.unit

CLONESET = "test/e2e/apps/v1alpha1/cloneset.go"


def _spec(text: str, line: int, state: str, message: str = "", leaf: str = "It") -> dict[str, object]:
    """One SpecReport as ginkgo v2's JSON report spells it (reporters/json_report.go)."""
    return {
        "ContainerHierarchyTexts": ["CloneSet", "CloneSet Scaling"],
        "LeafNodeType": leaf,
        "LeafNodeLocation": {"FileName": f"github.com/openkruise/kruise/{CLONESET}", "LineNumber": line},
        "LeafNodeText": text,
        "State": state,
        "RunTime": 12_500_000_000,
        "Failure": {
            "Message": message,
            "Location": {"FileName": f"github.com/openkruise/kruise/{CLONESET}", "LineNumber": line + 7},
        }
        if message
        else {},
    }


def test_ginkgo_report_gives_one_result_per_it_of_the_chosen_files() -> None:
    other = _spec("elsewhere", 9, "passed")
    other["LeafNodeLocation"] = {
        "FileName": "github.com/openkruise/kruise/test/e2e/apps/v1alpha1/daemonset.go"
    }
    report = [
        {
            "SpecReports": [
                _spec("", 0, "passed", leaf="SynchronizedBeforeSuite"),
                _spec("scales in normal cases", 345, "passed"),
                _spec(
                    "pods should be ready when paused=true",
                    429,
                    "failed",
                    "Timed out after 120.001s.\nExpected",
                ),
                _spec("gets interrupted", 500, "timedout", "A suite timeout occurred"),
                other,
            ]
        }
    ]
    specs = from_ginkgo_report(report, [CLONESET])
    assert [(s.name, s.state, s.line) for s in specs] == [
        ("CloneSet CloneSet Scaling scales in normal cases", "passed", 345),
        ("CloneSet CloneSet Scaling pods should be ready when paused=true", "failed", 429),
        ("CloneSet CloneSet Scaling gets interrupted", "failed", 500),
    ]
    assert specs[1].message.startswith("Timed out after 120.001s.")
    assert specs[1].failure_location == f"{CLONESET}:436"
    assert specs[2].message == "[timedout] A suite timeout occurred"
    assert specs[0].seconds == 12.5


def _run(target: str, states: dict[str, tuple[str, str]]) -> RunResult:
    specs = [
        SpecResult(name=name, file=CLONESET, line=i, state=state, message=message)
        for i, (name, (state, message)) in enumerate(states.items())
    ]
    return RunResult(target, "v1.9.1", [CLONESET], "2026-11-29", "abc", 1, specs)


def test_compare_classifies_each_spec_and_names_the_environment_limit(tmp_path: Path) -> None:
    kruise = _run(
        "kruise-manager",
        {
            "a": ("passed", ""),
            "b": ("passed", ""),
            "c": ("failed", "Expected <string>: kwok://nginx:alpine to equal kwok://nginx:mainline-alpine"),
            "d": ("failed", "boom"),
        },
    )
    flotilla = _run(
        "flotilla",
        {
            "a": ("passed", ""),
            "b": ("failed", "Timed out after 120s"),
            "c": ("failed", "x"),
            "d": ("passed", ""),
        },
    )
    kruise.save(tmp_path / "k.json")
    assert RunResult.load(tmp_path / "k.json") == kruise
    limits = (EnvironmentLimit("image digests", "a registry", r"kwok://"),)
    rows = compare(kruise, flotilla, limits)
    assert [(r.name, r.verdict) for r in rows] == [
        ("a", BOTH_PASS),
        ("b", DEFECT),
        ("c", BOTH_FAIL),
        ("d", FLOTILLA_ONLY),
    ]
    assert rows[2].detail == "image digests (lifted by: a registry)"
    assert [(r.name, r.detail) for r in defects(rows)] == [("b", "Timed out after 120s")]
    flotilla.specs[1] = SpecResult(
        "b", CLONESET, 1, "failed", "Timed out.\n  Expected\n  <*int32 | 0xc0>: nil", "x.go:9"
    )
    assert defects(compare(kruise, flotilla, limits))[0].detail == "x.go:9: Timed out. Expected <*int32>: nil"
    assert flotilla.lines()[-1] == "2 passed, 2 failed"
    assert flotilla.lines()[1] == "FAIL b"


def test_pub_specs_rolling_to_a_failing_image_are_named_as_kwoks_limit() -> None:
    # podunavailablebudget.go:258, :591, :733 fail on kruise-manager too: kruise's InvalidImage runs
    name = (
        "PodUnavailableBudget podUnavailableBudget functionality [podUnavailableBudget] "
        "PodUnavailableBudget selector SidecarSet, inject sidecar container, "
        "update failed sidecar image, block"
    )
    failed = {name: ("failed", "Failed waiting for sidecarSet to upgrade complete")}
    (row,) = compare(_run("kruise-manager", failed), _run("flotilla", failed))
    assert row.verdict == BOTH_FAIL
    assert row.detail.startswith("no failing image: under kwok a container of kruise's InvalidImage runs")


def test_tally_counts_each_spec_over_repeated_runs() -> None:
    def ran(name: str, state: str) -> SpecResult:
        return SpecResult(name=name, file="test/e2e/apps/v1beta1/statefulset.go", line=1, state=state)

    rounds = [ran("PVC", "passed"), ran("other", "skipped"), ran("PVC", "failed"), ran("other", "skipped")]
    rounds += [ran("PVC", "passed")]
    assert tally(rounds) == ["2 of 3 passed: PVC"]  # "other" never ran (focus)
