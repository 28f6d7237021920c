"""The job workers' stack on the real local control plane: CRDs, bus, a watcher, the workers.

``job_stack`` installs the kruise CRDs, declares the bus of the worker types the module names
(``worker_types``, default ``broadcastjob``), and runs ``flotilla watcher --types ...`` scoped to
the tests' namespaces (nodes are watched cluster-wide) and one ``flotilla worker <type>`` process
per type, each signed in to NATS as its own least-privilege user: one stack for the tests of a
module (``tests.support.workerstack.SharedStack``, fixtures from ``stack_fixtures``), each test in
its own fresh namespace (logs printed on failure). ``kwok_nodes`` creates fake nodes with a label
unique to the test (so a job's nodeSelector keeps the session's other nodes out) and deletes them
afterwards.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from flotilla.devcluster.kwok_nodes import MANAGED_ANNOTATION
from flotilla.runtime.errors import NotFound
from flotilla.runtime.kube import JsonObject, KubeClient, Resource
from tests.support.polling import eventually_async
from tests.support.workerstack import SharedStack, stack_fixtures

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


_fixtures = stack_fixtures("job_stack", ("broadcastjob",))
worker_types = _fixtures.worker_types
module_namespaces = _fixtures.module_namespaces
namespace = _fixtures.namespace
module_stack = _fixtures.module_stack
stack_env = _fixtures.stack_env


@pytest.fixture
async def job_stack(
    module_stack: SharedStack, jetstream: JetStreamContext, namespace: str, request: pytest.FixtureRequest
) -> AsyncIterator[JobStack]:
    async with module_stack.for_test(jetstream, namespace, request) as stack:
        yield JobStack(stack.namespace, stack.api, stack.logs)


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
