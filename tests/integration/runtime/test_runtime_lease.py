"""A reconcile whose lease is taken over stops at its next renewal: never two at once.

The test plays "another replica" by replacing the lease entry in KV while a long reconcile
runs; the worker's renewal (compare-and-set on its revision) fails, it cancels the reconcile,
counts the lost lease, and hands the trigger back; once the stolen lease is gone the key is
reconciled normally.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import aiohttp
import orjson
from nats.js import JetStreamContext

from flotilla.runtime.kube import KubeClient
from schemas.bus.streams import LEASE_BUCKET
from schemas.bus.subjects import lease_key
from tests.support.fixtures import StartWorker
from tests.support.polling import eventually_async
from tests.support.workers import (
    create_configmaps,
    publish_trigger,
    read_records,
    reconcile_intervals,
    reconciled_values,
)


async def test_lost_lease_cancels_the_reconcile_and_the_key_is_redone(
    kube: KubeClient,
    testcm_bus: JetStreamContext,
    namespace: str,
    start_worker: StartWorker,
    record_dir: Path,
) -> None:
    worker = start_worker()
    await create_configmaps(kube, namespace, ["l"], {"desired": "v1", "sleep": "12"})
    await publish_trigger(testcm_bus, namespace, "l")
    key = f"testcm/{namespace}/l"
    kv = await testcm_bus.key_value(LEASE_BUCKET)

    async def started() -> bool:
        return any(r["key"] == key and r["event"] == "act" for r in read_records(record_dir))

    await eventually_async(started, 30, interval=0.05)
    # Another holder takes the key: overwrite the entry (a new revision the worker does not own).
    stolen_at = time.time()
    revision = await kv.put(lease_key(key), orjson.dumps({"holder": "thief"}))

    async def ended() -> bool:
        return any(
            i.key == key for i in reconcile_intervals(read_records(record_dir)) if i.end != float("inf")
        )

    await eventually_async(ended, 15, interval=0.1)
    first = next(i for i in reconcile_intervals(read_records(record_dir)) if i.key == key)
    assert first.outcome == "error"  # cancelled in act, before its 12 s sleep was over
    assert first.end - stolen_at < 6.5  # at the next renewal (every 5 s)
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/metrics") as response:
        assert 'flotilla_leases_lost_total{type="testcm"} 1.0' in await response.text()

    # The thief finishes; the handed-back trigger is reconciled (without the long sleep now).
    await kube.patch(f"/api/v1/namespaces/{namespace}/configmaps/l", {"data": {"sleep": "0"}})
    await kv.delete(lease_key(key), last=revision)

    async def redone() -> bool:
        return (await reconciled_values(kube, namespace)).get("l") == "v1"

    await eventually_async(redone, 30)
    runs = sorted(
        (i for i in reconcile_intervals(read_records(record_dir)) if i.key == key), key=lambda i: i.start
    )
    assert runs[-1].outcome == "ok"
    assert all(later.start >= earlier.end for earlier, later in itertools.pairwise(runs))
