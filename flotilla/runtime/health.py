"""Readiness checks: named conditions a process sets as its dependencies come and go.

The watcher and the workers mark ``nats``, ``bus`` (streams declared) and ``kube`` ready or
not; :mod:`flotilla.runtime.httpserver` answers ``/readyz`` from here. A bad configuration
(NATS unreachable, a conflicting stream) is reported here and retried, never crash-looped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class CheckState:
    ready: bool
    reason: str


class Health:
    """Thread-safe map of check name -> state; ready when every registered check is ready."""

    def __init__(self, *checks: str) -> None:
        self._lock = threading.Lock()
        self._checks: dict[str, CheckState] = {name: CheckState(False, "starting") for name in checks}
        self.alive = True

    def set_ready(self, name: str) -> None:
        with self._lock:
            self._checks[name] = CheckState(True, "ok")

    def set_not_ready(self, name: str, reason: str) -> None:
        with self._lock:
            self._checks[name] = CheckState(False, reason)

    def snapshot(self) -> dict[str, CheckState]:
        with self._lock:
            return dict(self._checks)

    @property
    def ready(self) -> bool:
        return all(state.ready for state in self.snapshot().values())
