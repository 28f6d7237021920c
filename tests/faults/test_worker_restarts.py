"""Faults: NATS restart and kube-apiserver restart while two replicas reconcile a batch.

Each run restarts the component at a random moment, then changes every object again: every
change is eventually reconciled (nothing lost), and no two reconciles of a key overlap.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.errors import KubeError
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

KEYS = 60
SLOW = {"TESTCM_COST": "0.3"}


def _restart_nats(env: DevEnvironment) -> None:
    assert env.nats is not None
    env.nats.restart()


def _restart_apiserver(env: DevEnvironment) -> None:
    assert env.cluster is not None
    env.cluster.restart_apiserver()


RESTARTS: dict[str, Callable[[DevEnvironment], None]] = {
    "nats": _restart_nats,
    "apiserver": _restart_apiserver,
}


async def _publish_all(js: JetStreamContext, namespace: str, names: list[str]) -> None:
    for name in names:
        for attempt in range(60):  # the test's own client may still be reconnecting
            try:
                await publish_trigger(js, namespace, name)
                break
            except Exception:
                if attempt == 59:
                    raise
                await asyncio.sleep(0.5)


async def _set_desired(kube: KubeClient, namespace: str, names: list[str], value: str) -> None:
    gate = asyncio.Semaphore(16)

    async def one(name: str) -> None:
        async with gate:
            await kube.patch(CONFIGMAPS.path(namespace, name), {"data": {"desired": value}})

    await asyncio.gather(*(one(n) for n in names))


@pytest.mark.parametrize("component", ["nats", "apiserver"])
@pytest.mark.parametrize("repetition", range(3))
async def test_restart_during_reconciles_loses_nothing(
    component: str,
    repetition: int,
    dev_env: DevEnvironment,
    kube: KubeClient,
    testcm_bus: JetStreamContext,
    namespace: str,
    start_worker: StartWorker,
    record_dir: Path,
) -> None:
    names = [f"r-{i:02d}" for i in range(KEYS)]
    await create_configmaps(kube, namespace, names, {"desired": "v1"})
    for _ in range(2):
        # 60 keys x 0.3 s over 2 x 4 slots: about 2.3 s of work, so the restart lands mid-way.
        start_worker("--concurrency", "4", "--backoff-base", "0.5", "--max-failures", "50", env=SLOW)
    await _publish_all(testcm_bus, namespace, names)
    await asyncio.sleep(random.uniform(0.2, 1.5))
    await asyncio.to_thread(RESTARTS[component], dev_env)

    async def reached(value: str) -> bool:
        try:
            values = await reconciled_values(kube, namespace)
        except KubeError:
            return False
        return all(values.get(n) == value for n in names)

    await eventually_async(lambda: reached("v1"), 120, interval=1.0)
    # After the restart, a new round of changes must flow through as well.
    await _set_desired(kube, namespace, names, "v2")
    await _publish_all(testcm_bus, namespace, names)
    await eventually_async(lambda: reached("v2"), 120, interval=1.0)
    assert overlaps(reconcile_intervals(read_records(record_dir))) == []
