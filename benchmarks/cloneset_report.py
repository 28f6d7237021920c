"""Markdown tables of the CloneSet benchmark's summary (``cloneset_summary.summarize_records``).

Pure text rendering: the settings (first of all the kubelet model, also named in the timing
tables' headings), medians with min-max, ratios, controller cost, work per pod and the goals'
verdicts; "not measured yet" where a number is missing. Called by ``benchmarks/cloneset.py``
(also for ``--report``, which re-renders saved results).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.cloneset_settings import kubelet_label, merged_kubelet, settings_rows
from benchmarks.cloneset_summary import (
    REQUEST_COLUMNS,
    SCALE_RATIOS,
    SCALE_VARIANTS,
    SHARED_PROCESSES,
    UPDATE_RATIOS,
    UPDATE_VARIANTS,
    Record,
    seconds_by_repeat,
)
from benchmarks.harness.stats import (
    NOT_MEASURED,
    format_mebibytes,
    format_ratio,
    format_spread,
    markdown_table,
    summarize,
)


def _count(value: float | None, per_pod: bool) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if per_pod else f"{value:.0f}"


def render_markdown(
    records: Sequence[Record],
    summary: Mapping[str, Any],
    settings: Sequence[Mapping[str, Any] | None] = (),
) -> str:
    """Tables of medians (with min-max), ratios, controller cost and the goals' verdicts.

    ``settings``: the ``settings`` of each result the records come from; given, a settings
    table comes first and the timing tables' headings name the kubelet model (ValueError if
    the results used different kubelet models)."""
    parts: list[str] = []
    model = ""
    if settings:
        model = f"; {kubelet_label(merged_kubelet(settings))}"
        parts.append("### Settings\n")
        parts.append(markdown_table(["setting", "value"], settings_rows(settings)))
    scale_rows = []
    for row in summary["scale"]:
        limits, size = row["limits"], row["size"]
        cells = [limits, str(size)]
        for variant in SCALE_VARIANTS:
            cells.append(format_spread(summarize(seconds_by_repeat(records, "scale", limits, size, variant))))
        cells += [format_ratio(row["ratios"].get(f"{top}/{bottom}")) for top, bottom in SCALE_RATIOS]
        scale_rows.append(cells)
    if scale_rows:
        parts.append(
            ("\n" if parts else "")
            + "### 0 -> N pods Ready (median seconds, min-max; ratios are medians of per-repeat ratios"
            f"{model})\n"
        )
        parts.append(
            markdown_table(
                [
                    "client limits",
                    "N",
                    "ReplicaSet (kcm)",
                    "CloneSet (Flotilla)",
                    "raw loop",
                    "CloneSet (kruise-manager)",
                    "protocol loop",
                    "CloneSet / ReplicaSet",
                    "CloneSet / raw",
                    "ReplicaSet / raw",
                    "Flotilla / kruise",
                    "Flotilla / protocol",
                    "kruise / protocol",
                ],
                scale_rows,
            )
        )
    update_rows = []
    for row in summary["update"]:
        limits, size = row["limits"], row["size"]
        cells = [limits, str(size)]
        for variant in UPDATE_VARIANTS:
            cells.append(
                format_spread(summarize(seconds_by_repeat(records, "update", limits, size, variant)))
            )
        cells += [format_ratio(row["ratios"].get(f"{top}/{bottom}")) for top, bottom in UPDATE_RATIOS]
        update_rows.append(cells)
    if update_rows:
        parts.append(
            f"\n### Image update of N pods (maxUnavailable 20%, maxSurge 0; median seconds{model})\n"
        )
        parts.append(
            markdown_table(
                [
                    "client limits",
                    "N",
                    "Deployment (kcm)",
                    "CloneSet InPlaceIfPossible",
                    "CloneSet ReCreate",
                    "kruise-manager InPlaceIfPossible",
                    "kruise-manager ReCreate",
                    "protocol in-place loop",
                    "ReCreate / in-place",
                    "Deployment / in-place",
                    "Flotilla / kruise in-place",
                    "kruise ReCreate / in-place",
                    "Flotilla in-place / protocol",
                ],
                update_rows,
            )
        )
    cost_rows = []
    for scenario in ("scale", "update"):
        for row in summary[scenario]:
            for variant, cost in row["cost"].items():
                if row["median_seconds"][variant] is None and not variant.startswith("cloneset"):
                    continue
                cpu = cost["controller_cpu_seconds_per_1000_pods"]
                watcher = cost["watcher_cpu_seconds_per_1000_pods"]
                shared = cost["shared_cpu_seconds"]
                busy = cost["machine_busy"]
                cost_rows.append(
                    [
                        scenario,
                        variant,
                        row["limits"],
                        str(row["size"]),
                        cost["controller_process"],
                        NOT_MEASURED if cpu is None else f"{cpu:.1f}",
                        format_mebibytes(cost["controller_peak_rss_bytes"]),
                        "" if watcher is None else f"{watcher:.1f}",
                        " / ".join(
                            "-" if shared[p] is None else f"{shared[p]:.1f}" for p in SHARED_PROCESSES
                        ),
                        "-" if busy is None else f"{busy * 100:.0f}%",
                    ]
                )
    if cost_rows:
        parts.append("\n### Cost of the timed step (medians; CPU seconds per 1000 pods reconciled)\n")
        parts.append(
            markdown_table(
                [
                    "scenario",
                    "variant",
                    "client limits",
                    "N",
                    "controller process",
                    "controller CPU s / 1000 pods",
                    "controller peak RSS",
                    "watcher CPU s / 1000 pods",
                    "apiserver / etcd / scheduler / kwok CPU s",
                    "machine busy",
                ],
                cost_rows,
            )
        )
    request_rows = []
    for scenario in ("scale", "update"):
        for row in summary[scenario]:
            for variant, cost in row["cost"].items():
                per_pod = cost.get("per_pod") or {}
                if all(v is None for v in per_pod.values()):
                    continue
                request_rows.append(
                    [scenario, variant, row["limits"], str(row["size"])]
                    + [_count(per_pod.get(c), REQUEST_COLUMNS[c][3]) for c in REQUEST_COLUMNS]
                )
    if request_rows:
        parts.append("\n### Work done during the timed step (medians)\n")
        parts.append(
            markdown_table(["scenario", "variant", "client limits", "N", *REQUEST_COLUMNS], request_rows)
        )
    goal_rows = [
        [g["goal"], "-" if g["size"] is None else str(g["size"]), format_ratio(g["ratio"]), g["verdict"]]
        for g in summary["goals"]
    ]
    parts.append("\n### Goals (unlimited client limits, largest N measured)\n")
    parts.append(markdown_table(["goal", "N", "median ratio", "verdict"], goal_rows))
    errors = [r for r in records if r.get("error")]
    if errors:
        parts.append(
            "\nRuns that failed: "
            + "; ".join(
                f"{r['scenario']}/{r['variant']}/{r['limits']}/N={r['size']}/r{r['repeat']}: {r['error']}"
                for r in errors
            )
        )
    return "\n".join(parts) + "\n"
