"""The UnitedDeployment stack on the real local control plane: CRDs, bus, and two worker stacks
(``tests.support.workerstack``): ``uniteddeployment`` and ``cloneset``, which reconciles the subset
CloneSets the UnitedDeployment writes (Deployments are kube-controller-manager's)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from schemas.crdgen import install_crds
from tests.support.workerstack import Stack, record_reports, worker_stack


@pytest.fixture(scope="session")
def kruise_crds(api_client: k8s.ApiClient) -> list[str]:
    return install_crds(api_client)


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


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    record_reports(item, outcome.get_result())  # type: ignore[attr-defined]
