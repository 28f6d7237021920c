"""One child process of the local control plane: started, watched and stopped.

Each component (etcd, kube-apiserver, NATS, ...) runs as a `ManagedProcess` with its
output in ``<run folder>/logs/<name>.log``. Attached processes started from the main thread
get ``PR_SET_PDEATHSIG`` so they die with their parent even when it is SIGKILLed (no stray processes after a
crashed test run); detached ones (`flotilla dev up`) start a session of their own and
outlive the command, their pids kept in the run folder for `flotilla dev down`.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class ComponentError(RuntimeError):
    """A component failed to start or become ready; the message names it and its log."""


def parent_death_signal(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` giving the child ``PR_SET_PDEATHSIG`` ``sig``, or None off the main thread.

    The signal fires when the spawning *thread* ends, so only the main thread's children can be
    tied; others (e.g. started from ``asyncio.to_thread``) rely on being stopped. SIGKILL suits a
    child that may be SIGSTOPped (it could not act on SIGTERM)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def tie() -> None:  # pragma: no cover - runs in the child between fork and exec
        libc_name = ctypes.util.find_library("c")
        if libc_name:
            ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)

    return tie


#: The exit code of a command that unwound on SIGTERM (the shell's 128 + 15).
SIGTERM_EXIT_CODE = 143


def unwind_on_sigterm() -> None:
    """Make ``kill`` (SIGTERM) unwind the main thread as Ctrl-C does: ``SystemExit(143)`` runs
    every ``finally`` and ``with`` on the way out, so a command that started a control plane (a
    real node, ginkgo) stops it, where Python's default would end at once and leave its processes
    to ``PR_SET_PDEATHSIG`` or to nobody. Call from the main thread (``signal.signal``'s rule)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(SIGTERM_EXIT_CODE))


def log_tail(path: Path, lines: int = 25) -> str:
    """The last `lines` lines of a log file (empty when it does not exist)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class ManagedProcess:
    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] | None = None
    detached: bool = False
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    pid: int | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} starting: {' '.join(self.argv)}\n".encode())
            log.flush()
            try:
                self.popen = subprocess.Popen(
                    list(self.argv),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=dict(self.env) if self.env is not None else None,
                    start_new_session=self.detached,
                    preexec_fn=None if self.detached else parent_death_signal(),
                )
            except OSError as err:
                raise ComponentError(f"{self.name} could not be started ({self.argv[0]}): {err}") from err
        self.pid = self.popen.pid

    def running(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return self.pid is not None and pid_alive(self.pid)

    def exit_code(self) -> int | None:
        return self.popen.poll() if self.popen is not None else None

    def fail(self, reason: str) -> ComponentError:
        """An error naming this component, its log and the log's last lines."""
        return ComponentError(
            f"{self.name} {reason}; log: {self.log_path}\n--- last lines of {self.log_path.name} ---\n"
            f"{log_tail(self.log_path)}"
        )

    def wait_until(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll `check` until true; fail early (with the log) if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise self.fail(f"exited with code {self.exit_code()} before it was {what}")
            try:
                if check():
                    return
            except Exception:  # any probe error means "not yet"
                pass
            time.sleep(0.2)
        raise self.fail(f"was not {what} within {timeout:.0f}s")

    def stop(self, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
        if self.pid is None:
            return
        terminate_pid(self.pid, timeout=timeout, sig=sig, popen=self.popen)

    def kill(self) -> None:
        """SIGKILL, for fault tests."""
        self.stop(timeout=5.0, sig=signal.SIGKILL)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def terminate_pid(
    pid: int, *, timeout: float, sig: int = signal.SIGTERM, popen: subprocess.Popen[bytes] | None = None
) -> None:
    """Send `sig`, wait up to `timeout`, then SIGKILL; reaps `popen` when given."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen is not None:
            if popen.poll() is not None:
                return
        elif not pid_alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if popen is not None:
        popen.wait(timeout=10)
