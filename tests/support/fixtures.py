"""Pytest fixtures for tests that run testcm workers (import them into the test module).

``kube`` is the runtime's API client on the dev environment; ``testcm_bus`` declares the bus
(stream, consumer, buckets) so triggers can be published before any worker starts;
``start_worker`` starts worker OS processes and stops them at teardown; ``record_dir`` is
where the instrumented reconciles write their intervals.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.kube import KubeClient
from schemas.bus.bootstrap import declare
from schemas.bus.streams import worker_bus
from tests.support.workers import WorkerProcess

StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
async def kube(kubeconfig: Path) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_environment(kubeconfig) as client:
        yield client


@pytest.fixture
async def testcm_bus(jetstream: JetStreamContext) -> JetStreamContext:
    await declare(jetstream, worker_bus("testcm"))
    return jetstream


@pytest.fixture
def record_dir(tmp_path: Path) -> Path:
    path = tmp_path / "records"
    path.mkdir()
    return path


@pytest.fixture
def start_worker(dev_env: DevEnvironment, record_dir: Path, tmp_path: Path) -> Iterator[StartWorker]:
    started: list[WorkerProcess] = []

    def start(*extra_args: str, env: dict[str, str] | None = None) -> WorkerProcess:
        worker = WorkerProcess(
            nats_url=dev_env.nats_url,
            kubeconfig=dev_env.kubeconfig,
            record_dir=record_dir,
            log_dir=tmp_path / "logs",
            extra_args=extra_args,
            env=env or {},
        ).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.terminate()
    for worker in started:
        worker.stop()
