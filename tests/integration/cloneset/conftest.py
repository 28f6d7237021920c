"""The CloneSet stack on the real local control plane: CRDs, bus, a watcher and a cloneset worker.

``cloneset_stack`` installs the kruise CRDs and runs ``tests.support.workerstack.worker_stack``
for worker type ``cloneset`` (extra worker arguments: ``cloneset_worker_args``). Each component
signs in to NATS as its own least-privilege user (schemas.bus.permissions), so every CloneSet
test also shows those permissions suffice. ``Stack``, ``PodWatch`` and ``watching_pods`` are
re-exported for the tests here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from tests.support.workerstack import PodWatch, Stack, watching_pods, worker_stack

__all__ = ["PodWatch", "Stack", "watching_pods"]


@pytest.fixture
def cloneset_worker_args() -> list[str]:
    """Extra ``flotilla worker cloneset`` arguments (a test parametrizes it, e.g. ``--feature-gates``)."""
    return []


@pytest.fixture
async def cloneset_stack(
    cloneset_worker_args: list[str],
    dev_env: DevEnvironment,
    kruise_crds: list[str],
    jetstream: JetStreamContext,
    namespace: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Stack]:
    async with worker_stack(
        "cloneset",
        dev_env=dev_env,
        jetstream=jetstream,
        namespace=namespace,
        tmp_path=tmp_path,
        request=request,
        worker_args=cloneset_worker_args,
    ) as stack:
        yield stack
