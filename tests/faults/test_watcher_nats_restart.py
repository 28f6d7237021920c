"""Fault: NATS restarts while objects change; the watcher keeps the triggers it could not
publish (coalesced per key), publishes them after the reconnect, and loses no change."""

from __future__ import annotations

import asyncio

import pytest

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.kube import KubeClient
from tests.integration.watcher.harness import (
    Churn,
    TriggerCollector,
    Watchers,
    WatchSetup,
    assert_every_change_triggered,
    wait_ready,
)


@pytest.mark.parametrize("round_", range(3))
async def test_nats_restart_loses_no_change(
    round_: int,
    dev_env: DevEnvironment,
    setup: WatchSetup,
    collector: TriggerCollector,
    kube: KubeClient,
    churn: Churn,
    watchers: Watchers,
) -> None:
    assert dev_env.nats is not None
    rng = churn.rng
    watcher = watchers.start("w1", "--checkpoint-interval=0.5")
    await wait_ready(watcher)
    churn.start()
    await asyncio.sleep(rng.uniform(0.5, 4.0))
    await asyncio.to_thread(dev_env.nats.restart)
    await asyncio.sleep(rng.uniform(1.0, 4.0))
    await churn.stop()
    await assert_every_change_triggered(kube, setup, collector)
    assert watcher.alive()
    await wait_ready(watcher, within=30)  # ready again after the restart
