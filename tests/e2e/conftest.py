"""Fixtures of the end-to-end tests: a Jaeger v2 for the session.

``jaeger`` starts the real Jaeger (built from its Go module by the toolchain, once) on free
loopback ports with in-memory storage; processes export to it through ``jaeger.otel_env()``
and tests read traces back with ``jaeger.query()``. A Jaeger that cannot start fails the
test with its log (never a skip). ``kruise_crds`` (Flotilla's CRDs, once per session) is the
integration tests' fixture. Each phase's report is kept on the test item, so a shared
worker stack (``tests.support.workerstack``) prints its processes' logs when a test failed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flotilla.devcluster.jaeger import Jaeger
from flotilla.devcluster.process import ComponentError
from flotilla.devcluster.toolchain import ToolchainError
from tests.integration.conftest import kruise_crds
from tests.support.workerstack import record_reports

__all__ = ["kruise_crds"]


@pytest.fixture(scope="session")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger]:
    instance = Jaeger(tmp_path_factory.mktemp("jaeger"))
    try:
        instance.start()
    except (ComponentError, ToolchainError) as err:
        pytest.fail(f"Jaeger did not start: {err}", pytrace=False)
    try:
        yield instance
    finally:
        instance.stop()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    record_reports(item, outcome.get_result())  # type: ignore[attr-defined]
