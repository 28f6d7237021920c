"""Fixtures of the fault tests, declared once for every module here.

Worker faults use the testcm fixtures of ``tests.support.fixtures`` (``kube``, ``testcm_bus``,
``record_dir``, ``start_worker``). Watcher faults use the watcher harness (``setup``,
``collector``, ``watchers``) and ``churn``: eight ConfigMaps of the test's type and a not yet
started :class:`Churn` over them, stopped at teardown.

Randomness is seeded: one run seed (``FLOTILLA_FAULT_SEED``, else drawn and printed in the
report header), and from it one seed per test (run seed + test id), given to the module
``random`` and as the ``fault_rng`` fixture. Each test prints its seed, so a failure's captured
output says how to replay it: ``FLOTILLA_FAULT_SEED=<run seed> pytest <test id>``.
"""

from __future__ import annotations

import hashlib
import os
import random
import secrets
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
SEED_ENV = "FLOTILLA_FAULT_SEED"
#: The run's seed: from the environment, else drawn once per pytest process.
RUN_SEED = int(os.environ.get(SEED_ENV) or secrets.randbits(32))


def pytest_report_header() -> str:
    return f"fault tests: {SEED_ENV}={RUN_SEED}"


def seed_of(run_seed: int, nodeid: str) -> int:
    """The seed of one test: stable for a run seed and a test id, whatever else runs."""
    digest = hashlib.sha256(f"{run_seed}:{nodeid}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@pytest.fixture(autouse=True)
def fault_rng(request: pytest.FixtureRequest) -> random.Random:
    """This test's seeded random source; the module ``random`` is seeded the same way."""
    seed = seed_of(RUN_SEED, request.node.nodeid)
    print(f"fault seed {seed} (replay: {SEED_ENV}={RUN_SEED} pytest '{request.node.nodeid}')")
    random.seed(seed)
    return random.Random(seed)


@pytest.fixture
async def churn(kube: KubeClient, setup: WatchSetup, fault_rng: random.Random) -> AsyncIterator[Churn]:
    cms = ConfigMaps(kube, setup)
    names = [f"cm-{i}" for i in range(SEEDED)]
    for name in names:
        await cms.create(name)
    found = Churn(cms, random.Random(fault_rng.random()), names)
    yield found
    await found.stop()
