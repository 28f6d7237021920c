"""The CloneSet stack on the real local control plane: CRDs, bus, a watcher and a cloneset worker.

``cloneset_stack`` installs the kruise CRDs and runs a watcher and a ``cloneset`` worker: one
stack for the tests of a module (``tests.support.workerstack.SharedStack``, fixtures from
``stack_fixtures``), each test in its own fresh namespace; a test that parametrizes
``cloneset_worker_args`` (extra worker arguments) or changes the environment (``monkeypatch``)
gets a ``tests.support.workerstack.worker_stack`` of its own. Each component
signs in to NATS as its own least-privilege user (schemas.bus.permissions), so every CloneSet
test also shows those permissions suffice. ``Stack``, ``PodWatch`` and ``watching_pods`` are
re-exported for the tests here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from tests.support.workerstack import (
    PodWatch,
    SharedStack,
    Stack,
    stack_fixtures,
    watching_pods,
    worker_stack,
)

__all__ = ["PodWatch", "Stack", "watching_pods"]


@pytest.fixture
def cloneset_worker_args() -> list[str]:
    """Extra ``flotilla worker cloneset`` arguments (a test parametrizes it, e.g. ``--feature-gates``)."""
    return []


def _shares_the_stack(item: pytest.Item) -> bool:
    """A CloneSet test that runs on the module's shared stack: one with its own worker arguments
    (a parametrized ``cloneset_worker_args``) or environment (``monkeypatch``, e.g. feature gates
    the worker reads when it starts) starts a stack of its own."""
    callspec = getattr(item, "callspec", None)
    parametrized = callspec is not None and "cloneset_worker_args" in callspec.params
    fixtures = getattr(item, "fixturenames", ())
    return "cloneset_stack" in fixtures and "monkeypatch" not in fixtures and not parametrized


_fixtures = stack_fixtures("cloneset_stack", ("cloneset",), shares=_shares_the_stack)
worker_types = _fixtures.worker_types
module_namespaces = _fixtures.module_namespaces
namespace = _fixtures.namespace
module_stack = _fixtures.module_stack
stack_env = _fixtures.stack_env


@pytest.fixture
async def cloneset_stack(
    cloneset_worker_args: list[str],
    module_stack: SharedStack,
    dev_env: DevEnvironment,
    jetstream: JetStreamContext,
    namespace: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Stack]:
    if _shares_the_stack(request.node):
        async with module_stack.for_test(jetstream, namespace, request) as stack:
            yield stack
        return
    if module_stack.running:  # two cloneset workers would share the bus's triggers
        raise AssertionError(
            "a test with its own worker arguments or environment in a module whose stack is shared"
        )
    async with worker_stack(
        "cloneset",
        dev_env=dev_env,
        jetstream=jetstream,
        namespace=namespace,
        tmp_path=tmp_path,
        request=request,
        worker_args=cloneset_worker_args,
    ) as stack:
        yield stack
