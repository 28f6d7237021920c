"""The job workers' stack on the real local control plane: CRDs, bus, a watcher, the workers.

``job_stack`` installs the kruise CRDs, declares the bus of the worker types the module names
(``job_types``, default ``broadcastjob``), and runs ``flotilla watcher --types ...`` scoped to the
tests' namespaces (nodes are watched cluster-wide) and one ``flotilla worker <type>`` process per
type, each signed in to NATS as its own least-privilege user: one stack for the tests of a module
(``tests.support.workerstack.SharedStack``), each test in its own fresh namespace (logs printed on
failure). ``kwok_nodes`` creates fake nodes with a label unique to the test (so a
job's nodeSelector keeps the session's other nodes out) and deletes them afterwards.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kubernetes import client as k8s
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.kwok_nodes import MANAGED_ANNOTATION
from flotilla.runtime.errors import NotFound
from flotilla.runtime.kube import JsonObject, KubeClient, Resource
from tests.support.namespaces import ModuleNamespaces
from tests.support.polling import eventually_async
from tests.support.workerstack import SharedStack, shared_stack

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


@pytest.fixture(scope="module")
def job_types() -> tuple[str, ...]:
    return ("broadcastjob",)


@pytest.fixture(scope="module")
def module_namespaces(
    request: pytest.FixtureRequest, api_client: k8s.ApiClient
) -> Iterator[ModuleNamespaces]:
    core = k8s.CoreV1Api(api_client)
    spaces = ModuleNamespaces(core, request, lambda item: "job_stack" in getattr(item, "fixturenames", ()))
    try:
        yield spaces
    finally:
        spaces.close()


@pytest.fixture
def namespace(request: pytest.FixtureRequest, module_namespaces: ModuleNamespaces) -> Iterator[str]:
    """The test's own fresh namespace, made with the module's (the shared watcher watches it)."""
    with module_namespaces.for_test(request.node) as name:
        yield name


@pytest.fixture(scope="module")
async def shared_job_stack(
    job_types: tuple[str, ...],
    dev_env: DevEnvironment,
    kruise_crds: list[str],
    module_namespaces: ModuleNamespaces,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[SharedStack]:
    log_dir = tmp_path_factory.mktemp("jobstack")
    async with shared_stack(
        job_types, dev_env=dev_env, namespaces=module_namespaces, log_dir=log_dir
    ) as shared:
        yield shared


@pytest.fixture
async def job_stack(
    shared_job_stack: SharedStack, jetstream: JetStreamContext, namespace: str, request: pytest.FixtureRequest
) -> AsyncIterator[JobStack]:
    async with shared_job_stack.for_test(jetstream, namespace, request) as stack:
        yield JobStack(stack.namespace, stack.api, stack.logs)


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
