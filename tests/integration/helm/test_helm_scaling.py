"""Three CloneSet worker replicas of the chart share 50 CloneSets, with only the chart's RBAC.

The chart is installed with ``workers.cloneset.replicas=3`` and tracing on (its endpoint is an
OTLP receiver run by the test). Its 2 watchers and 3 CloneSet workers run as real local
processes, each as its pod would (`pod_processes.start_like_pods`: the Deployment's args and env, a
kubeconfig holding its ServiceAccount's TokenRequest token). 50 CloneSets of 2 replicas each
must converge; every worker replica must have reconciled some of them; no two reconciles of a
key may overlap in time (intervals from the runtime's spans: the logs only mark a reconcile's
end, see `scaling_support`); no process may log an authorization error or see a 403; and each
CloneSet must own exactly its 2 pods.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flotilla.devcluster.env import DevEnvironment
from tests.integration.helm.helm_release import Kubectl, get, helm, install
from tests.integration.helm.pod_processes import (
    Replica,
    authorization_denials,
    start_like_pods,
    terminating_namespace_refusals,
)
from tests.integration.helm.scaling_support import (
    Reconcile,
    SpanCollector,
    log_reconcile_ids,
    metric_samples,
    overlapping,
    reconciles,
)
from tests.support.polling import eventually

CLONESETS = 50
PODS_EACH = 2
WORKER_REPLICAS = 3


@dataclass
class ScaledRelease:
    namespace: str
    watchers: list[Replica]
    workers: list[Replica]
    collector: SpanCollector

    @property
    def processes(self) -> list[Replica]:
        return self.watchers + self.workers

    def stop(self) -> None:
        for replica in self.processes:
            replica.stop()

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(
            f"--- {r.pod_name}\n{r.log.read_text(errors='replace')[-tail:]}" for r in self.processes
        )


@pytest.fixture
def scaled_release(dev_env: DevEnvironment, kubectl: Kubectl, tmp_path: Path) -> Iterator[ScaledRelease]:
    """The chart with 3 CloneSet worker replicas and tracing, and its processes started like pods."""
    suffix = secrets.token_hex(3)
    name, namespace = f"fl-scale-{suffix}", f"flotilla-scale-{suffix}"
    kubectl("create", "namespace", namespace)
    started: list[Replica] = []
    with SpanCollector() as collector:
        try:
            install(
                dev_env.kubeconfig, name, namespace,
                "--set", f"workers.cloneset.replicas={WORKER_REPLICAS}",
                "--set", "tracing.enabled=true",
                "--set", f"tracing.endpoint={collector.endpoint}",
                "--set", "tracing.sampler=always_on",
            )  # fmt: skip
            watchers = start_like_pods(dev_env, kubectl, namespace, f"{name}-flotilla-watcher", tmp_path)
            started += watchers
            workers = start_like_pods(
                dev_env, kubectl, namespace, f"{name}-flotilla-worker-cloneset", tmp_path
            )
            started += workers
            release = ScaledRelease(namespace, watchers, workers, collector)
            yield release
        finally:
            for replica in started:
                replica.stop()
            helm(dev_env.kubeconfig, "uninstall", name, "--namespace", namespace, check=False)
            kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _clonesets_yaml(count: int) -> str:
    return "".join(
        "---\napiVersion: apps.kruise.io/v1alpha1\nkind: CloneSet\n"
        f"metadata: {{name: cs-{i:02d}}}\n"
        f"spec:\n  replicas: {PODS_EACH}\n  selector: {{matchLabels: {{app: cs-{i:02d}}}}}\n"
        f"  template:\n    metadata: {{labels: {{app: cs-{i:02d}}}}}\n"
        "    spec: {containers: [{name: app, image: nginx:1.27}]}\n"
        for i in range(count)
    )


def _describe(pair: tuple[Reconcile, Reconcile]) -> str:
    a, b = pair
    return (
        f"{a.key}: {a.pod} [{a.start_ns}, {a.end_ns}] {a.outcome} overlaps "
        f"{b.pod} [{b.start_ns}, {b.end_ns}] {b.outcome}"
    )


def test_three_worker_replicas_share_fifty_clonesets_with_only_chart_rbac(
    kubectl: Kubectl, namespace: str, scaled_release: ScaledRelease
) -> None:
    release = scaled_release
    assert len(release.workers) == WORKER_REPLICAS, "the chart's CloneSet worker replicas"
    assert len(release.watchers) == 2, "the chart's watcher replicas"
    key_prefix = f"cloneset/{namespace}/"

    def behind() -> list[str]:
        """The CloneSets not yet converged (all of them until the 50 exist)."""
        items = get(kubectl, "clonesets.apps.kruise.io", "-n", namespace)["items"]
        if len(items) < CLONESETS:
            return [f"{len(items)} of {CLONESETS} CloneSets exist"]
        return [
            cs["metadata"]["name"]
            for cs in items
            if cs.get("status", {}).get("readyReplicas") != PODS_EACH
            or cs.get("status", {}).get("observedGeneration") != cs["metadata"]["generation"]
        ]

    started = time.monotonic()
    try:
        kubectl("apply", "-n", namespace, "-f", "-", input=_clonesets_yaml(CLONESETS))
        eventually(lambda: not behind(), timeout=120, interval=1, what="all CloneSets converged")
    except AssertionError as failure:
        raise AssertionError(f"{failure}\nbehind: {behind()}\n{release.logs()}") from None
    convergence = time.monotonic() - started

    forbidden: dict[str, float] = {}
    for replica in release.processes:
        requests = metric_samples(replica.port, "flotilla_kube_requests_total")
        forbidden.update({f"{replica.pod_name}{k}": v for k, v in requests.items() if 'code="403"' in k})
    refusals = sum(
        terminating_namespace_refusals(r.log.read_text(errors="replace")) for r in release.processes
    )
    assert sum(forbidden.values()) <= refusals, f"403 answers to the chart's identities: {forbidden}"
    lease_conflicts = {
        r.pod_name: sum(metric_samples(r.port, "flotilla_lease_conflicts_total").values())
        for r in release.workers
    }

    release.stop()  # a graceful stop flushes each process's pending spans
    assert all(r.process.returncode == 0 for r in release.processes), release.logs()

    for replica in release.processes:
        assert not authorization_denials(replica.log.read_text(errors="replace")), release.logs()

    runs = [r for r in reconciles(release.collector.snapshot(), "cloneset") if r.key.startswith(key_prefix)]
    worker_pods = {r.pod_name for r in release.workers}
    per_replica = Counter(r.pod for r in runs)
    keys_per_replica = {pod: len({r.key for r in runs if r.pod == pod}) for pod in worker_pods}
    shared = {key for key in {r.key for r in runs} if len({r.pod for r in runs if r.key == key}) > 1}
    print(
        f"\n{CLONESETS} CloneSets converged in {convergence:.1f}s; {len(runs)} reconciles; "
        f"per replica: {dict(per_replica)}; keys per replica: {keys_per_replica}; "
        f"keys reconciled by more than one replica: {len(shared)}; lease conflicts: {lease_conflicts}"
    )

    # The spans are complete: every reconcile a worker logged has its span.
    for replica in release.workers:
        logged = log_reconcile_ids(replica.log, key_prefix)
        traced = {r.reconcile_id for r in runs if r.pod == replica.pod_name}
        assert logged, f"{replica.pod_name} logged no reconcile of this test's keys"
        missing = set(logged) - traced
        assert not missing, f"{replica.pod_name}: reconciles logged but not traced: {sorted(missing)[:5]}"

    assert set(per_replica) == worker_pods, f"reconciles by pod: {dict(per_replica)}"
    assert all(count > 0 for count in keys_per_replica.values()), keys_per_replica
    assert {r.key for r in runs} == {f"{key_prefix}cs-{i:02d}" for i in range(CLONESETS)}
    # Keys did move between replicas, so the exclusivity below is not vacuous.
    assert shared, "no key was reconciled by two replicas (one after the other)"
    clashes = overlapping(runs)
    assert not clashes, "\n".join(_describe(pair) for pair in clashes[:10])

    clonesets = {
        cs["metadata"]["uid"]: cs["metadata"]["name"]
        for cs in get(kubectl, "clonesets.apps.kruise.io", "-n", namespace)["items"]
    }
    pods: list[dict[str, Any]] = get(kubectl, "pods", "-n", namespace)["items"]
    owners = Counter(
        next((ref["uid"] for ref in p["metadata"].get("ownerReferences", []) if ref.get("controller")), None)
        for p in pods
    )
    assert None not in owners, "a pod without a controller"
    assert set(owners) == set(clonesets), "every pod is owned by one of this test's CloneSets"
    assert all(count == PODS_EACH for count in owners.values()), {
        clonesets[uid]: n for uid, n in owners.items() if n != PODS_EACH
    }
    assert len(pods) == CLONESETS * PODS_EACH
