"""The job workers' stack on the real local control plane: CRDs, bus, a watcher, the workers.

``job_stack`` installs the kruise CRDs, declares the bus of the worker types the test names
(``job_types``, default ``broadcastjob``), starts ``flotilla watcher --types ...`` scoped to the
test's namespace (nodes are watched cluster-wide) and one ``flotilla worker <type>`` process per
type, each signed in to NATS as its own least-privilege user, and stops them at teardown (logs
printed on failure). ``kwok_nodes`` creates fake nodes with a label unique to the test (so a
job's nodeSelector keeps the session's other nodes out) and deletes them afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.kwok_nodes import MANAGED_ANNOTATION
from flotilla.runtime.errors import NotFound
from flotilla.runtime.kube import JsonObject, KubeClient, Resource
from schemas.bus.bootstrap import declare
from schemas.bus.permissions import WATCHER_USER, worker_user
from schemas.bus.streams import worker_bus
from tests.support.natscreds import component_url
from tests.support.polling import eventually_async
from tests.support.workers import FLOTILLA, free_port
from tests.support.workerstack import _start, _stop

NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
POOL_LABEL = "flotilla.dev/test-pool"


@dataclass
class JobStack:
    namespace: str
    api: KubeClient
    logs: list[Path]
    pool: str = field(default_factory=lambda: f"p{secrets.token_hex(4)}")

    def log_text(self) -> str:
        return "\n".join(
            f"==> {p} <==\n{p.read_text(errors='replace')[-8000:]}" for p in self.logs if p.exists()
        )


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@pytest.fixture
def job_types() -> tuple[str, ...]:
    return ("broadcastjob",)


@pytest.fixture
async def job_stack(
    job_types: tuple[str, ...],
    dev_env: DevEnvironment,
    kruise_crds: list[str],
    jetstream: JetStreamContext,
    namespace: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[JobStack]:
    for worker_type in job_types:
        await declare(jetstream, worker_bus(worker_type))
    ident = secrets.token_hex(3)
    watcher_log = tmp_path / "watcher.log"
    ports = [free_port() for _ in range(len(job_types) + 1)]
    procs = [
        _start(
            [
                str(FLOTILLA), "watcher", f"--types={','.join(job_types)}", f"--namespace={namespace}",
                f"--kubeconfig={dev_env.kubeconfig}", f"--nats-url={component_url(dev_env, WATCHER_USER)}",
                f"--lease-namespace={namespace}", f"--lease-name=watcher-{ident}", f"--identity=w-{ident}",
                f"--http-port={ports[0]}", "--resync-period=20",
            ],
            watcher_log,
        )
    ]  # fmt: skip
    logs = [watcher_log]
    for port, worker_type in zip(ports[1:], job_types, strict=True):
        log = tmp_path / f"worker-{worker_type}.log"
        logs.append(log)
        procs.append(
            _start(
                [
                    str(FLOTILLA), "worker", worker_type,
                    f"--nats-url={component_url(dev_env, worker_user(worker_type))}",
                    f"--kubeconfig={dev_env.kubeconfig}", f"--http-port={port}",
                    "--backoff-base=0.2", "--backoff-max=2",
                ],
                log,
            )
        )  # fmt: skip
    try:
        async with KubeClient.from_environment(dev_env.kubeconfig) as api:
            stack = JobStack(namespace, api, logs)
            # A test's convergence timeouts start once every process serves /readyz (on a loaded
            # 2-core machine, starting Python processes alone can take tens of seconds).
            for port in ports:
                await eventually_async(functools.partial(_ready, port), 120, 0.5, stack.log_text)
            yield stack
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed:
                print(stack.log_text())
    finally:
        for proc in reversed(procs):
            _stop(proc)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


AddNode = Callable[[str], Awaitable[JsonObject]]


@pytest.fixture
async def kwok_nodes(job_stack: JobStack) -> AsyncIterator[AddNode]:
    """``await add(suffix)`` creates a kwok node in the test's pool and waits until it is Ready and
    untainted (eligible); all are deleted at teardown."""
    made: list[str] = []

    async def add(suffix: str) -> JsonObject:
        name = f"bcj-{job_stack.pool}-{suffix}"
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {MANAGED_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {"kubernetes.io/hostname": name, "type": "kwok", POOL_LABEL: job_stack.pool},
            },
            "status": {
                "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            },
        }
        made.append(name)
        await job_stack.api.create(NODES.path(), body)

        async def ready_and_untainted() -> JsonObject:
            # kwok marks the node Ready and the node lifecycle controller then lifts its
            # not-ready taint; a job planned before that counts the node as ineligible.
            node = await job_stack.api.get(NODES.path("", name))
            conditions = {
                c.get("type"): c.get("status") for c in node.get("status", {}).get("conditions", [])
            }
            tainted = any(
                t.get("key", "").startswith("node.kubernetes.io/") for t in node["spec"].get("taints", [])
            )
            return node if conditions.get("Ready") == "True" and not tainted else {}

        return await eventually_async(ready_and_untainted, 60, 0.3, f"node {name} Ready without taints")

    yield add
    for name in made:
        with contextlib.suppress(NotFound):
            await job_stack.api.delete(NODES.path("", name))
