"""Fault: SIGKILL of the active watcher while objects change; the standby takes over and every
change is still triggered (the overlap after the takeover is deduplicated by Nats-Msg-Id)."""

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
    wait_leader,
)


@pytest.mark.parametrize("round_", range(3))
async def test_sigkill_of_the_active_watcher_loses_no_change(
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
    leader = await wait_leader(replicas)
    standby = next(w for w in replicas if w is not leader)
    churn.start()
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
