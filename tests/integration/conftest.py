"""What the integration tests of every kind share: Flotilla's CRDs installed once per session on
the session control plane, and each phase's report kept on the test item so that a worker stack
(``tests.support.workerstack``) prints its logs when the test failed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from schemas.crdgen import install_crds
from tests.support.workerstack import record_reports


@pytest.fixture(scope="session")
def kruise_crds(api_client: k8s.ApiClient) -> list[str]:
    return install_crds(api_client)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    record_reports(item, outcome.get_result())  # type: ignore[attr-defined]
