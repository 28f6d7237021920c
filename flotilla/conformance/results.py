"""Spec results of a conformance run, and two runs side by side.

`from_ginkgo_report` turns ginkgo's JSON report into `SpecResult`s (only the `It`s of the
chosen spec files); `RunResult` is what a run records (``docs/conformance/*.json``);
`compare` classifies each spec of a Flotilla run against the kruise-manager baseline:
passes on both, fails on both (an environment limit, named by `ENVIRONMENT_LIMITS`),
passes on kruise-manager only (a Flotilla defect), passes on Flotilla only; a spec that failed
on one side and was not run (skipped, or absent) on the other says which side failed; one run
on neither side says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PASSED = "passed"
SKIPPED = "skipped"
FAILED = "failed"

#: ginkgo spec states -> ours (ginkgo: passed, skipped, pending, failed, panicked, timedout,
#: interrupted, aborted).
_STATES = {"passed": PASSED, "skipped": SKIPPED, "pending": SKIPPED}


@dataclass(frozen=True)
class SpecResult:
    name: str
    file: str
    line: int
    state: str
    #: ginkgo's failure message (the first failed assertion), "" when it passed.
    message: str = ""
    #: Where the failure happened (file:line), "" when it passed.
    failure_location: str = ""
    seconds: float = 0.0

    @property
    def label(self) -> str:
        return {PASSED: "PASS", FAILED: "FAIL", SKIPPED: "SKIP"}[self.state]


@dataclass
class RunResult:
    target: str
    kruise_version: str
    spec_files: list[str]
    date: str
    commit: str
    seconds: float
    specs: list[SpecResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(spec.state == PASSED for spec in self.specs)

    @property
    def failed(self) -> int:
        return sum(spec.state == FAILED for spec in self.specs)

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed"

    def lines(self) -> list[str]:
        """One line per spec, then the closing count."""
        out = [f"{spec.label} {spec.name}" for spec in self.specs]
        return [*out, self.summary()]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())

    @classmethod
    def load(cls, path: Path) -> RunResult:
        data = json.loads(path.read_text())
        specs = [SpecResult(**spec) for spec in data.pop("specs")]
        return cls(**data, specs=specs)


def tally(specs: Iterable[SpecResult]) -> list[str]:
    """How often each spec that ran passed over repeated runs (``--repeat``): ``n of m passed:
    <name>``, in the order the specs first ran (specs skipped every time, e.g. left out by
    ``--focus``, are not listed)."""
    runs: dict[tuple[str, str], list[SpecResult]] = {}
    for spec in specs:
        if spec.state != SKIPPED:
            runs.setdefault((spec.file, spec.name), []).append(spec)
    return [
        f"{sum(r.state == PASSED for r in ran)} of {len(ran)} passed: {name}"
        for (_, name), ran in runs.items()
    ]


def _short_path(file_name: str, spec_files: Sequence[str]) -> str | None:
    for spec_file in spec_files:
        if file_name.endswith(spec_file):
            return spec_file
    return None


def from_ginkgo_report(report: Any, spec_files: Sequence[str]) -> list[SpecResult]:
    """The `It`s of `spec_files` in a ginkgo v2 JSON report (a list of suite reports)."""
    results: list[SpecResult] = []
    for suite in report:
        for spec in suite.get("SpecReports") or []:
            if spec.get("LeafNodeType") != "It":
                continue
            location = spec.get("LeafNodeLocation") or {}
            short = _short_path(str(location.get("FileName", "")), spec_files)
            if short is None:
                continue
            texts = [*(spec.get("ContainerHierarchyTexts") or []), spec.get("LeafNodeText", "")]
            state = _STATES.get(str(spec.get("State")), FAILED)
            failure = spec.get("Failure") or {}
            failure_location = failure.get("Location") or {}
            where = ""
            if failure_location.get("FileName"):
                file_name = str(failure_location["FileName"])
                where = (
                    f"{_short_path(file_name, spec_files) or file_name}:{failure_location.get('LineNumber')}"
                )
            message = str(failure.get("Message", "")).strip() if state == FAILED else ""
            if state == FAILED and spec.get("State") != "failed":
                message = f"[{spec.get('State')}] {message}".strip()
            results.append(
                SpecResult(
                    name=" ".join(text for text in texts if text),
                    file=short,
                    line=int(location.get("LineNumber", 0)),
                    state=state,
                    message=message,
                    failure_location=where,
                    seconds=round(float(spec.get("RunTime", 0)) / 1e9, 1),
                )
            )
    results.sort(key=lambda spec: (spec.file, spec.line))
    return results


@dataclass(frozen=True)
class EnvironmentLimit:
    """Why a spec cannot pass on this project's control plane, and what would lift that."""

    name: str
    lift: str
    #: Matches the spec's name or its failure message (either run's).
    pattern: str


#: The environment limits seen so far, from the failure messages of specs that fail on
#: kruise-manager and Flotilla alike (see docs/conformance.md). First match wins.
ENVIRONMENT_LIMITS: tuple[EnvironmentLimit, ...] = (
    EnvironmentLimit(
        "no node daemon: an in-place env-from-metadata change restarts the container through "
        "kruise-daemon (ContainerRecreateRequest), which does not run on kwok nodes",
        "a node agent on real nodes (Flotilla's node-agent issue; kruise-daemon for the baseline)",
        r"in-place update (both image and env from label|two container image and env from metadata"
        r"|env from label)",
    ),
    EnvironmentLimit(
        "no image digests: kwok's imageID is per tag (kwok://<image>), a runtime resolves "
        "nginx:alpine and nginx:mainline-alpine to one digest",
        "a real container runtime (real-node environment), or a kwok Stage with a tag -> digest table",
        r"to equal\s+<string>: kwok://",
    ),
    EnvironmentLimit(
        "no container start order: kwok restarts every changed container at once with one "
        "startedAt, the spec checks the priority order through per-container start times",
        "a real kubelet (real-node environment), or kwok Stages restarting containers one by one",
        r"should be stopped after new \w+ has started",
    ),
    EnvironmentLimit(
        "no image pull failures: under kwok a container with an unpullable image still runs, the "
        "spec waits for it to terminate",
        "a real container runtime, or a kwok Stage that fails containers of a known-bad image",
        r"ContainerStateTerminated",
    ),
    EnvironmentLimit(
        "no failing image: under kwok a container of kruise's InvalidImage runs and turns Ready, so a "
        "rollout to it makes no pod unavailable and the PodUnavailableBudget never blocks it",
        "a real container runtime (the image cannot be pulled), or a kwok Stage that keeps containers "
        "of a known-bad image waiting in ImagePullBackOff",
        r"PodUnavailableBudget .*update failed (sidecar )?image",
    ),
    EnvironmentLimit(
        "no failing image: under kwok a sidecar upgraded to kruise's InvalidImage runs and turns Ready, "
        "so the upgrade does not stop at maxUnavailable with unready pods (every matched pod is "
        "upgraded and ready where the spec waits for updatedReadyPods 0)",
        "a real container runtime (the image cannot be pulled), or a kwok Stage that keeps containers "
        "of a known-bad image waiting in ImagePullBackOff",
        r"sidecarSet upgrade (cold|hot) sidecar container (failed image|image, and maxUnavailable)",
    ),
    EnvironmentLimit(
        "instant in-place restarts: kwok plays a sidecar's in-place restart at once, so both pods are "
        "upgraded within the 5 s the spec waits before it pauses the SidecarSet (it expects one)",
        "a real kubelet (real-node environment), or kwok Stages that take a kubelet's time to restart "
        "a container",
        r"sidecarSet upgrade cold sidecar container image, and paused",
    ),
    EnvironmentLimit(
        "no probes, no processes: kwok runs neither, so a pod the spec makes NotReady stays Ready "
        "(a readiness probe it holds or breaks: PauseNewPods' exec probe, an HTTP probe broken with "
        "`mv index.html`; a container whose command exits)",
        "a real kubelet (real-node environment), or a kwok Stage that plays readiness from an annotation",
        r"Failed waiting for pods to enter running",
    ),
    EnvironmentLimit(
        "no exec: the spec breaks the readiness probe with `kubectl exec` (BreakPodHTTPProbe), which "
        "kwok's pods do not serve",
        "a real kubelet (real-node environment)",
        r"RunHostCmd still failed",
    ),
    EnvironmentLimit(
        "no kubelet admission: kwok admits a pod whose host port another pod holds, so the pod the "
        "spec expects the kubelet to reject (and the controller to re-create) is never rejected",
        "a real kubelet (real-node environment)",
        r"Should recreate evicted statefulset",
    ),
)


@dataclass(frozen=True)
class Comparison:
    name: str
    file: str
    line: int
    kruise: SpecResult | None
    flotilla: SpecResult | None
    verdict: str
    #: For fails-on-both: the environment limit; for a defect: Flotilla's failure message.
    detail: str = ""


BOTH_PASS = "passes on both"
BOTH_FAIL = "fails on both (environment limit)"
DEFECT = "Flotilla DEFECT (passes on kruise-manager only)"
FLOTILLA_ONLY = "passes on Flotilla only"
#: Failed on one side, not run (skipped, or absent from the run) on the other: nothing to compare.
KRUISE_FAIL_ONLY_RUN = "fails on kruise-manager, not run on Flotilla"
FLOTILLA_FAIL_ONLY_RUN = "fails on Flotilla, not run on kruise-manager"
NOT_RUN = "run on neither side"


def environment_limit(
    specs: Iterable[SpecResult | None], limits: Sequence[EnvironmentLimit] = ENVIRONMENT_LIMITS
) -> str:
    texts = [f"{spec.name}\n{spec.message}" for spec in specs if spec is not None]
    for limit in limits:
        if any(re.search(limit.pattern, text) for text in texts):
            return f"{limit.name} (lifted by: {limit.lift})"
    first = next((spec.message for spec in specs if spec is not None and spec.message), "")
    return "unnamed: " + first.splitlines()[0][:200] if first else "unnamed"


def failure_summary(spec: SpecResult, limit: int = 400) -> str:
    """Where a spec failed and its message on one line (whitespace and pointer values squeezed)."""
    message = re.sub(r"\s+", " ", re.sub(r" \| 0x[0-9a-f]+", "", spec.message)).strip()
    message = re.sub(r"Last\w+Time: \{ Time: [^}]*\}, ", "", message)
    if len(message) > limit:
        message = message[: limit - 3] + "..."
    return f"{spec.failure_location}: {message}" if spec.failure_location else message


def compare(
    kruise: RunResult, flotilla: RunResult, limits: Sequence[EnvironmentLimit] = ENVIRONMENT_LIMITS
) -> list[Comparison]:
    # by file and name: kruise's v1alpha1 and v1beta1 files repeat spec names (pullimages.go)
    by_name: dict[tuple[str, str], list[SpecResult | None]] = {}
    for spec in kruise.specs:
        by_name.setdefault((spec.file, spec.name), [None, None])[0] = spec
    for spec in flotilla.specs:
        by_name.setdefault((spec.file, spec.name), [None, None])[1] = spec
    rows: list[Comparison] = []
    for (_, name), (on_kruise, on_flotilla) in by_name.items():
        either = on_kruise or on_flotilla
        assert either is not None
        k_pass = on_kruise is not None and on_kruise.state == PASSED
        f_pass = on_flotilla is not None and on_flotilla.state == PASSED
        k_fail = on_kruise is not None and on_kruise.state == FAILED
        f_fail = on_flotilla is not None and on_flotilla.state == FAILED
        if k_pass and f_pass:
            verdict, detail = BOTH_PASS, ""
        elif k_pass and not f_pass:
            verdict = DEFECT
            detail = failure_summary(on_flotilla) if on_flotilla is not None else "not run on Flotilla"
        elif f_pass and not k_pass:
            verdict, detail = FLOTILLA_ONLY, on_kruise.message if on_kruise is not None else ""
        elif k_fail and f_fail:
            verdict, detail = BOTH_FAIL, environment_limit([on_kruise, on_flotilla], limits)
        elif k_fail:  # and Flotilla skipped it or did not run it
            verdict, detail = KRUISE_FAIL_ONLY_RUN, ""
        elif f_fail:
            verdict = FLOTILLA_FAIL_ONLY_RUN
            detail = failure_summary(on_flotilla) if on_flotilla is not None else ""
        else:
            verdict, detail = NOT_RUN, ""
        rows.append(Comparison(name, either.file, either.line, on_kruise, on_flotilla, verdict, detail))
    rows.sort(key=lambda row: (row.file, row.line))
    return rows


def defects(rows: Iterable[Comparison]) -> list[Comparison]:
    return [row for row in rows if row.verdict == DEFECT]


def _cell(spec: SpecResult | None) -> str:
    return "—" if spec is None else spec.label


def markdown_table(rows: Sequence[Comparison]) -> str:
    """The side-by-side table of docs/conformance.md."""
    lines = [
        "| spec (file:line) | kruise-manager | Flotilla | verdict |",
        "|---|---|---|---|",
    ]
    for row in rows:
        shown = row.detail and row.verdict in (BOTH_FAIL, DEFECT, FLOTILLA_FAIL_ONLY_RUN)
        detail = f": {row.detail}" if shown else ""
        name = row.name.replace("|", "\\|")
        lines.append(
            f"| {name} ({row.file.rsplit('/', 1)[-1]}:{row.line}) | {_cell(row.kruise)} | "
            f"{_cell(row.flotilla)} | {row.verdict}{detail} |"
        )
    return "\n".join(lines) + "\n"


def text_report(rows: Sequence[Comparison]) -> list[str]:
    """The side-by-side report as lines for a terminal."""
    out = []
    for row in rows:
        out.append(f"{_cell(row.kruise):4} {_cell(row.flotilla):4} {row.name}")
        out.append(f"          -> {row.verdict}")
        if row.detail:
            out.append(f"             {row.detail}")
    counts: Mapping[str, int] = {
        verdict: sum(row.verdict == verdict for row in rows)
        for verdict in (
            BOTH_PASS,
            BOTH_FAIL,
            DEFECT,
            FLOTILLA_ONLY,
            KRUISE_FAIL_ONLY_RUN,
            FLOTILLA_FAIL_ONLY_RUN,
            NOT_RUN,
        )
    }
    out.append("; ".join(f"{count} {verdict}" for verdict, count in counts.items() if count))
    return out
