"""The UnitedDeployment stack on the real local control plane: CRDs, bus, a watcher and three
workers (``tests.support.workerstack.SharedStack``): ``uniteddeployment``, ``cloneset`` and
``statefulset``, which reconcile the subset CloneSets and Advanced StatefulSets the
UnitedDeployment writes (Deployments and apps/v1 StatefulSets are kube-controller-manager's).
One stack for the tests of a module, each test in its own fresh namespace (made with the
module's, so the shared watcher watches it); the fixtures are
``tests.support.workerstack.stack_fixtures``'."""

from __future__ import annotations

from tests.support.workerstack import stack_fixtures

worker_types, module_namespaces, namespace, module_stack, ud_stack, stack_env = stack_fixtures(
    "ud_stack", ("cloneset", "statefulset", "uniteddeployment")
)
