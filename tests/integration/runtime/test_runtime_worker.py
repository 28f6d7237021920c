"""The worker runtime against the real control plane and real NATS, with testcm worker processes.

Triggers are published straight to JetStream, as the watcher would publish them.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import aiohttp
from nats.js import JetStreamContext

from flotilla.runtime.kube import CONFIGMAPS, EVENTS, KubeClient
from schemas.bus.streams import DEADLETTER_STREAM, LEASE_BUCKET
from schemas.bus.subjects import deadletter_subject, lease_key
from tests.support.fixtures import StartWorker
from tests.support.kvkeys import kv_keys
from tests.support.polling import eventually_async
from tests.support.testcm import RECONCILED
from tests.support.workers import (
    create_configmaps,
    publish_trigger,
    read_records,
    reconcile_intervals,
    reconciled_values,
)
from workers.runtime.deadletter import ERROR_ANNOTATION


async def _ready(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(url + "/readyz") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def test_burst_of_triggers_is_coalesced_into_one_reconcile(
    kube: KubeClient,
    testcm_bus: JetStreamContext,
    namespace: str,
    start_worker: StartWorker,
    record_dir: Path,
) -> None:
    await create_configmaps(kube, namespace, ["a"], {"desired": "v1"})
    for _ in range(25):
        await publish_trigger(testcm_bus, namespace, "a")
    worker = start_worker()
    await eventually_async(lambda: _ready(worker.url), 30)

    async def done() -> bool:
        return (await reconciled_values(kube, namespace)).get("a") == "v1"

    await eventually_async(done, 30)
    await asyncio.sleep(2)  # a second reconcile, if any, would land now
    runs = [i for i in reconcile_intervals(read_records(record_dir)) if i.key == f"testcm/{namespace}/a"]
    assert len(runs) == 1, runs


async def test_requeue_after_fires_again(
    kube: KubeClient,
    testcm_bus: JetStreamContext,
    namespace: str,
    start_worker: StartWorker,
    record_dir: Path,
) -> None:
    start_worker()
    await create_configmaps(kube, namespace, ["r"], {"desired": "v1", "requeueAfter": "1"})
    await publish_trigger(testcm_bus, namespace, "r")
    key = f"testcm/{namespace}/r"

    async def three_runs() -> bool:
        return sum(1 for i in reconcile_intervals(read_records(record_dir)) if i.key == key) >= 3

    await eventually_async(three_runs, 30)
    starts = sorted(i.start for i in reconcile_intervals(read_records(record_dir)) if i.key == key)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.9 for gap in gaps), gaps


async def test_failing_reconcile_backs_off_then_dead_letters_with_event(
    kube: KubeClient,
    testcm_bus: JetStreamContext,
    namespace: str,
    start_worker: StartWorker,
    record_dir: Path,
) -> None:
    start_worker("--max-failures", "3", "--backoff-base", "0.5")
    await create_configmaps(kube, namespace, ["f"], {"desired": "v1", "fail": "yes"})
    dead = await testcm_bus.subscribe(
        deadletter_subject("testcm", namespace, "f"), stream=DEADLETTER_STREAM, ordered_consumer=True
    )
    await publish_trigger(testcm_bus, namespace, "f")
    message = await dead.next_msg(timeout=60)
    assert message.headers is not None
    assert message.headers["Flotilla-Reason"] == "failures"
    assert "data.fail is set" in message.headers["Flotilla-Error"]
    await dead.unsubscribe()

    key = f"testcm/{namespace}/f"
    starts = sorted(i.start for i in reconcile_intervals(read_records(record_dir)) if i.key == key)
    assert len(starts) == 3
    first_gap, second_gap = starts[1] - starts[0], starts[2] - starts[1]
    assert first_gap >= 0.35  # backoff 0.5s (+-20%) after the first failure
    assert second_gap >= 0.75  # then 1s: it grows

    async def marked() -> bool:
        events = await kube.get(EVENTS.path(namespace), {"fieldSelector": "involvedObject.name=f"})
        return ("ReconcileFailed", "Warning") in {(e["reason"], e["type"]) for e in events["items"]}

    await eventually_async(marked, 10)
    obj = await kube.get(CONFIGMAPS.path(namespace, "f"))
    assert "data.fail is set" in obj["metadata"]["annotations"][ERROR_ANNOTATION]
    # the lease was released and nothing is redelivered: no fourth attempt
    await asyncio.sleep(2)
    assert len([i for i in reconcile_intervals(read_records(record_dir)) if i.key == key]) == 3
    assert lease_key(key) not in await kv_keys(testcm_bus, LEASE_BUCKET)


async def test_sigterm_finishes_in_flight_reconcile_and_releases_lease(
    kube: KubeClient,
    testcm_bus: JetStreamContext,
    namespace: str,
    start_worker: StartWorker,
    record_dir: Path,
) -> None:
    worker = start_worker()
    await create_configmaps(kube, namespace, ["s"], {"desired": "v1", "sleep": "3"})
    await publish_trigger(testcm_bus, namespace, "s")
    key = f"testcm/{namespace}/s"

    async def started() -> bool:
        return any(r["key"] == key for r in read_records(record_dir))

    await eventually_async(started, 30, interval=0.05)
    worker.terminate()
    assert await asyncio.to_thread(worker.wait, 30) == 0
    runs = [i for i in reconcile_intervals(read_records(record_dir)) if i.key == key]
    assert [r.outcome for r in runs] == ["ok"]
    assert (await kube.get(CONFIGMAPS.path(namespace, "s")))["metadata"]["annotations"][RECONCILED] == "v1"
    assert lease_key(key) not in await kv_keys(testcm_bus, LEASE_BUCKET)
