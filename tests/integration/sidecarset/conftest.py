"""The SidecarSet stack on the real control plane: a watcher, the cloneset and sidecarset workers.

One stack for the tests of a module (``tests.support.workerstack.SharedStack``, fixtures from
``stack_fixtures``), each test in its own fresh namespace. The sidecarset worker keeps a
SidecarSet's ControllerRevisions in its ``POD_NAMESPACE`` (kruise: kruise-manager's namespace);
here that is the module's home namespace (``revision_namespace``), shared by the tests, whose
SidecarSets have unique names.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from tests.support.namespaces import ModuleNamespaces
from tests.support.workerstack import stack_fixtures

# every fixture but the default ``stack_env``: this package defines its own
worker_types, module_namespaces, namespace, module_stack, sidecarset_stack = stack_fixtures(
    "sidecarset_stack", ("cloneset", "sidecarset")
)[:5]


@pytest.fixture(scope="module")
def stack_env(module_namespaces: ModuleNamespaces) -> Mapping[str, str]:
    """The stack's processes keep SidecarSet revisions in the module's home namespace."""
    return {"POD_NAMESPACE": module_namespaces.home}


@pytest.fixture(scope="module")
def revision_namespace(module_namespaces: ModuleNamespaces) -> str:
    """Where the sidecarset worker keeps ControllerRevisions (its ``POD_NAMESPACE``)."""
    return module_namespaces.home
