"""Fault: SIGKILL of a worker mid-reconcile. The key is redone by another replica once the lease
expires; the two reconciles never overlap and the change is not lost."""

from __future__ import annotations

import asyncio
import random
import socket
from pathlib import Path

import orjson
import pytest
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError

from flotilla.runtime.kube import KubeClient
from schemas.bus.streams import LEASE_BUCKET
from schemas.bus.subjects import lease_key
from tests.support.fixtures import StartWorker
from tests.support.polling import eventually_async
from tests.support.workers import (
    WorkerProcess,
    create_configmaps,
    overlaps,
    publish_trigger,
    read_records,
    reconcile_intervals,
    reconciled_values,
)


async def _lease_holder(js: JetStreamContext, key: str) -> str | None:
    kv = await js.key_value(LEASE_BUCKET)
    try:
        entry = await kv.get(lease_key(key))
    except KeyNotFoundError:
        return None
    if not entry.value:
        return None
    return str(orjson.loads(entry.value)["holder"])


@pytest.mark.parametrize("repetition", range(3))
async def test_sigkill_mid_reconcile_is_redone_by_another_replica(
    repetition: int,
    kube: KubeClient,
    testcm_bus: JetStreamContext,
    namespace: str,
    start_worker: StartWorker,
    record_dir: Path,
    fault_rng: random.Random,
) -> None:
    rng = fault_rng
    sleep = rng.uniform(2.0, 4.0)
    workers = [start_worker(), start_worker()]
    await create_configmaps(kube, namespace, ["victim"], {"desired": "v1", "sleep": f"{sleep:.2f}"})
    await publish_trigger(testcm_bus, namespace, "victim")
    key = f"testcm/{namespace}/victim"

    holder: str | None = None

    async def leased() -> bool:
        nonlocal holder
        holder = await _lease_holder(testcm_bus, key)
        return holder is not None

    await eventually_async(leased, 30, interval=0.05)
    assert holder is not None
    victim: WorkerProcess = next(w for w in workers if holder == f"{socket.gethostname()}-{w.pid}")
    await asyncio.sleep(rng.uniform(0.1, sleep * 0.8))
    killed_at = victim.kill()

    async def redone() -> bool:
        return (await reconciled_values(kube, namespace)).get("victim") == "v1"

    await eventually_async(redone, 60, what=f"redone (sleep {sleep:.2f}s)")
    intervals = reconcile_intervals(read_records(record_dir), killed={victim.pid: killed_at})
    runs = [i for i in intervals if i.key == key]
    assert overlaps(runs) == []
    finished = [r for r in runs if r.outcome == "ok"]
    assert len(finished) == 1
    assert finished[0].pid != victim.pid
    assert finished[0].start >= killed_at
