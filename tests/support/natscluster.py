"""The ``nats_cluster`` fixture: a fresh 3-node JetStream cluster on loopback for one test.

Started by :class:`flotilla.devcluster.natscluster.NatsCluster` in the test's tmp folder (stores
and logs there, printed on failure), stopped after the test. The session's single NATS server
(``dev_env``) is untouched: tests that do not ask for this fixture never see the cluster.
Import the fixture into a test module (or a conftest) to use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flotilla.devcluster.natscluster import NatsCluster
from flotilla.devcluster.process import ComponentError, log_tail


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    cluster = NatsCluster(tmp_path / "nats-run")
    try:
        cluster.start()
    except ComponentError as err:
        cluster.stop()
        pytest.fail(f"the 3-node NATS cluster did not start: {err}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


def cluster_logs(cluster: NatsCluster, lines: int = 30) -> str:
    """The last lines of every node's log, for a failure message."""
    return "\n".join(f"--- {node.name} ---\n{log_tail(node.log_path, lines)}" for node in cluster.nodes)
