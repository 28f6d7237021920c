"""CloneSets under faults: 3 real ``flotilla worker cloneset`` replicas at production defaults
scale 20 CloneSets 0 -> 50 and roll their image while replicas are SIGKILLed and SIGSTOPped past
the lease TTL throughout (seeded: ``FLOTILLA_FAULT_SEED``); mid-rollout NATS, kube-apiserver and
etcd are SIGKILLed too, one after another in a seeded order (one run for all four: each
component's kill is a moment of the same rollout, which keeps ``make test`` short).

Checked from the API server (tests/support/invariants.py): every pod ever created (a watch), never
more live pods than replicas + maxSurge, exactly the pods the spec needs (50 of each image per
CloneSet), no orphan, every CloneSet converges, no two reconciles writing one CloneSet at once (the
audit log), and nothing dead-lettered (stream, metric, condition). No PVCs: the local cluster has no
volume provisioner, so a claim would never bind and its pod never become Ready; PVC cleanup is
covered by tests/integration/cloneset/test_cloneset_stack.py.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import pytest
from kubernetes import client as k8s
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.errors import KubeError
from flotilla.runtime.kube import PODS, JsonObject, KubeClient
from schemas.bus.bootstrap import declare
from schemas.bus.streams import worker_bus
from schemas.crdgen import install_crds
from tests.support.fleet import Faults, Fleet, fault_seed
from tests.support.invariants import (
    NamespaceWatch,
    audit_overlaps,
    dead_letters,
    failed_condition,
    recreate_cloneset,
    settled,
    summary,
)
from workers.cloneset.lowering import CLONESETS

SURGE = 5
#: Seconds between faults (uniform). A restarted replica needs ~5-10 s to start on a loaded 2-core
#: machine, and a killed one's keys wait ack_wait (15 s): more often and nothing progresses.
FAULT_EVERY = (10.0, 25.0)


@pytest.fixture(scope="module")
def crds(api_client: k8s.ApiClient) -> list[str]:
    return install_crds(api_client)


def cloneset(namespace: str, name: str, replicas: int, image: str) -> JsonObject:
    return recreate_cloneset(namespace, name, replicas, image, surge=SURGE, unavailable=5)


async def _retrying(call: Callable[[], Awaitable[JsonObject]], attempts: int = 120) -> JsonObject:
    """A test-side API call, retried while the API server (or etcd) is down."""
    for attempt in range(attempts):
        try:
            return await call()
        except KubeError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


async def converged(
    api: KubeClient, namespace: str, names: list[str], replicas: int, image: str
) -> list[str]:
    """The CloneSets not yet done: status settled on the spec, exactly ``replicas`` live pods of ``image``."""
    try:
        listing = await api.get(CLONESETS.path(namespace))
        pods = (await api.get(PODS.path(namespace))).get("items", [])
    except KubeError:
        return names
    live: dict[str, list[str]] = {}
    for pod in pods:
        if not pod["metadata"].get("deletionTimestamp"):
            owner = pod["metadata"]["labels"].get("app", "")
            live.setdefault(owner, []).append(pod["spec"]["containers"][0]["image"])
    done = {
        o["metadata"]["name"]
        for o in listing.get("items", [])
        if settled(o) and live.get(o["metadata"]["name"], []) == [image] * replicas
    }
    return [n for n in names if n not in done]


async def wait_converged(
    api: KubeClient, namespace: str, names: list[str], replicas: int, image: str, within: float
) -> float:
    started = time.monotonic()
    pending = names
    while time.monotonic() - started < within:
        pending = await converged(api, namespace, names, replicas, image)
        if not pending:
            return time.monotonic() - started
        await asyncio.sleep(2.0)
    raise AssertionError(f"not converged to {replicas} x {image} within {within:.0f}s: {pending}")


#: SIGKILLed mid-rollout, one after another (order and gaps seeded).
COMPONENTS = ["nats", "apiserver", "etcd"]
#: Seconds from the image change (or the previous component's restart) to the next component kill.
COMPONENT_GAP = (3.0, 12.0)


async def _kill_components(faults: Faults, rng: random.Random) -> None:
    for component in rng.sample(COMPONENTS, len(COMPONENTS)):
        await asyncio.sleep(rng.uniform(*COMPONENT_GAP))
        await faults.kill_component(component)


@pytest.mark.timeout(1800)
async def test_cloneset_scale_and_rollout_under_faults(
    dev_env: DevEnvironment,
    crds: list[str],
    jetstream: JetStreamContext,
    namespace: str,
    tmp_path: Path,
) -> None:
    # FLOTILLA_FAULT_REPLICAS / FLOTILLA_FAULT_CLONESETS scale it down (e.g. on a machine other
    # test runs load: at load 40 on 2 cores the API server took 3-4 s per pod create here).
    replicas = int(os.environ.get("FLOTILLA_FAULT_REPLICAS", "50"))
    clonesets = int(os.environ.get("FLOTILLA_FAULT_CLONESETS", "20"))
    seed = fault_seed()
    rng = random.Random(seed)
    await declare(jetstream, worker_bus("cloneset"))
    names = [f"cs-{i:02d}" for i in range(clonesets)]
    fleet = Fleet(dev_env, namespace, tmp_path / "logs")
    faults = Faults(fleet, rng)
    stop_faults = asyncio.Event()
    async with KubeClient.from_environment(dev_env.kubeconfig) as api:
        watch = NamespaceWatch(api, namespace)
        await watch.start()
        fleet.start(replicas=3)
        try:
            for name in names:
                await api.create(CLONESETS.path(namespace), cloneset(namespace, name, 0, "app:v1"))
            injector = asyncio.create_task(
                faults.run(["worker-kill", "worker-stall"], FAULT_EVERY, stop_faults)
            )
            for name in names:
                await _retrying(
                    partial(api.patch, CLONESETS.path(namespace, name), {"spec": {"replicas": replicas}})
                )
            scaled = await wait_converged(api, namespace, names, replicas, "app:v1", 600)
            image = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}}
            roll_started = time.monotonic()
            for name in names:
                await _retrying(partial(api.patch, CLONESETS.path(namespace, name), image))
            # mid-rollout: each component is killed and restarted while the CloneSets roll
            await _kill_components(faults, random.Random(rng.random()))
            await wait_converged(api, namespace, names, replicas, "app:v2", 900)
            rolled = time.monotonic() - roll_started
            stop_faults.set()
            await injector
            await faults.settle()
            # After the last fault: still converged a resync later is not needed; a fresh look suffices.
            await wait_converged(api, namespace, names, replicas, "app:v2", 300)
            final = await _retrying(partial(api.get, CLONESETS.path(namespace)))
            pods_now = await _retrying(partial(api.get, PODS.path(namespace)))
            letters = await dead_letters(jetstream, namespace, [w.url for w in fleet.workers])
        except BaseException:
            print(fleet.log_tail())
            raise
        finally:
            stop_faults.set()
            await watch.stop()
            fleet.stop()
    ledger = watch.ledger
    reconciles, overlapping = audit_overlaps(dev_env.run_dir / "logs" / "audit.log", namespace)
    created = {name: (ledger.created[(name, "app:v1")], ledger.created[(name, "app:v2")]) for name in names}
    print(
        summary(
            {
                "seed": seed,
                "faults": dict(faults.injected),
                "pods_created": sum(ledger.created.values()),
                "invariant_checks": ledger.checks,
                "violations": len(ledger.violations),
                "max_live": max(ledger.peak.values()),
                "audited_reconciles": reconciles,
                "overlaps": len(overlapping),
                "dead_letters": letters,
                "scale_s": round(scaled),
                "roll_s": round(rolled),
                "watch_resumes": watch.resumes,
                "watch_relists": watch.relists,
            }
        )
    )
    assert faults.injected, "no fault was injected"
    # The ledger itself first: once converged it must hold exactly the live pods the API server
    # lists. A pod it still counts that the server no longer has is a deletion the watches missed,
    # and would show below as a false surge violation.
    metas = [p["metadata"] for p in pods_now.get("items", [])]
    listed = {meta["uid"] for meta in metas if not meta.get("deletionTimestamp")}
    assert sorted(set(ledger.live) - listed) == [], "the ledger counts pods the API server no longer has"
    assert ledger.violations == []
    assert {n: c for n, c in created.items() if c != (replicas, replicas)} == {}
    assert sum(ledger.created.values()) == 2 * replicas * clonesets  # and no pod of anything else
    assert reconciles > 0
    assert overlapping == []
    assert letters == {"stream": 0.0, "metric": 0.0}
    assert failed_condition(final.get("items", [])) == []
    # no orphan at the end: every live pod is controlled by a live CloneSet of this namespace
    uids = {o["metadata"]["uid"] for o in final.get("items", [])}
    assert all(ledger.clonesets[o].uid in uids for o in set(ledger.live.values()))
