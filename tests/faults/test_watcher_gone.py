"""Fault: a forced ``410 Gone``. The watcher stops with a checkpoint, objects change, etcd is
compacted past the checkpoint (and kube-apiserver restarted, so its watch cache cannot serve
the compacted history from memory); the restarted watcher's resume fails with 410, so it
relists, triggers every key and still loses no change."""

from __future__ import annotations

import asyncio
import base64
import time

import aiohttp
import pytest

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.kube import KubeClient
from schemas.bus.envelope import EventType
from tests.integration.watcher.harness import (
    Churn,
    TriggerCollector,
    Watchers,
    WatchSetup,
    assert_every_change_triggered,
    restart_apiserver_and_settle,
    wait_ready,
)


async def compact_etcd(endpoint: str) -> int:
    """Compact etcd's whole keyspace up to its current revision (gRPC gateway); the revision."""
    async with aiohttp.ClientSession() as http:
        key = base64.b64encode(b"/").decode()
        async with http.post(f"{endpoint}/v3/kv/range", json={"key": key, "limit": 1}) as response:
            response.raise_for_status()
            revision = int((await response.json())["header"]["revision"])
        async with http.post(
            f"{endpoint}/v3/kv/compaction", json={"revision": revision, "physical": True}
        ) as response:
            response.raise_for_status()
    return revision


@pytest.mark.parametrize("round_", range(3))
async def test_resume_after_compaction_relists_and_loses_no_change(
    round_: int,
    dev_env: DevEnvironment,
    setup: WatchSetup,
    collector: TriggerCollector,
    kube: KubeClient,
    churn: Churn,
    watchers: Watchers,
) -> None:
    assert dev_env.cluster is not None
    rng = churn.rng
    watcher = watchers.start("w1", "--checkpoint-interval=0.2")
    await wait_ready(watcher)
    await assert_every_change_triggered(kube, setup, collector)
    churn.start()
    await asyncio.sleep(rng.uniform(0.5, 3.0))
    assert watcher.stop() == 0  # clean stop: the checkpoint is saved
    await asyncio.sleep(rng.uniform(0.5, 2.0))  # changes while no watcher runs
    await churn.stop()
    await compact_etcd(dev_env.cluster.etcd_endpoint)
    # kube-apiserver's watch cache still holds the compacted events and would serve the
    # resume from memory; a restarted API server has only etcd, which answers 410.
    await restart_apiserver_and_settle(dev_env, kube)
    restarted_at = time.time()
    watcher = watchers.start("w2", "--checkpoint-interval=0.2")
    await assert_every_change_triggered(kube, setup, collector, within=120)
    assert "is gone (410), relisting" in watcher.log_text()
    assert watcher.metric("flotilla_watcher_relists_total") >= 1
    # the relist triggered every key, not only the changed ones
    resynced = {
        r.envelope.key
        for r in collector.received
        if r.envelope.event_type is EventType.RESYNC and r.at >= restarted_at
    }
    assert resynced >= {setup.key(name) for name in churn.names}
