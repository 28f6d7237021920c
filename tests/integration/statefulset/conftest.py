"""The Advanced StatefulSet stack on the real local control plane: CRDs, bus, a watcher and a
``flotilla worker statefulset`` (``tests.support.workerstack``), with the gates kruise's e2e
deployment turns on that change what the worker does (``StatefulSetStartOrdinal``,
``PreDownloadImageForInPlaceUpdate``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from tests.support.workerstack import Stack, worker_stack


@pytest.fixture
async def sts_stack(
    dev_env: DevEnvironment,
    kruise_crds: list[str],
    jetstream: JetStreamContext,
    namespace: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Stack]:
    async with worker_stack(
        "statefulset",
        dev_env=dev_env,
        jetstream=jetstream,
        namespace=namespace,
        tmp_path=tmp_path,
        request=request,
        worker_args=["--feature-gates=StatefulSetStartOrdinal=true,PreDownloadImageForInPlaceUpdate=true"],
    ) as stack:
        yield stack
