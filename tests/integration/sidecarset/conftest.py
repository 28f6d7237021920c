"""The SidecarSet stack on the real control plane: a watcher, the cloneset and sidecarset workers.

One stack for the tests of a module (``tests.support.workerstack.SharedStack``), each test in its
own fresh namespace. The sidecarset worker keeps a SidecarSet's ControllerRevisions in its
``POD_NAMESPACE`` (kruise: kruise-manager's namespace); here that is the module's home namespace
(``revision_namespace``), shared by the tests, whose SidecarSets have unique names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from kubernetes import client as k8s
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from tests.support.namespaces import ModuleNamespaces
from tests.support.workerstack import SharedStack, Stack, shared_stack

TYPES = ("cloneset", "sidecarset")


@pytest.fixture(scope="module")
def module_namespaces(
    request: pytest.FixtureRequest, api_client: k8s.ApiClient
) -> Iterator[ModuleNamespaces]:
    spaces = ModuleNamespaces(
        k8s.CoreV1Api(api_client),
        request,
        lambda item: "sidecarset_stack" in getattr(item, "fixturenames", ()),
    )
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
def revision_namespace(module_namespaces: ModuleNamespaces) -> str:
    """Where the sidecarset worker keeps ControllerRevisions (its ``POD_NAMESPACE``)."""
    return module_namespaces.home


@pytest.fixture(scope="module")
async def shared_sidecarset_stack(
    dev_env: DevEnvironment,
    kruise_crds: list[str],
    module_namespaces: ModuleNamespaces,
    revision_namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[SharedStack]:
    async with shared_stack(
        TYPES,
        dev_env=dev_env,
        namespaces=module_namespaces,
        log_dir=tmp_path_factory.mktemp("sidecarsetstack"),
        process_env={"POD_NAMESPACE": revision_namespace},
    ) as shared:
        yield shared


@pytest.fixture
async def sidecarset_stack(
    shared_sidecarset_stack: SharedStack,
    jetstream: JetStreamContext,
    namespace: str,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Stack]:
    async with shared_sidecarset_stack.for_test(jetstream, namespace, request) as stack:
        yield stack
