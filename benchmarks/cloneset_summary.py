"""The CloneSet benchmark's numbers: medians, side-by-side ratios, cost and work per pod, goals.

Pure: run records (dicts, as written to the JSON result file) in, a summary dict out. Ratios
are medians of per-repeat ratios of runs done side by side on the same control plane. Missing
measurements stay None (rendered "not measured yet"), never filled in. Called by
``benchmarks/cloneset.py`` and ``benchmarks/cloneset_report.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from benchmarks.harness.stats import (
    NOT_MEASURED,
    median_or_none,
    paired_ratios,
    per_thousand,
)

Record = Mapping[str, Any]

SCALE_VARIANTS = ("replicaset", "cloneset", "rawloop", "kruise", "protocol-loop")
UPDATE_VARIANTS = (
    "deployment",
    "cloneset-inplace",
    "cloneset-recreate",
    "kruise-inplace",
    "kruise-recreate",
    "protocol-inplace",
)
SCALE_RATIOS = (
    ("cloneset", "replicaset"),
    ("cloneset", "rawloop"),
    ("replicaset", "rawloop"),
    ("cloneset", "kruise"),
    ("cloneset", "protocol-loop"),
    ("kruise", "protocol-loop"),
)
UPDATE_RATIOS = (
    ("cloneset-recreate", "cloneset-inplace"),
    ("deployment", "cloneset-inplace"),
    ("cloneset-inplace", "kruise-inplace"),
    ("kruise-recreate", "kruise-inplace"),
    ("cloneset-inplace", "protocol-inplace"),
)

#: The process doing a variant's controller work.
CONTROLLER_PROCESS = {
    "replicaset": "kube-controller-manager",
    "deployment": "kube-controller-manager",
    "cloneset": "flotilla-worker-cloneset",
    "cloneset-inplace": "flotilla-worker-cloneset",
    "cloneset-recreate": "flotilla-worker-cloneset",
    "rawloop": "rawloop",
    "protocol-loop": "rawloop",
    "protocol-inplace": "rawloop",
    "kruise": "kruise-manager",
    "kruise-inplace": "kruise-manager",
    "kruise-recreate": "kruise-manager",
}
WATCHER_PROCESS = "flotilla-watcher"
SHARED_PROCESSES = ("kube-apiserver", "etcd", "kube-scheduler", "kwok")


def _seconds_of_repeats(
    records: Iterable[Record], scenario: str, limits: str, size: int, variant: str
) -> dict[int, float]:
    """repeat -> seconds of one variant's measured runs."""
    return {
        r["repeat"]: r["seconds"]
        for r in records
        if r["scenario"] == scenario
        and r["limits"] == limits
        and r["size"] == size
        and r["variant"] == variant
        and r.get("seconds") is not None
    }


def seconds_by_repeat(
    records: Iterable[Record], scenario: str, limits: str, size: int, variant: str
) -> list[float]:
    found = _seconds_of_repeats(records, scenario, limits, size, variant)
    return [found[repeat] for repeat in sorted(found)]


def _paired(
    records: Sequence[Record], scenario: str, limits: str, size: int, top: str, bottom: str
) -> float | None:
    """Median over repeats of seconds(top) / seconds(bottom), only repeats where both ran."""
    tops = _seconds_of_repeats(records, scenario, limits, size, top)
    bottoms = _seconds_of_repeats(records, scenario, limits, size, bottom)
    common = sorted(set(tops) & set(bottoms))
    return median_or_none(paired_ratios([tops[i] for i in common], [bottoms[i] for i in common]))


def _usage(
    records: Iterable[Record], scenario: str, limits: str, size: int, variant: str, process: str, key: str
) -> list[float]:
    values = []
    for r in records:
        if (r["scenario"], r["limits"], r["size"], r["variant"]) != (scenario, limits, size, variant):
            continue
        if r.get("seconds") is None:
            continue
        value = (r.get("usage") or {}).get(process, {}).get(key)
        if value is not None:
            values.append(float(value))
    return values


def _counter_sum(record: Record, prefix: str, verbs: Sequence[str] = (), resource: str = "") -> float:
    """Sum of the record's counter deltas whose key starts with ``prefix`` (and matches verb/resource)."""
    total = 0.0
    for key, value in (record.get("counters") or {}).items():
        if not key.startswith(prefix):
            continue
        if verbs and not any(f"verb={v}" in key for v in verbs):
            continue
        if resource and f"resource={resource}" not in key:
            continue
        total += float(value)
    return total


#: Work columns: label -> (counter prefix, verbs, resource, divided by N?).
REQUEST_COLUMNS: dict[str, tuple[str, tuple[str, ...], str, bool]] = {
    "API requests / pod": ("kube-apiserver:", (), "", True),
    "pod writes / pod": ("kube-apiserver:", ("POST", "PUT", "PATCH", "DELETE"), "pods", True),
    "reads (GET+LIST) / pod": ("kube-apiserver:", ("GET", "LIST"), "", True),
    "worker API requests / pod": ("flotilla-worker-cloneset:flotilla_kube_requests_total", (), "", True),
    "triggers published / pod": ("flotilla-watcher:flotilla_events_published_total", (), "", True),
    "reconciles": ("flotilla-worker-cloneset:flotilla_reconciles_total", (), "", False),
    "reconcile seconds (sum)": (
        "flotilla-worker-cloneset:flotilla_reconcile_duration_seconds_sum",
        (),
        "",
        False,
    ),
    "lease-busy hand-backs": ("flotilla-worker-cloneset:flotilla_lease_conflicts_total", (), "", False),
}


def requests_per_pod(
    records: Iterable[Record], scenario: str, limits: str, size: int, variant: str
) -> dict[str, float | None]:
    """Median counts (per pod where the column says so) of REQUEST_COLUMNS over the successful runs."""
    runs = [
        r
        for r in records
        if (r["scenario"], r["limits"], r["size"], r["variant"]) == (scenario, limits, size, variant)
        and r.get("seconds") is not None
        and r.get("counters")
    ]
    return {
        label: median_or_none(
            [_counter_sum(r, prefix, verbs, resource) / (size if per_pod else 1) for r in runs]
        )
        for label, (prefix, verbs, resource, per_pod) in REQUEST_COLUMNS.items()
    }


def _axes(records: Sequence[Record], scenario: str) -> list[tuple[str, int]]:
    return sorted({(r["limits"], r["size"]) for r in records if r["scenario"] == scenario})


def summarize_records(records: Sequence[Record]) -> dict[str, Any]:
    """Medians and ratios per scenario / limits / size (the JSON file's ``summary``)."""
    summary: dict[str, Any] = {"scale": [], "update": []}
    for scenario, variants, ratios in (
        ("scale", SCALE_VARIANTS, SCALE_RATIOS),
        ("update", UPDATE_VARIANTS, UPDATE_RATIOS),
    ):
        for limits, size in _axes(records, scenario):
            row: dict[str, Any] = {
                "limits": limits,
                "size": size,
                "median_seconds": {},
                "ratios": {},
                "cost": {},
            }
            for variant in variants:
                row["median_seconds"][variant] = median_or_none(
                    seconds_by_repeat(records, scenario, limits, size, variant)
                )
                cpu = median_or_none(
                    _usage(
                        records, scenario, limits, size, variant, CONTROLLER_PROCESS[variant], "cpu_seconds"
                    )
                )
                rss = _usage(
                    records, scenario, limits, size, variant, CONTROLLER_PROCESS[variant], "peak_rss_bytes"
                )
                watcher = median_or_none(
                    _usage(records, scenario, limits, size, variant, WATCHER_PROCESS, "cpu_seconds")
                )
                row["cost"][variant] = {
                    "controller_process": CONTROLLER_PROCESS[variant],
                    "controller_cpu_seconds_per_1000_pods": per_thousand(cpu, size),
                    "controller_peak_rss_bytes": max(rss) if rss else None,
                    "watcher_cpu_seconds_per_1000_pods": per_thousand(watcher, size)
                    if variant.startswith("cloneset")
                    else None,
                    "shared_cpu_seconds": {
                        p: median_or_none(_usage(records, scenario, limits, size, variant, p, "cpu_seconds"))
                        for p in SHARED_PROCESSES
                    },
                    "per_pod": requests_per_pod(records, scenario, limits, size, variant),
                    "machine_busy": median_or_none(
                        [
                            float(r["machine_busy"])
                            for r in records
                            if (r["scenario"], r["limits"], r["size"], r["variant"])
                            == (scenario, limits, size, variant)
                            and r.get("seconds") is not None
                            and r.get("machine_busy") is not None
                        ]
                    ),
                }
            for top, bottom in ratios:
                row["ratios"][f"{top}/{bottom}"] = _paired(records, scenario, limits, size, top, bottom)
            summary[scenario].append(row)
    summary["goals"] = goals(summary)
    return summary


def goals(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The issue's goals, judged on the largest size measured with unlimited (equal) client limits."""
    out: list[dict[str, Any]] = []

    def largest(scenario: str) -> Mapping[str, Any] | None:
        rows = [r for r in summary.get(scenario, []) if r["limits"] == "unlimited"]
        return max(rows, key=lambda r: r["size"]) if rows else None

    scale, update = largest("scale"), largest("update")
    for label, row, key, bound, better in (
        ("CloneSet 0->N within 1.0x of ReplicaSet", scale, "cloneset/replicaset", 1.0, "le"),
        ("CloneSet 0->N within 1.1x of the raw loop", scale, "cloneset/rawloop", 1.1, "le"),
        ("in-place >= 5x faster than recreate", update, "cloneset-recreate/cloneset-inplace", 5.0, "ge"),
        ("Flotilla 0->N <= 0.8x kruise-manager", scale, "cloneset/kruise", 0.8, "le"),
        ("Flotilla in-place <= 0.8x kruise-manager", update, "cloneset-inplace/kruise-inplace", 0.8, "le"),
        ("Flotilla 0->N within 1.2x of the protocol loop", scale, "cloneset/protocol-loop", 1.2, "le"),
    ):
        value = row["ratios"].get(key) if row else None
        if value is None:
            verdict = NOT_MEASURED
        elif better == "le":
            verdict = "met" if value <= bound else "missed"
        else:
            verdict = "met" if value >= bound else "missed"
        out.append({"goal": label, "size": row["size"] if row else None, "ratio": value, "verdict": verdict})
    return out
