"""``parent_death_signal``: the one ``PR_SET_PDEATHSIG`` helper of the launcher, the fault fleet and
the integration tests' worker stacks. A real parent and child process (no service involved)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from flotilla.devcluster.process import parent_death_signal, pid_alive

REPO = Path(__file__).resolve().parents[3]


def test_a_stopped_child_is_killed_with_its_parent() -> None:
    """SIGKILL reaches a SIGSTOPped child, which could not act on SIGTERM."""
    script = (
        "import signal, subprocess, time\n"
        "from flotilla.devcluster.process import parent_death_signal\n"
        "child = subprocess.Popen(['sleep', '300'], preexec_fn=parent_death_signal(signal.SIGKILL))\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    os.kill(child, signal.SIGSTOP)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child)


def test_off_the_main_thread_nothing_is_tied() -> None:
    """The signal fires when the spawning thread ends: only the main thread's children are tied."""
    found: list[object] = []
    thread = threading.Thread(target=lambda: found.append(parent_death_signal()))
    thread.start()
    thread.join()
    assert found == [None]
    assert callable(parent_death_signal())
