"""The conformance report: ginkgo's JSON read as kruise writes it, two runs classified side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

from flotilla.conformance.results import (
    BOTH_FAIL,
    BOTH_PASS,
    DEFECT,
    FLOTILLA_FAIL_ONLY_RUN,
    FLOTILLA_ONLY,
    KRUISE_FAIL_ONLY_RUN,
    NOT_RUN,
    Comparison,
    EnvironmentLimit,
    RunResult,
    SpecResult,
    compare,
    defects,
    from_ginkgo_report,
    markdown_table,
    tally,
    text_report,
)

pytestmark = pytest.mark.unit

CLONESET = "test/e2e/apps/v1alpha1/cloneset.go"
DOCS = Path(__file__).resolve().parents[3] / "docs"


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


@pytest.mark.parametrize(
    ("on_kruise", "on_flotilla", "verdict"),
    [
        ("failed", "skipped", KRUISE_FAIL_ONLY_RUN),
        ("failed", None, KRUISE_FAIL_ONLY_RUN),
        ("skipped", "failed", FLOTILLA_FAIL_ONLY_RUN),
        (None, "failed", FLOTILLA_FAIL_ONLY_RUN),
        ("skipped", "skipped", NOT_RUN),
        (None, "skipped", NOT_RUN),
        ("skipped", None, NOT_RUN),
        ("passed", "skipped", DEFECT),
        ("skipped", "passed", FLOTILLA_ONLY),
    ],
)
def test_a_spec_run_on_one_side_only_says_which(
    on_kruise: str | None, on_flotilla: str | None, verdict: str
) -> None:
    """Failed on one side and skipped (or absent) on the other is not "not run on both"."""

    def run(target: str, state: str | None) -> RunResult:
        return _run(target, {} if state is None else {"x": (state, "boom" if state == "failed" else "")})

    (row,) = compare(run("kruise-manager", on_kruise), run("flotilla", on_flotilla))
    assert row.verdict == verdict
    last = markdown_table([row]).splitlines()[-1]
    if verdict == FLOTILLA_FAIL_ONLY_RUN:
        assert (row.detail, last.endswith(f"| {verdict}: boom |")) == ("boom", True)
    assert text_report([row])[-1] == f"1 {verdict}"


def _saved(kind: str) -> list[Comparison]:
    folder = DOCS / "conformance"
    kruise = RunResult.load(folder / f"kruise-v1.9.1-{kind}.json")
    return compare(kruise, RunResult.load(folder / f"flotilla-{kind}.json"))


#: By hand from each spec's source in kruise v1.9.1's test/e2e and its failure message in the
#: saved runs (and docs/conformance.md's prose): the limit each spec failing on both sides meets.
SIDECARSET_LIMITS = {
    # v1alpha1's lines, then v1beta1's: InvalidImage (two "failed image" specs and maxUnavailable),
    # and the 5 s before "paused"
    859: "no failing image: under kwok a sidecar",
    1308: "no failing image: under kwok a sidecar",
    219: "no failing image: under kwok a sidecar",
    1136: "instant in-place restarts",
    854: "no failing image: under kwok a sidecar",
    1303: "no failing image: under kwok a sidecar",
    217: "no failing image: under kwok a sidecar",
    1131: "instant in-place restarts",
}
STATEFULSET_LIMITS = {
    978: "no probes, no processes",  # PauseNewPods' exec probe: "Too many pods scheduled"
    1017: "no probes, no processes",
    1102: "no probes, no processes",
    1139: "no exec",  # BreakPodHTTPProbe through kubectl exec
    1150: "no exec",
    1549: "no node daemon",  # env from label: kruise-daemon restarts the container
    1743: "no probes, no processes",  # BreakHTTPProbe: mv index.html
    1828: "no probes, no processes",
    1871: "no kubelet admission",  # a host-port conflict the kubelet rejects
    2006: "no probes, no processes",  # a busybox container with an empty command exits
}


@pytest.mark.parametrize(
    ("kind", "expected"), [("sidecarset", SIDECARSET_LIMITS), ("statefulset", STATEFULSET_LIMITS)]
)
def test_saved_runs_failing_on_both_sides_name_their_environment_limit(
    kind: str, expected: dict[int, str]
) -> None:
    rows = [row for row in _saved(kind) if row.verdict == BOTH_FAIL]
    assert sorted(row.line for row in rows) == sorted(expected)
    for row in rows:
        assert row.detail.startswith(expected[row.line]), (row.line, row.detail)


@pytest.mark.parametrize("kind", ["sidecarset", "statefulset"])
def test_docs_hold_the_tables_rendered_from_the_saved_runs(kind: str) -> None:
    """docs/conformance.md holds each table as ``report --markdown`` renders it (the specs run on
    neither side left out, as a focused run leaves them out)."""
    rows = [row for row in _saved(kind) if row.verdict != NOT_RUN]
    assert markdown_table(rows) in (DOCS / "conformance.md").read_text()
