"""The PodUnavailableBudget stack on the real local control plane: CRDs, bus, a watcher, the
``cloneset`` and ``podunavailablebudget`` workers (both with ``PodUnavailableBudgetUpdateGate`` on),
each signed in to NATS as its own least-privilege user."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.kube import KubeClient
from schemas.bus.bootstrap import declare
from schemas.bus.permissions import WATCHER_USER, worker_user
from schemas.bus.streams import worker_bus
from tests.support.natscreds import component_url
from tests.support.workers import FLOTILLA, free_port
from tests.support.workerstack import Stack, start_process, stop_processes

TYPES = ("cloneset", "podunavailablebudget")


@pytest.fixture
async def pub_stack(
    dev_env: DevEnvironment,
    kruise_crds: list[str],
    jetstream: JetStreamContext,
    namespace: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Stack]:
    for worker_type in TYPES:
        await declare(jetstream, worker_bus(worker_type))
    ident = secrets.token_hex(3)
    watcher_log = tmp_path / "watcher.log"
    logs = [watcher_log, *(tmp_path / f"{t}.log" for t in TYPES)]
    procs = [
        start_process(
            [
                str(FLOTILLA), "watcher", f"--types={','.join(TYPES)}", f"--namespace={namespace}",
                f"--kubeconfig={dev_env.kubeconfig}", f"--nats-url={component_url(dev_env, WATCHER_USER)}",
                f"--lease-namespace={namespace}", f"--lease-name=watcher-{ident}", f"--identity=w-{ident}",
                f"--http-port={free_port()}", "--resync-period=30",
            ],
            watcher_log,
        )
    ]  # fmt: skip
    for worker_type, log in zip(TYPES, logs[1:], strict=True):
        procs.append(
            start_process(
                [
                    str(FLOTILLA), "worker", worker_type,
                    f"--nats-url={component_url(dev_env, worker_user(worker_type))}",
                    f"--kubeconfig={dev_env.kubeconfig}", f"--http-port={free_port()}",
                    "--backoff-base=0.2", "--backoff-max=2",
                    "--feature-gates=PodUnavailableBudgetUpdateGate=true",
                ],
                log,
            )
        )  # fmt: skip
    try:
        async with KubeClient.from_environment(dev_env.kubeconfig) as api:
            stack = Stack(namespace, api, logs)
            yield stack
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed:
                print(stack.log_text())
    finally:
        stop_processes(*procs)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
