"""The PodUnavailableBudget stack on the real local control plane: CRDs, bus, a watcher, the
``cloneset`` and ``podunavailablebudget`` workers (both with ``PodUnavailableBudgetUpdateGate`` on),
each signed in to NATS as its own least-privilege user. One stack for the tests of a module
(``tests.support.workerstack.SharedStack``, fixtures from ``stack_fixtures``), each test in its
own fresh namespace."""

from __future__ import annotations

from tests.support.workerstack import stack_fixtures

worker_types, module_namespaces, namespace, module_stack, pub_stack, stack_env = stack_fixtures(
    "pub_stack",
    ("cloneset", "podunavailablebudget"),
    worker_args=("--feature-gates=PodUnavailableBudgetUpdateGate=true",),
    resync_period="30",
)
