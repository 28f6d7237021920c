"""Shared pytest fixtures: the real local control plane + NATS, namespaces, clients.

The session starts one environment (`flotilla.devcluster.env`) the first time an
integration test asks for it: a local control plane and NATS, or an existing cluster
with ``USE_EXISTING_CLUSTER=true``. If it cannot start, every test that needs it fails
with the component's error and log (never a skip). The run folder (logs, kubeconfig)
is printed at the end of any run with failures.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import nats
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment, new_run_dir
from flotilla.devcluster.process import ComponentError
from flotilla.devcluster.toolchain import ToolchainError
from tests.support.namespaces import delete_namespace, make_namespace

_RUN_DIR_KEY = pytest.StashKey[Path]()
_MARKS = {"unit": "unit", "integration": "integration", "faults": "integration", "e2e": "integration"}

Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]

# Hypothesis: "ci" is derandomized (the same examples every run: a red CI is reproducible and a
# green one is not luck), chosen when CI=true; HYPOTHESIS_PROFILE picks one explicitly.
# Neither profile times a test: no per-example deadline and no "generation too slow" health check
# (speed is measured in benchmarks; on a busy 2-core machine those two only report the machine).
_UNTIMED = hypothesis_settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.register_profile("ci", _UNTIMED, derandomize=True, print_blob=True)
hypothesis_settings.register_profile("dev", _UNTIMED)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI", "").lower() == "true" else "dev")
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test by its folder: tests/unit -> unit; integration, faults, e2e -> integration.
    Tests that use the real node go last."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "tests" in parts:
            folder = parts[parts.index("tests") + 1] if parts.index("tests") + 1 < len(parts) else ""
            mark = _MARKS.get(folder)
            if mark:
                item.add_marker(getattr(pytest.mark, mark))
    # The real node joins the session's cluster for good (session fixture): its tests run last,
    # so no other test sees a fourth (tainted) node.
    items.sort(key=lambda item: "real_node" in getattr(item, "fixturenames", ()))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    run_dir = terminalreporter.config.stash.get(_RUN_DIR_KEY, None)
    if run_dir is not None and (terminalreporter.stats.get("failed") or terminalreporter.stats.get("error")):
        terminalreporter.write_line(f"control plane run folder (logs, kubeconfig): {run_dir}", yellow=True)


@pytest.fixture(scope="session")
def dev_env(request: pytest.FixtureRequest) -> Iterator[DevEnvironment]:
    run_dir = new_run_dir("pytest")
    request.config.stash[_RUN_DIR_KEY] = run_dir
    try:
        env = DevEnvironment.from_environment(run_dir)
    except (ComponentError, ToolchainError) as err:
        pytest.fail(f"the test environment did not start: {err}\nrun folder: {run_dir}", pytrace=False)
    try:
        yield env
    finally:
        env.stop()


@pytest.fixture(scope="session")
def kubeconfig(dev_env: DevEnvironment) -> Path:
    return dev_env.kubeconfig


@pytest.fixture(scope="session")
def api_client(kubeconfig: Path) -> Iterator[k8s.ApiClient]:
    api = k8s_config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="session")
def kubectl(dev_env: DevEnvironment) -> Kubectl:
    return dev_env.kubectl


@pytest.fixture(scope="session")
def nats_url(dev_env: DevEnvironment) -> str:
    return dev_env.nats_url


@pytest.fixture
def namespace(request: pytest.FixtureRequest, api_client: k8s.ApiClient) -> Iterator[str]:
    """A fresh namespace whose default ServiceAccount exists; deleted after the test."""
    core = k8s.CoreV1Api(api_client)
    name = make_namespace(core, request.node.name)
    try:
        yield name
    finally:
        delete_namespace(core, name)


@pytest.fixture
async def nats_client(nats_url: str) -> AsyncIterator[NATS]:
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=-1, reconnect_time_wait=0.5)
    try:
        yield nc
    finally:
        try:
            await asyncio.wait_for(nc.drain(), timeout=10)
        except (TimeoutError, nats.errors.Error):
            await nc.close()


@pytest.fixture
async def jetstream(nats_client: NATS) -> JetStreamContext:
    return nats_client.jetstream()
