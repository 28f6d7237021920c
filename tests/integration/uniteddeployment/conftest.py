"""The UnitedDeployment stack on the real local control plane: CRDs, bus, and two worker stacks
(``tests.support.workerstack``): ``uniteddeployment`` and ``cloneset``, which reconciles the subset
CloneSets the UnitedDeployment writes (Deployments are kube-controller-manager's)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from tests.support.workerstack import Stack, worker_stack


@pytest.fixture
async def ud_stack(
    dev_env: DevEnvironment,
    kruise_crds: list[str],
    jetstream: JetStreamContext,
    namespace: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Stack]:
    (tmp_path / "cloneset").mkdir()
    (tmp_path / "ud").mkdir()
    common = {"dev_env": dev_env, "jetstream": jetstream, "namespace": namespace, "request": request}
    async with (
        worker_stack("cloneset", tmp_path=tmp_path / "cloneset", **common),  # type: ignore[arg-type]
        worker_stack("uniteddeployment", tmp_path=tmp_path / "ud", **common) as stack,  # type: ignore[arg-type]
    ):
        yield stack
