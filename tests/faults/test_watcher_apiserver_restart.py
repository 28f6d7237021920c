"""Fault: kube-apiserver restarts while objects change; the watch resumes from its last
resourceVersion (or relists on 410) and every change is still triggered."""

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
    restart_apiserver_and_settle,
    wait_ready,
)


@pytest.mark.parametrize("round_", range(3))
async def test_apiserver_restart_loses_no_change(
    round_: int,
    dev_env: DevEnvironment,
    setup: WatchSetup,
    collector: TriggerCollector,
    kube: KubeClient,
    churn: Churn,
    watchers: Watchers,
) -> None:
    rng = churn.rng
    replicas = [watchers.start(f"r{i}", "--checkpoint-interval=0.5") for i in range(2)]
    for watcher in replicas:
        await wait_ready(watcher)
    churn.start()
    await asyncio.sleep(rng.uniform(0.5, 4.0))
    await restart_apiserver_and_settle(dev_env, kube)
    await asyncio.sleep(rng.uniform(1.0, 4.0))
    await churn.stop()
    await assert_every_change_triggered(kube, setup, collector, within=120)
    assert all(w.alive() for w in replicas)
    for watcher in replicas:
        await wait_ready(watcher)  # ready again
