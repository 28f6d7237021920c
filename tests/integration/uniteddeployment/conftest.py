"""The UnitedDeployment stack on the real local control plane: CRDs, bus, a watcher and three
workers (``tests.support.workerstack.SharedStack``): ``uniteddeployment``, ``cloneset`` and
``statefulset``, which reconcile the subset CloneSets and Advanced StatefulSets the
UnitedDeployment writes (Deployments and apps/v1 StatefulSets are kube-controller-manager's).
One stack for the tests of a module, each test in its own fresh namespace (made with the
module's, so the shared watcher watches it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from kubernetes import client as k8s
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from tests.support.namespaces import ModuleNamespaces
from tests.support.workerstack import SharedStack, Stack, shared_stack


def _uses_the_stack(item: pytest.Item) -> bool:
    return "ud_stack" in getattr(item, "fixturenames", ())


@pytest.fixture(scope="module")
def module_namespaces(
    request: pytest.FixtureRequest, api_client: k8s.ApiClient
) -> Iterator[ModuleNamespaces]:
    spaces = ModuleNamespaces(k8s.CoreV1Api(api_client), request, _uses_the_stack)
    try:
        yield spaces
    finally:
        spaces.close()


@pytest.fixture
def namespace(request: pytest.FixtureRequest, module_namespaces: ModuleNamespaces) -> Iterator[str]:
    with module_namespaces.for_test(request.node) as name:
        yield name


@pytest.fixture(scope="module")
async def shared_ud_stack(
    dev_env: DevEnvironment,
    kruise_crds: list[str],
    module_namespaces: ModuleNamespaces,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[SharedStack]:
    log_dir = tmp_path_factory.mktemp("udstack")
    async with shared_stack(
        ["cloneset", "statefulset", "uniteddeployment"],
        dev_env=dev_env,
        namespaces=module_namespaces,
        log_dir=log_dir,
    ) as shared:
        yield shared


@pytest.fixture
async def ud_stack(
    shared_ud_stack: SharedStack,
    jetstream: JetStreamContext,
    namespace: str,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Stack]:
    async with shared_ud_stack.for_test(jetstream, namespace, request) as stack:
        yield stack
