"""The session-scoped ``real_node`` fixture: one real node (containerd + kubelet) on the session's
control plane, started only when a test asks for it (import the fixture into the test's module or
conftest; nothing else starts it).

A start that fails (no root, no packages, kubelet build failed, node never Ready) fails the tests
that asked, with the component's log; the node is torn down at the end of the session, and a
crashed session's leftovers are cleaned by the next start (`flotilla.devcluster.realnode`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.process import ComponentError
from flotilla.devcluster.realnode import RealNode
from flotilla.devcluster.toolchain import ToolchainError


@pytest.fixture(scope="session")
def real_node(dev_env: DevEnvironment) -> Iterator[RealNode]:
    cluster = dev_env.cluster
    if cluster is None or cluster.pki is None:
        pytest.fail("the real node needs the launcher's own control plane (not USE_EXISTING_CLUSTER)")
    node = RealNode(server=cluster.server, ca=cluster.pki.ca, api=cluster.api_request)
    try:
        node.start()
    except (ComponentError, ToolchainError, OSError) as err:
        pytest.fail(f"the real node did not start: {err}", pytrace=False)
    try:
        yield node
    finally:
        node.stop()
