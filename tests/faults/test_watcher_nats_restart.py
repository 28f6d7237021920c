"""Fault: NATS restarts while objects change; the watcher keeps the triggers it could not
publish (coalesced per key), publishes them after the reconnect, and loses no change."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.kube import KubeClient
from tests.integration.watcher.harness import (  # noqa: F401 (fixtures)
    Churn,
    ConfigMaps,
    TriggerCollector,
    WatchSetup,
    assert_every_change_triggered,
    collector_fixture,
    eventually,
    kube_fixture,
    setup_fixture,
    start_watcher,
    wait_ready,
)


@pytest.mark.parametrize("round_", range(3))
async def test_nats_restart_loses_no_change(
    round_: int,
    dev_env: DevEnvironment,
    setup: WatchSetup,
    collector: TriggerCollector,
    kube: KubeClient,
    tmp_path: Path,
) -> None:
    assert dev_env.nats is not None
    rng = random.Random()
    cms = ConfigMaps(kube, setup)
    names = [f"cm-{i}" for i in range(8)]
    for name in names:
        await cms.create(name)
    watcher = start_watcher(dev_env, setup, tmp_path, "w1", "--checkpoint-interval=0.5")
    churn: Churn | None = None
    try:
        await wait_ready(watcher)
        churn = Churn(cms, rng, names).start()
        await asyncio.sleep(rng.uniform(0.5, 4.0))
        await asyncio.to_thread(dev_env.nats.restart)
        await asyncio.sleep(rng.uniform(1.0, 4.0))
        await churn.stop()
        await assert_every_change_triggered(kube, setup, collector)
        assert watcher.alive()
        await eventually(lambda: watcher.readyz()[0] == 200, 30, "ready again after the restart")
    finally:
        if churn is not None:
            await churn.stop()
        watcher.stop()
