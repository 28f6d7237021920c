"""The soak: 50 CloneSets under random spec churn while every component is killed at random.

``make soak`` (``python -m tests.support.soak``) starts its own control plane and NATS and runs for
``SOAK_MINUTES`` (default 30); ``tests/faults/test_soak.py`` runs :func:`soak` for 3 minutes on the
test session's environment. Three ``flotilla worker cloneset`` replicas and a watcher run at
production defaults (tests/support/fleet.py). Meanwhile, from one seeded ``random.Random``
(``FLOTILLA_FAULT_SEED`` replays a run):

* churn: every 1-3 s one CloneSet gets new replicas (0-8), a new image (ReCreate: new pods) or a
  new partition;
* faults: every 6-15 s one of: SIGKILL a worker replica (restarted), SIGSTOP one past the lease
  TTL (then SIGCONT), SIGKILL the watcher, NATS, kube-apiserver or etcd (restarted).

Checked continuously with the fault tests' checker (tests/support/invariants.py): on every pod and
CloneSet event the live-pod bound and orphans; every 30 s what the audit log gained since (no two
processes' reconciles writing one CloneSet at once) and dead letters (stream, metric,
condition). At the end churn and faults stop, every CloneSet must converge on its last spec,
and the checks run once more. Not checked here: "pods created = what the spec needs" (with
random churn there is no closed form; the fault tests check it). Prints a summary and exits 1
on any violation.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nats
from kubernetes import config as k8s_config
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment, new_run_dir
from flotilla.runtime.errors import KubeError
from flotilla.runtime.kube import NAMESPACES, PODS, JsonObject, KubeClient
from schemas.bus.bootstrap import declare
from schemas.bus.streams import worker_bus
from schemas.crdgen import install_crds
from tests.support.fleet import Faults, Fleet, fault_seed
from tests.support.invariants import (
    AuditLog,
    NamespaceWatch,
    Write,
    dead_letters,
    failed_condition,
    overlaps,
    reconcile_spans,
    recreate_cloneset,
    settled,
    summary,
)
from workers.cloneset.lowering import CLONESETS

FAULTS = ["worker-kill", "worker-stall", "watcher-kill", "nats", "apiserver", "etcd"]
CLONESETS_N = 50
MAX_REPLICAS = 8


@dataclass
class SoakReport:
    seed: int
    minutes: float
    faults: Counter[str] = field(default_factory=Counter)
    churn: int = 0
    checks: int = 0
    violations: list[str] = field(default_factory=list)
    pods_created: int = 0
    reconciles_audited: int = 0

    def line(self) -> str:
        return summary(
            {
                "seed": self.seed,
                "minutes": self.minutes,
                "faults_injected": sum(self.faults.values()),
                "by_kind": dict(self.faults),
                "spec_changes": self.churn,
                "pods_created": self.pods_created,
                "reconciles_audited": self.reconciles_audited,
                "invariant_checks": self.checks,
                "violations": len(self.violations),
            }
        )


def _cloneset(namespace: str, name: str, replicas: int) -> JsonObject:
    return recreate_cloneset(namespace, name, replicas, "app:v1", surge=2, unavailable=2)


async def _churn(
    api: KubeClient, namespace: str, names: list[str], rng: random.Random, report: SoakReport
) -> None:
    while True:
        await asyncio.sleep(rng.uniform(1.0, 3.0))
        name = rng.choice(names)
        change = rng.choice(["replicas", "image", "partition"])
        spec: JsonObject
        if change == "replicas":
            spec = {"replicas": rng.randint(0, MAX_REPLICAS)}
        elif change == "image":
            image = f"app:v{rng.randint(1, 4)}"
            spec = {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}
        else:
            spec = {"updateStrategy": {"partition": rng.randint(0, MAX_REPLICAS // 2)}}
        with contextlib.suppress(KubeError):  # the API server may be down right now: skip this one
            await api.patch(CLONESETS.path(namespace, name), {"spec": spec})
            report.churn += 1


@dataclass
class _Audit:
    """The namespace's accepted worker writes so far, read from the audit log incrementally."""

    log: AuditLog
    namespace: str
    writes: list[Write] = field(default_factory=list)
    #: the periodic check runs in a thread; a cancelled one may still run when the final one starts
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self) -> tuple[int, list[str]]:
        with self.lock:
            self.writes += self.log.writes(self.namespace)
            spans = reconcile_spans(self.writes)
        return len(spans), overlaps(spans)


async def _periodic(js: JetStreamContext, fleet: Fleet, audit: _Audit, report: SoakReport) -> None:
    while True:
        await asyncio.sleep(30)
        _, overlapping = await asyncio.to_thread(audit.check)
        letters = await dead_letters(js, audit.namespace, [w.url for w in fleet.workers])
        report.checks += 2
        for found in overlapping:
            if found not in report.violations:
                report.violations.append(found)
        if any(letters.values()):
            report.violations.append(f"dead letters: {letters}")


async def _converged(api: KubeClient, namespace: str) -> list[str]:
    """CloneSets whose status has not settled on their spec or whose live pods differ in number."""
    try:
        items = (await api.get(CLONESETS.path(namespace))).get("items", [])
        pods = (await api.get(PODS.path(namespace))).get("items", [])
    except KubeError as err:
        return [f"API: {err}"]
    live = Counter(
        p["metadata"]["labels"].get("app") for p in pods if not p["metadata"].get("deletionTimestamp")
    )
    return [
        o["metadata"]["name"]
        for o in items
        if not settled(o) or live[o["metadata"]["name"]] != o["spec"]["replicas"]
    ]


async def soak(env: DevEnvironment, minutes: float, seed: int, log_dir: Path) -> SoakReport:
    """Run the soak on ``env`` in a namespace of its own; the report lists every violation."""
    rng = random.Random(seed)
    report = SoakReport(seed, minutes)
    namespace = f"soak-{seed % 100000}-{int(time.time()) % 100000}"
    names = [f"cs-{i:02d}" for i in range(CLONESETS_N)]
    nc = await nats.connect(env.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5)
    js = nc.jetstream()
    await declare(js, worker_bus("cloneset"))
    fleet = Fleet(env, namespace, log_dir)
    audit = _Audit(AuditLog(env.run_dir / "logs" / "audit.log"), namespace)
    faults = Faults(fleet, rng)
    stop_faults = asyncio.Event()
    async with KubeClient.from_environment(env.kubeconfig) as api:
        await api.create(NAMESPACES.path(), {"metadata": {"name": namespace}})
        watch = NamespaceWatch(api, namespace)
        await watch.start()
        fleet.start(replicas=3)
        background: list[asyncio.Task[None]] = []
        try:
            for name in names:
                await api.create(
                    CLONESETS.path(namespace), _cloneset(namespace, name, rng.randint(0, MAX_REPLICAS))
                )
            background = [
                asyncio.create_task(_churn(api, namespace, names, rng, report)),
                asyncio.create_task(_periodic(js, fleet, audit, report)),
            ]
            injector = asyncio.create_task(faults.run(FAULTS, (6.0, 15.0), stop_faults))
            await asyncio.sleep(minutes * 60)
            stop_faults.set()
            await injector
            for task in background:
                task.cancel()
            await faults.settle()
            deadline = time.monotonic() + 300
            while pending := await _converged(api, namespace):
                if time.monotonic() > deadline:
                    report.violations.append(f"not converged 300 s after the last fault: {pending}")
                    break
                await asyncio.sleep(2.0)
            final = (await api.get(CLONESETS.path(namespace))).get("items", [])
            letters = await dead_letters(js, namespace, [w.url for w in fleet.workers])
        finally:
            stop_faults.set()
            for task in background:
                task.cancel()
            await watch.stop()
            fleet.stop()
            with contextlib.suppress(KubeError):
                await api.delete(NAMESPACES.path(name=namespace))
            await nc.close()
    audited, overlapping = audit.check()
    ledger = watch.ledger
    report.faults = faults.injected
    report.pods_created = sum(ledger.created.values())
    report.reconciles_audited = audited
    report.checks += ledger.checks + 3
    report.violations += [v for v in ledger.violations + overlapping if v not in report.violations]
    if any(letters.values()):
        report.violations.append(f"dead letters at the end: {letters}")
    report.violations += [f"{n}: FlotillaReconcileFailed" for n in failed_condition(final)]
    uids = {o["metadata"]["uid"] for o in final}
    report.violations += [
        f"orphan pods of {o}" for o in set(ledger.live.values()) if ledger.clonesets[o].uid not in uids
    ]
    for line in faults.log:
        print(f"fault {line}")
    print(report.line(), flush=True)
    for violation in report.violations:
        print(f"VIOLATION: {violation}", flush=True)
    return report


def main() -> int:
    minutes = float(os.environ.get("SOAK_MINUTES", "30"))
    seed = fault_seed()
    run_dir = new_run_dir("soak")
    print(f"soak: {minutes:g} min, run folder {run_dir}", flush=True)
    env = DevEnvironment.from_environment(run_dir)
    try:
        install_crds(k8s_config.new_client_from_config(config_file=str(env.kubeconfig)))  # type: ignore[no-untyped-call]
        report = asyncio.run(soak(env, minutes, seed, run_dir / "flotilla"))
    finally:
        env.stop()
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
