"""Pure helpers of the cluster-scale benchmark (``benchmarks/scale.py``): shapes, log parsing,
derived figures, verdicts and the markdown report.

No I/O and no clock: `flotilla_reconciled_keys` / `kruise_reconciled_keys` read the keys a
worker or kruise-manager reconciled out of log text (Flotilla's JSON lines ``"reconciled: ..."``
with their ``key``; kruise's klog ``"Finished syncing CloneSet" cloneSet="ns/name"``), so a
restart is timed "process started -> every key reconciled once". `with_flag` re-uses a process's
command line with one flag changed. `growth_per_thousand` and `per_minute` turn two readings
into the figures the report states; `verdicts` judges them against issue 16's goals (only at the
full shape: a ``--quick`` run is a smoke test, never a verdict); `render_report` prints the
tables of a saved JSON result. Unit-tested in ``tests/unit/benchmarks/test_bench_scale.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from benchmarks.harness.stats import (
    NOT_MEASURED,
    format_mebibytes,
    format_ratio,
    format_seconds,
    markdown_table,
)

MIB = 1024 * 1024
#: Issue 16's goals at the full shape.
GOAL_REPLICA_RATIO = 2.5
GOAL_COLD_RESTART_S = 60.0
GOAL_WORKER_PEAK_BYTES = 150 * MIB
#: "Flat in pod count": the worker's peak at 10x the pods may grow by at most this fraction.
FLAT_TOLERANCE = 0.25


@dataclass(frozen=True)
class Shape:
    """How big a run is: CloneSets x pods each, on how many kwok nodes, all in one namespace."""

    clonesets: int
    pods_per_cloneset: int
    nodes: int

    @property
    def pods(self) -> int:
        return self.clonesets * self.pods_per_cloneset

    def first_stage(self) -> int:
        """CloneSets of the first memory reading: a tenth of them (1,000 of 10,000 pods), at least one."""
        return max(1, self.clonesets // 10)

    def describe(self) -> str:
        return (
            f"{self.clonesets} CloneSets x {self.pods_per_cloneset} pods ({self.pods} pods) "
            f"on {self.nodes} kwok nodes"
        )


FULL = Shape(clonesets=100, pods_per_cloneset=100, nodes=20)
QUICK = Shape(clonesets=10, pods_per_cloneset=20, nodes=4)


# ---------------------------------------------------------------------- logs
def flotilla_reconciled_keys(text: str, worker_type: str = "cloneset") -> set[str]:
    """``namespace/name`` of every key a Flotilla worker's JSON log lines say it reconciled
    (``msg`` starting ``"reconciled: "``, ``key`` ``type/namespace/name``). Other lines, partial
    lines and other types are ignored."""
    keys: set[str] = set()
    for line in text.splitlines():
        if not line.startswith("{") or '"reconciled: ' not in line:
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(record, dict) or not str(record.get("msg", "")).startswith("reconciled: "):
            continue
        parts = str(record.get("key", "")).split("/")
        if len(parts) == 3 and parts[0] == worker_type:
            keys.add(f"{parts[1]}/{parts[2]}")
    return keys


_KRUISE_SYNCED = re.compile(r'"Finished syncing CloneSet"\s+cloneSet="?([^"\s]+/[^"\s]+)"?')


def kruise_reconciled_keys(text: str) -> set[str]:
    """``namespace/name`` of every CloneSet kruise-manager's klog lines say it finished syncing
    (its Reconcile's deferred ``"Finished syncing CloneSet"``, logged at every verbosity)."""
    return {match.group(1) for match in _KRUISE_SYNCED.finditer(text)}


def with_flag(argv: Sequence[str], flag: str, value: str) -> list[str]:
    """``argv`` with ``flag=value`` replacing every ``flag=...`` / ``flag ...`` (appended if absent)."""
    out: list[str] = []
    skip_next = False
    for arg in argv:
        if skip_next:
            skip_next = False
            continue
        if arg == flag:
            skip_next = True
            continue
        if arg.startswith(flag + "="):
            continue
        out.append(arg)
    return [*out, f"{flag}={value}"]


def flag_value(argv: Sequence[str], flag: str) -> str | None:
    """The value of ``flag=value`` (or ``flag value``) in ``argv``; the last one wins."""
    found: str | None = None
    for index, arg in enumerate(argv):
        if arg.startswith(flag + "="):
            found = arg.split("=", 1)[1]
        elif arg == flag and index + 1 < len(argv):
            found = argv[index + 1]
    return found


# ---------------------------------------------------------------------- derived figures
def growth_per_thousand(
    rss_before: int | None, objects_before: int, rss_after: int | None, objects_after: int
) -> float | None:
    """Bytes of RSS per 1,000 more objects between two readings; None if unknown or no growth in objects."""
    if rss_before is None or rss_after is None or objects_after <= objects_before:
        return None
    return (rss_after - rss_before) * 1000.0 / (objects_after - objects_before)


def per_minute(cpu_before: float | None, cpu_after: float | None, seconds: float) -> float | None:
    """CPU seconds per minute of wall time over a window."""
    if cpu_before is None or cpu_after is None or seconds <= 0:
        return None
    return (cpu_after - cpu_before) * 60.0 / seconds


def throughput_ratio(one_worker_s: float | None, more_workers_s: float | None) -> float | None:
    """How many times faster the roll was with more workers (same work, so time ratio)."""
    if one_worker_s is None or more_workers_s is None or more_workers_s <= 0:
        return None
    return one_worker_s / more_workers_s


@dataclass(frozen=True)
class Verdict:
    goal: str
    measured: str
    verdict: str  # met | missed | not judged


def verdicts(result: Mapping[str, Any]) -> list[Verdict]:
    """Issue 16's cluster-scale goals against a result; only a full-shape run is judged."""
    shape = Shape(**result["shape"])
    judged = shape == FULL and not result.get("quick")
    flotilla = result.get("flotilla") or {}
    out: list[Verdict] = []

    def judge(goal: str, measured: str, ok: bool | None) -> None:
        if not judged:
            verdict = "not judged (not the full shape)"
        elif ok is None:
            verdict = "not measured"
        else:
            verdict = "met" if ok else "missed"
        out.append(Verdict(goal, measured, verdict))

    rolls = {int(r["workers"]): r.get("seconds") for r in flotilla.get("rolls") or []}
    more = max(rolls) if rolls else 1
    ratio = throughput_ratio(rolls.get(1), rolls.get(more)) if more > 1 else None
    replicas = f"{more} vs 1" if more > 1 else "more vs 1"  # no roll with more workers taken yet
    judge(
        f"{replicas} CloneSet worker replicas rolling every CloneSet in place: >= {GOAL_REPLICA_RATIO}x",
        format_ratio(ratio),
        None if ratio is None else ratio >= GOAL_REPLICA_RATIO,
    )
    cold = (flotilla.get("watcher_restart_cold") or {}).get("keys_seconds")
    judge(
        f"watcher restarted without its checkpoint: every key reconciled < {GOAL_COLD_RESTART_S:.0f} s",
        format_seconds(cold),
        None if cold is None else cold < GOAL_COLD_RESTART_S,
    )
    peaks = [_peak(stage, "flotilla-worker-cloneset") for stage in flotilla.get("stages") or []]
    known = [p for p in peaks if p is not None]
    top = max(known) if known else None
    judge(
        f"one worker's peak RSS < {GOAL_WORKER_PEAK_BYTES // MIB} MiB",
        format_mebibytes(top),
        None if top is None else top < GOAL_WORKER_PEAK_BYTES,
    )
    flat = None
    if len(known) == len(peaks) >= 2:
        flat = known[-1] <= known[0] * (1 + FLAT_TOLERANCE)
    judge(
        f"one worker's peak RSS flat in pod count "
        f"(at most +{FLAT_TOLERANCE:.0%} from the first to the last stage)",
        " -> ".join(format_mebibytes(p) for p in peaks) or NOT_MEASURED,
        flat,
    )
    return out


def _peak(stage: Mapping[str, Any], process: str) -> int | None:
    value = (stage.get("rss") or {}).get(process, {}).get("peak_bytes")
    return None if value is None else int(value)


def _rss(stage: Mapping[str, Any], process: str) -> int | None:
    value = (stage.get("rss") or {}).get(process, {}).get("rss_bytes")
    return None if value is None else int(value)


# ---------------------------------------------------------------------- report
def _seconds(value: Any) -> str:
    return format_seconds(None if value is None else float(value))


def render_report(result: Mapping[str, Any]) -> str:
    """The markdown tables of one saved result of ``benchmarks/scale.py``."""
    shape = Shape(**result["shape"])
    flotilla = result.get("flotilla") or {}
    kruise = result.get("kruise") or {}
    host = result.get("host") or {}
    parts = [
        f"## At cluster scale: {shape.describe()}, one namespace"
        + (" (--quick: a smoke run, not results)" if result.get("quick") else ""),
        f"commit {result.get('git_commit', '?')}, started {result.get('started_at', '?')}, "
        f"load average at start {host.get('loadavg_at_start', '?')}, "
        f"at end {host.get('loadavg_at_end', '?')}",
    ]
    for run in result.get("runs") or []:  # sides measured in runs of their own (--report A B)
        run_host = run.get("host") or {}
        parts.append(
            f"- `{run.get('command', '?')}` on {run.get('git_commit', '?')}, started "
            f"{run.get('started_at', '?')}, load average at start "
            f"{run_host.get('loadavg_at_start', '?')}, at end {run_host.get('loadavg_at_end', '?')}"
        )

    restarts = [
        ("Flotilla watcher, killed, resumes from its checkpoint", flotilla.get("watcher_restart_resume")),
        (
            "Flotilla watcher, killed, no checkpoint (lists and triggers every key)",
            flotilla.get("watcher_restart_cold"),
        ),
        (
            "Flotilla worker (1 replica), killed; every CloneSet touched while it was down",
            flotilla.get("worker_restart"),
        ),
        ("kruise-manager, killed (its informers list and enqueue every CloneSet)", kruise.get("restart")),
    ]
    rows = []
    for label, entry in restarts:
        entry = entry or {}
        keys = entry.get("keys_expected")
        seen = entry.get("keys_seen")
        rows.append(
            [
                label,
                _seconds(entry.get("ready_seconds")),
                _seconds(entry.get("keys_seconds")) if keys else "-",
                f"{seen}/{keys}" if keys else "-",
                str(entry.get("triggers", "-")),
            ]
        )
    parts += [
        "### Restarts (process started -> ready; -> every CloneSet key reconciled once)",
        markdown_table(["restart", "ready", "every key reconciled", "keys", "triggers published"], rows),
    ]

    roll_rows = []
    one = None
    for roll in flotilla.get("rolls") or []:
        seconds = roll.get("seconds")
        if int(roll["workers"]) == 1:
            one = seconds
        ratio = throughput_ratio(one, seconds) if int(roll["workers"]) > 1 else None
        roll_rows.append(
            [
                f"Flotilla, {roll['workers']} CloneSet worker(s)",
                _seconds(seconds) if roll.get("error") is None else str(roll["error"]),
                "-" if roll.get("pods_created") is None else str(roll["pods_created"]),
                format_ratio(ratio) if int(roll["workers"]) > 1 else "-",
            ]
        )
    if kruise.get("roll"):
        roll = kruise["roll"]
        roll_rows.append(
            [
                "kruise-manager",
                _seconds(roll.get("seconds")) if roll.get("error") is None else str(roll["error"]),
                "-" if roll.get("pods_created") is None else str(roll["pods_created"]),
                "-",
            ]
        )
    parts += [
        f"### Rolling all {shape.clonesets} CloneSets in place (image patched on every CloneSet -> "
        f"{shape.pods} pods Ready on the new image)",
        markdown_table(["controller", "seconds", "pods created", "speed-up vs 1 worker"], roll_rows),
    ]

    mem_rows = []
    for plane, processes in (
        (flotilla, ("flotilla-watcher", "flotilla-worker-cloneset")),
        (kruise, ("kruise-manager",)),
    ):
        for stage in plane.get("stages") or []:
            for process in processes:
                if process not in (stage.get("rss") or {}):
                    continue
                mem_rows.append(
                    [
                        process,
                        str(stage["pods"]),
                        str(stage.get("objects", "-")),
                        format_mebibytes(_rss(stage, process)),
                        format_mebibytes(_peak(stage, process)),
                    ]
                )
    parts += [
        "### Memory (RSS now, and the process's peak so far)",
        markdown_table(["process", "pods", "objects watched", "RSS", "peak RSS"], mem_rows),
    ]
    stages = flotilla.get("stages") or []
    for process in ("flotilla-watcher", "flotilla-worker-cloneset"):
        if len(stages) >= 2:
            growth = growth_per_thousand(
                _rss(stages[0], process), int(stages[0].get("objects", 0)),
                _rss(stages[-1], process), int(stages[-1].get("objects", 0)),
            )  # fmt: skip
            parts.append(f"- {process}: RSS growth per 1,000 more objects: {format_mebibytes(growth)}")
    kstages = kruise.get("stages") or []
    if len(kstages) >= 2:
        growth = growth_per_thousand(
            _rss(kstages[0], "kruise-manager"), int(kstages[0].get("objects", 0)),
            _rss(kstages[-1], "kruise-manager"), int(kstages[-1].get("objects", 0)),
        )  # fmt: skip
        parts.append(f"- kruise-manager: RSS growth per 1,000 more objects: {format_mebibytes(growth)}")

    idle_rows = []
    for label, plane in (("Flotilla", flotilla), ("kruise-manager", kruise)):
        idle = plane.get("idle")
        if not idle:
            continue
        for process, value in sorted((idle.get("cpu_per_minute") or {}).items()):
            idle_rows.append(
                [
                    label,
                    process,
                    NOT_MEASURED if value is None else f"{value:.2f}",
                    f"{idle.get('window_seconds', 0):.0f} s",
                    str(idle.get("resyncs", "-")),
                ]
            )
    parts += [
        "### Idle cost: CPU seconds per minute, everything settled",
        markdown_table(
            ["plane", "process", "CPU s / min", "window", "watcher resyncs in the window"], idle_rows
        ),
    ]

    reads_rows = [
        [f"{stage['clonesets']} CloneSets in the namespace", *stage["reads"][1:]]
        for stage in stages
        if stage.get("reads")
    ]
    if reads_rows:
        parts += [
            "### API server reads of one CloneSet's reconcile (observe), per call",
            markdown_table(
                [
                    "namespace holds",
                    "requests",
                    "pod LISTs",
                    "LIST KiB",
                    "objects returned",
                    "objects evaluated",
                ],
                reads_rows,
            ),
        ]

    parts += [
        "### Goals (issue 16)",
        markdown_table(
            ["goal", "measured", "verdict"], [[v.goal, v.measured, v.verdict] for v in verdicts(result)]
        ),
    ]
    return "\n\n".join(parts) + "\n"
