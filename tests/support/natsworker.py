"""A `flotilla worker cloneset` OS process signed in to NATS some way, for the NATS security tests.

Started with an explicit environment (no inherited NATS_* or OTEL_* variables), logging at
debug level to a file; :meth:`NatsWorker.readyz` returns the /readyz body whatever its status.
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.workers import FLOTILLA, REPO, free_port


class NatsWorker:
    def __init__(self, kubeconfig: Path, log: Path, url: str, env: dict[str, str]) -> None:
        self.log, self.port = log, free_port()
        out = log.open("wb")
        environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "OTEL_SDK_DISABLED": "true", **env}
        self.proc = subprocess.Popen(
            [str(FLOTILLA), "worker", "cloneset", f"--nats-url={url}", f"--kubeconfig={kubeconfig}",
             f"--http-port={self.port}", "--log-level=debug"],
            cwd=REPO, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        out.close()

    def readyz(self) -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=3) as response:
                return str(response.read().decode())
        except urllib.error.HTTPError as err:
            return str(err.read().decode())
        except OSError:
            return ""

    def readyz_mentions(self, text: str) -> str:
        """The /readyz body when it contains ``text`` (for polling), else ``""``."""
        body = self.readyz()
        return body if text in body else ""

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def nats_workers() -> Iterator[list[NatsWorker]]:
    """Append the workers a test starts; they are stopped at teardown."""
    started: list[NatsWorker] = []
    yield started
    for worker in started:
        worker.stop()
