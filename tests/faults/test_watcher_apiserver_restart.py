"""Fault: kube-apiserver restarts while objects change; the watch resumes from its last
resourceVersion (or relists on 410) and every change is still triggered."""

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
    restart_apiserver_and_settle,
    setup_fixture,
    start_watcher,
    wait_ready,
)


@pytest.mark.parametrize("round_", range(3))
async def test_apiserver_restart_loses_no_change(
    round_: int,
    dev_env: DevEnvironment,
    setup: WatchSetup,
    collector: TriggerCollector,
    kube: KubeClient,
    tmp_path: Path,
) -> None:
    assert dev_env.cluster is not None
    rng = random.Random()
    cms = ConfigMaps(kube, setup)
    names = [f"cm-{i}" for i in range(8)]
    for name in names:
        await cms.create(name)
    watchers = [
        start_watcher(dev_env, setup, tmp_path, f"r{i}", "--checkpoint-interval=0.5") for i in range(2)
    ]
    churn: Churn | None = None
    try:
        for watcher in watchers:
            await wait_ready(watcher)
        churn = Churn(cms, rng, names).start()
        await asyncio.sleep(rng.uniform(0.5, 4.0))
        await restart_apiserver_and_settle(dev_env, kube)
        await asyncio.sleep(rng.uniform(1.0, 4.0))
        await churn.stop()
        await assert_every_change_triggered(kube, setup, collector, within=120)
        assert all(w.alive() for w in watchers)
        for watcher in watchers:
            await eventually(lambda w=watcher: w.readyz()[0] == 200, 60, f"{watcher.identity} ready again")  # type: ignore[misc]
    finally:
        if churn is not None:
            await churn.stop()
        for watcher in watchers:
            watcher.stop()
