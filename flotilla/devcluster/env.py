"""The development environment the tests, the demo and the benchmarks run against.

Either a local control plane + NATS started here (`DevEnvironment.start_local`), or an
existing cluster and NATS named by ``USE_EXISTING_CLUSTER=true`` + ``KUBECONFIG`` +
``NATS_URL`` (`DevEnvironment.existing`). Detached environments (`flotilla dev up`)
record their processes in ``<run dir>/state.json`` so `flotilla dev down` can stop them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from flotilla.devcluster.cluster import ClusterConfig, LocalCluster
from flotilla.devcluster.jaeger import Jaeger
from flotilla.devcluster.nats import NatsServer
from flotilla.devcluster.process import ComponentError, pid_alive, terminate_pid
from flotilla.devcluster.toolchain import cache_root, ensure_binaries

STATE_FILE = "state.json"


def use_existing_cluster() -> bool:
    return os.environ.get("USE_EXISTING_CLUSTER", "").lower() in ("1", "true", "yes")


def runs_root() -> Path:
    return cache_root() / "runs"


def _owner_alive(run_dir: Path) -> bool:
    """Run folders end in the pid of the process that made them; is it still running?"""
    pid = run_dir.name.rsplit("-", 1)[-1]
    return pid.isdigit() and pid_alive(int(pid))


def new_run_dir(prefix: str, keep: int = 5) -> Path:
    """A fresh run folder under the cache. Older ones with the same prefix are pruned to the
    newest `keep`, but never one whose process still runs (parallel test sessions)."""
    root = runs_root()
    root.mkdir(parents=True, exist_ok=True)
    previous = sorted(root.glob(f"{prefix}-*"), key=lambda p: p.stat().st_mtime)
    for stale in previous[: max(0, len(previous) - keep + 1)]:
        if not _owner_alive(stale):
            shutil.rmtree(stale, ignore_errors=True)
    path = root / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    path.mkdir(parents=True)
    return path


@dataclass
class DevEnvironment:
    kubeconfig: Path
    nats_url: str
    run_dir: Path
    binaries: dict[str, Path]
    cluster: LocalCluster | None = None
    nats: NatsServer | None = None
    jaeger: Jaeger | None = None
    extra_pids: dict[str, int] = field(default_factory=dict)

    # ---------------------------------------------------------------- construction
    @classmethod
    def start_local(cls, config: ClusterConfig, nats_port: int = 0) -> DevEnvironment:
        cluster = LocalCluster(config)
        cluster.start()
        nats = NatsServer(config.run_dir, port=nats_port, detached=config.detached)
        try:
            nats.start()
        except BaseException:
            cluster.stop()
            raise
        return cls(cluster.kubeconfig, nats.url, config.run_dir, cluster.binaries, cluster, nats)

    @classmethod
    def existing(cls, run_dir: Path) -> DevEnvironment:
        kubeconfig = os.environ.get("KUBECONFIG")
        nats_url = os.environ.get("NATS_URL")
        if not kubeconfig or not nats_url:
            raise ComponentError(
                "USE_EXISTING_CLUSTER=true needs KUBECONFIG (a single kubeconfig path) and NATS_URL "
                "(e.g. nats://127.0.0.1:4222, a server with JetStream enabled)"
            )
        return cls(Path(kubeconfig), nats_url, run_dir, ensure_binaries(["kubectl"]))

    @classmethod
    def from_environment(cls, run_dir: Path, config: ClusterConfig | None = None) -> DevEnvironment:
        if use_existing_cluster():
            return cls.existing(run_dir)
        return cls.start_local(config or ClusterConfig(run_dir=run_dir))

    # ---------------------------------------------------------------- use
    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this environment; a failure raises with kubectl's stderr."""
        cmd = [str(self.binaries["kubectl"]), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(
            cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise subprocess.CalledProcessError(result.returncode, cmd, result.stdout, result.stderr)
        return result

    def stop(self) -> None:
        for pid in self.extra_pids.values():
            terminate_pid(pid, timeout=10)
        if self.jaeger is not None:
            self.jaeger.stop()
        if self.nats is not None:
            self.nats.stop()
        if self.cluster is not None:
            self.cluster.stop()

    # ---------------------------------------------------------------- detached state
    def pids(self) -> dict[str, int]:
        pids: dict[str, int] = {}
        if self.cluster is not None:
            pids.update({name: p.pid for name, p in self.cluster.processes.items() if p.pid})
        if self.nats is not None and self.nats.process is not None and self.nats.process.pid:
            pids["nats-server"] = self.nats.process.pid
        if self.jaeger is not None and self.jaeger.process is not None and self.jaeger.process.pid:
            pids["jaeger"] = self.jaeger.process.pid
        pids.update(self.extra_pids)
        return pids

    def write_state(self) -> Path:
        state = {
            "kubeconfig": str(self.kubeconfig),
            "nats_url": self.nats_url,
            "server": self.cluster.server if self.cluster else None,
            "nats_monitor": f"http://127.0.0.1:{self.nats.monitor_port}" if self.nats else None,
            "jaeger_ui": self.jaeger.ui_url if self.jaeger else None,
            "pids": self.pids(),
            "binaries": {name: str(path) for name, path in self.binaries.items()},
        }
        path = self.run_dir / STATE_FILE
        path.write_text(json.dumps(state, indent=2))
        return path


def read_state(run_dir: Path) -> dict[str, object] | None:
    try:
        loaded: dict[str, object] = json.loads((run_dir / STATE_FILE).read_text())
        return loaded
    except (OSError, ValueError):
        return None


def stop_detached(run_dir: Path) -> list[str]:
    """Stop every process recorded in `run_dir`'s state, newest first; the names stopped."""
    state = read_state(run_dir)
    if state is None:
        return []
    pids = state.get("pids")
    stopped: list[str] = []
    if isinstance(pids, dict):
        for name, pid in reversed(list(pids.items())):
            if isinstance(pid, int) and pid_alive(pid):
                terminate_pid(pid, timeout=15)
                stopped.append(name)
    (run_dir / STATE_FILE).unlink(missing_ok=True)
    return stopped
