"""Fixtures of the fault tests, declared once for every module here.

Worker faults use the testcm fixtures of ``tests.support.fixtures`` (``kube``, ``testcm_bus``,
``record_dir``, ``start_worker``). Watcher faults use the watcher harness (``setup``,
``collector``, ``watchers``) and ``churn``: eight ConfigMaps of the test's type and a not yet
started :class:`Churn` over them, stopped at teardown.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from flotilla.runtime.kube import KubeClient
from tests.integration.watcher.harness import (
    Churn,
    ConfigMaps,
    WatchSetup,
    collector_fixture,
    setup_fixture,
    watchers_fixture,
)
from tests.support.fixtures import kube, record_dir, start_worker, testcm_bus

__all__ = [
    "churn",
    "collector_fixture",
    "kube",
    "record_dir",
    "setup_fixture",
    "start_worker",
    "testcm_bus",
    "watchers_fixture",
]

SEEDED = 8


@pytest.fixture
async def churn(kube: KubeClient, setup: WatchSetup) -> AsyncIterator[Churn]:
    cms = ConfigMaps(kube, setup)
    names = [f"cm-{i}" for i in range(SEEDED)]
    for name in names:
        await cms.create(name)
    found = Churn(cms, random.Random(), names)
    yield found
    await found.stop()
