"""Fixtures of the real-node tests: the session's ``real_node`` and the CloneSet stack
(bus, watcher, a cloneset worker, one per module, with the module's namespaces) of
tests/integration/cloneset, shared as they are (the CRDs come
from tests/integration/conftest.py)."""

from __future__ import annotations

import os

from tests.integration.cloneset.conftest import (
    cloneset_stack,
    cloneset_worker_args,
    module_namespaces,
    module_stack,
    namespace,
    stack_env,
    worker_types,
)
from tests.support.realnode import real_node

__all__ = [
    "cloneset_stack",
    "cloneset_worker_args",
    "module_namespaces",
    "module_stack",
    "namespace",
    "real_node",
    "stack_env",
    "worker_types",
]

#: The chart's pods on the real node need Flotilla's image, whose cold build takes minutes: that
#: test runs in its own target (`make test-realnode-chart` sets FLOTILLA_REALNODE_CHART=1), not in
#: `make test`. Run alone without the variable, pytest collects nothing and exits 5 (a failure).
collect_ignore = [] if os.environ.get("FLOTILLA_REALNODE_CHART") == "1" else ["test_realnode_chart.py"]
