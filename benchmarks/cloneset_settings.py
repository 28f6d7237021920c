"""The settings a CloneSet benchmark run used, written into its JSON result and docs/benchmarks.md.

Rate limits and parallelism of every client on the path from "object created" to "pod Ready",
as the launcher (``flotilla/devcluster``) configures them, so published numbers say what they
were measured with. Pure; called by ``benchmarks/cloneset.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.harness.controlplane import LIMIT_MODES
from flotilla.devcluster import versions
from workers.runtime.consumer import RuntimeOptions

#: client-go defaults of the components when no flag is given.
KCM_DEFAULT = {"qps": 20, "burst": 30}
SCHEDULER_DEFAULT = {"qps": 50, "burst": 100}


def describe_settings(
    limit_modes: Sequence[str], raw_concurrency: int, worker_args: Sequence[str]
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
    return {
        "client_limits": modes,
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
