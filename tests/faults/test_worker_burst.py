"""Fault: three replicas of one type under a burst of 500 keys (plus repeated triggers while
they work). Every key is reconciled to its latest value and no two reconciles of one key ever
overlap (intervals recorded by the instrumented test worker)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from nats.js import JetStreamContext

from flotilla.runtime.kube import CONFIGMAPS, KubeClient
from tests.support.fixtures import StartWorker
from tests.support.polling import eventually_async
from tests.support.workers import (
    create_configmaps,
    overlaps,
    publish_trigger,
    read_records,
    reconcile_intervals,
    reconciled_values,
)

KEYS = 500


async def test_three_replicas_burst_of_500_keys_never_overlap(
    kube: KubeClient,
    testcm_bus: JetStreamContext,
    namespace: str,
    start_worker: StartWorker,
    record_dir: Path,
) -> None:
    names = [f"k-{i:03d}" for i in range(KEYS)]
    await create_configmaps(kube, namespace, names, {"desired": "v1"})
    for _ in range(3):
        start_worker("--concurrency", "24", env={"TESTCM_COST": "0.02"})
    await asyncio.gather(*(publish_trigger(testcm_bus, namespace, n) for n in names))

    # While the replicas work, change a random fifth of the objects and trigger them twice more.
    await asyncio.sleep(1.0)
    changed = random.sample(names, KEYS // 5)
    gate = asyncio.Semaphore(32)

    async def change(name: str) -> None:
        async with gate:
            await kube.patch(CONFIGMAPS.path(namespace, name), {"data": {"desired": "v2"}})
        await publish_trigger(testcm_bus, namespace, name)
        await publish_trigger(testcm_bus, namespace, name)

    await asyncio.gather(*(change(n) for n in changed))
    expected = {n: ("v2" if n in set(changed) else "v1") for n in names}

    async def converged() -> bool:
        return await reconciled_values(kube, namespace) == expected

    await eventually_async(converged, 180, interval=1.0)
    intervals = reconcile_intervals(read_records(record_dir))
    assert {i.key for i in intervals} >= {f"testcm/{namespace}/{n}" for n in names}
    assert overlaps(intervals) == []
    assert len({i.pid for i in intervals}) == 3  # the work was shared
