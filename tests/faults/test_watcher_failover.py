"""Fault: SIGKILL of the active watcher while objects change; the standby takes over and every
change is still triggered (the overlap after the takeover is deduplicated by Nats-Msg-Id)."""

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
    kube_fixture,
    setup_fixture,
    start_watcher,
    wait_leader,
)


@pytest.mark.parametrize("round_", range(3))
async def test_sigkill_of_the_active_watcher_loses_no_change(
    round_: int,
    dev_env: DevEnvironment,
    setup: WatchSetup,
    collector: TriggerCollector,
    kube: KubeClient,
    tmp_path: Path,
) -> None:
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
        leader = await wait_leader(watchers)
        standby = next(w for w in watchers if w is not leader)
        churn = Churn(cms, rng, names).start()
        await asyncio.sleep(rng.uniform(1.0, 6.0))
        leader.kill()  # SIGKILL: no release, the standby must wait out the lease
        await asyncio.sleep(rng.uniform(0.0, 3.0))
        assert await wait_leader([standby], within=40) is standby
        await asyncio.sleep(rng.uniform(1.0, 4.0))
        await churn.stop()
        versions = await assert_every_change_triggered(kube, setup, collector)
        assert len(versions) >= 8
        assert churn.changes > 10
        lease = await kube.get(
            f"/apis/coordination.k8s.io/v1/namespaces/{setup.namespace}/leases/{setup.lease_name}"
        )
        assert lease["spec"]["holderIdentity"] == standby.identity
        assert lease["spec"]["leaseTransitions"] >= 1
    finally:
        if churn is not None:
            await churn.stop()
        for watcher in watchers:
            watcher.stop()
