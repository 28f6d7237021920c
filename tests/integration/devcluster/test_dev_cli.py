"""`flotilla dev up|status|down` as a person runs it: a working cluster, then no process left."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from flotilla.devcluster.env import read_state
from flotilla.devcluster.process import pid_alive

FLOTILLA = [sys.executable, "-m", "flotilla.cli"]


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLOTILLA, *args], capture_output=True, text=True, timeout=timeout, check=False)


def test_dev_up_gives_a_working_cluster_and_down_leaves_no_process(tmp_path: Path) -> None:
    run_dir = tmp_path / "dev"
    up = _run("dev", "up", "--run-dir", str(run_dir), "--nodes", "2", "--no-flotilla")
    try:
        assert up.returncode == 0, up.stderr
        assert "--kubeconfig" in up.stdout
        assert "stop" in up.stdout

        state = read_state(run_dir)
        assert state is not None
        pids = state["pids"]
        assert isinstance(pids, dict)
        assert set(pids) == {
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
            "nats-server",
            "jaeger",
        }

        status = _run("dev", "status", "--run-dir", str(run_dir))
        assert status.returncode == 0, status.stdout
        assert "nodes Ready: 2/2" in status.stdout
        assert "NATS JetStream" in status.stdout
        assert "Jaeger query API" in status.stdout
        assert "Jaeger query API" in status.stdout

        kubectl = str(state["binaries"]["kubectl"])  # type: ignore[index]
        nodes = subprocess.run(
            [kubectl, "--kubeconfig", str(state["kubeconfig"]), "get", "nodes", "-o", "json"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert len(json.loads(nodes.stdout)["items"]) == 2
        readyz = subprocess.run(
            [kubectl, "--kubeconfig", str(state["kubeconfig"]), "get", "--raw", "/readyz"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert readyz.stdout.strip() == "ok"

        again = _run("dev", "up", "--run-dir", str(run_dir))
        assert again.returncode == 0
        assert "already running" in again.stderr
    finally:
        down = _run("dev", "down", "--run-dir", str(run_dir))
    assert down.returncode == 0
    assert all(not pid_alive(pid) for pid in pids.values())
    assert _run("dev", "status", "--run-dir", str(run_dir)).returncode == 1


def test_components_die_with_a_killed_parent(tmp_path: Path) -> None:
    """A test run that is SIGKILLed leaves no stray component (PR_SET_PDEATHSIG)."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from flotilla.devcluster.process import ManagedProcess\n"
        f"p = ManagedProcess('sleeper', ['sleep', '300'], Path({str(tmp_path)!r}) / 'sleeper.log')\n"
        "p.start()\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert pid_alive(child_pid)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while pid_alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(child_pid)
