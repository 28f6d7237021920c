"""The settings a CloneSet benchmark run used, written into its JSON result and docs/benchmarks.md.

Rate limits and parallelism of every client on the path from "object created" to "pod Ready",
as the launcher (``flotilla/devcluster``) configures them, and the kubelet model (what kwok
charged for a pod start and a container restart), so published numbers say what they were
measured with. Pure; called by ``benchmarks/cloneset.py`` and ``cloneset_report.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.harness.controlplane import LIMIT_MODES
from flotilla.devcluster import versions
from flotilla.devcluster.kwok_nodes import KubeletDelays
from workers.runtime.consumer import RuntimeOptions

#: client-go defaults of the components when no flag is given.
KCM_DEFAULT = {"qps": 20, "burst": 30}
SCHEDULER_DEFAULT = {"qps": 50, "burst": 100}


def describe_settings(
    limit_modes: Sequence[str],
    raw_concurrency: int,
    worker_args: Sequence[str],
    kubelet: KubeletDelays | None = None,
) -> dict[str, Any]:
    modes: dict[str, Any] = {}
    for mode in limit_modes:
        qps = LIMIT_MODES[mode]
        limit = {"qps": qps, "burst": int(qps * 2)} if qps is not None else None
        modes[mode] = {
            "kube-controller-manager": limit or KCM_DEFAULT,
            "kube-scheduler": limit or SCHEDULER_DEFAULT,
            "flotilla worker/watcher": "no client-side rate limit (aiohttp, 64 connections)",
            "raw loop": f"no client-side rate limit, {raw_concurrency} requests in flight",
        }
    defaults = RuntimeOptions()
    delays = kubelet or KubeletDelays()
    return {
        "client_limits": modes,
        "kubelet": {
            "pod_start_ms": delays.pod_start_ms,
            "container_restart_ms": delays.container_restart_ms,
            "jitter_ms": delays.jitter_ms,
            "model": delays.describe(),
        },
        "kwok": "no client-side rate limit (client-go FakeAlwaysRateLimiter); podPlayStageParallelism 16",
        "kube-apiserver": "max-requests-inflight 1600, max-mutating-requests-inflight 800, APF on",
        "etcd": "--unsafe-no-fsync",
        "nodes": "3 kwok nodes",
        "flotilla_worker": {
            "concurrency": defaults.concurrency,
            "batch": defaults.batch,
            "extra_args": list(worker_args),
        },
        "update_strategy": "maxUnavailable 20%, maxSurge 0 (Deployment and CloneSet)",
        "versions": {"kubernetes": versions.KUBERNETES, "etcd": versions.ETCD, "kwok": versions.KWOK},
    }


def kubelet_of(settings: Mapping[str, Any] | None) -> KubeletDelays:
    """The kubelet model a saved result was measured with (results written before the model
    existed had none: kwok made a bound pod Ready at once)."""
    kubelet = (settings or {}).get("kubelet") or {}
    return KubeletDelays(
        pod_start_ms=int(kubelet.get("pod_start_ms", 0)),
        container_restart_ms=int(kubelet.get("container_restart_ms", 0)),
        jitter_ms=int(kubelet.get("jitter_ms", 0)),
    )


def kubelet_label(delays: KubeletDelays) -> str:
    """A short label for a table heading: "no kubelet delays" or "kubelet: start 2000 ms, restart 500 ms"."""
    if not (delays.pod_start_ms or delays.container_restart_ms):
        return "no kubelet delays"
    label = f"kubelet: start {delays.pod_start_ms} ms, restart {delays.container_restart_ms} ms"
    return label + (f", jitter {delays.jitter_ms} ms" if delays.jitter_ms else "")


def merged_kubelet(all_settings: Sequence[Mapping[str, Any] | None]) -> KubeletDelays:
    """The one kubelet model of results to be merged; ValueError if they differ (their
    records would land in the same rows)."""
    models = {kubelet_of(s) for s in all_settings} or {KubeletDelays()}
    if len(models) > 1:
        found = "; ".join(sorted(m.describe() for m in models))
        raise ValueError(f"these results used different kubelet models ({found}); render them separately")
    return models.pop()


def settings_rows(all_settings: Sequence[Mapping[str, Any] | None]) -> list[list[str]]:
    """The report's settings table: kubelet model, client limit modes, nodes, worker options."""
    known = [s for s in all_settings if s]

    def distinct(values: Sequence[str]) -> str:
        return " / ".join(dict.fromkeys(values)) or "-"

    modes = [m for s in known for m in s.get("client_limits", {})]
    workers = [
        f"concurrency {w.get('concurrency')}, batch {w.get('batch')}"
        + (f", args {' '.join(w['extra_args'])}" if w.get("extra_args") else "")
        for s in known
        if isinstance(w := s.get("flotilla_worker"), Mapping)
    ]
    return [
        ["kubelet model (kwok Stage delays)", merged_kubelet(all_settings).describe()],
        ["client limit modes", distinct(modes)],
        ["nodes", distinct([str(s.get("nodes", "-")) for s in known])],
        ["Flotilla worker", distinct(workers)],
    ]
