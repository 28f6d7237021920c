"""A benchmark's own control plane: the lead's local cluster + NATS, CRDs, a namespace, and
Flotilla's watcher and worker as real separate processes.

`BenchPlane.start(limits, ...)` starts ``flotilla.devcluster`` with the client rate limits a
run asks for (`LIMIT_MODES`: the components' defaults, or "unlimited" = kwok's own idea of
unlimited, 5000 QPS / 10000 burst, for kube-controller-manager and kube-scheduler; kwok itself
never rate-limits) and the kubelet model (`KubeletDelays`: what kwok charges for a pod start
and an in-place container restart; none by default), installs the kruise CRDs and creates
the namespace. `start_flotilla` runs ``flotilla watcher`` and ``flotilla worker <type>``
against it; `start_kruise` runs kruise-manager v1.9.1 instead (out of cluster, as the
conformance harness does: ``flotilla/conformance/kruise_manager.py``, kruise's own CRDs and
webhooks; start such a plane with ``crds=()``). `component_pids` names every process whose
CPU and memory a benchmark measures.
Used by ``benchmarks/cloneset.py`` and ``benchmarks/broadcastjob.py`` (which asks for N nodes
and the BroadcastJob CRD).
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from flotilla.conformance import kruise_manager
from flotilla.conformance.specs import kruise_source
from flotilla.devcluster.cluster import ClusterConfig
from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.kwok_nodes import KubeletDelays
from flotilla.devcluster.ports import free_port
from flotilla.devcluster.process import ManagedProcess
from flotilla.devcluster.toolchain import ensure_binaries
from schemas.crdgen.install import install_crds

REPO = Path(__file__).resolve().parents[2]
FLOTILLA = REPO / ".venv" / "bin" / "flotilla"

#: Client rate limit modes -> ClusterConfig.client_qps (None: each component's default).
LIMIT_MODES: dict[str, float | None] = {"default": None, "unlimited": 5000.0}


@dataclass
class BenchPlane:
    """One control plane + NATS with a namespace ready for pods, and optional Flotilla processes."""

    env: DevEnvironment
    limits: str
    namespace: str
    flotilla: dict[str, ManagedProcess] = field(default_factory=dict)
    #: Flotilla process name -> its /metrics URL.
    metrics_urls: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        limits: str,
        run_dir: Path,
        namespace: str,
        pods_per_node: int,
        kubelet_delays: KubeletDelays | None = None,
        nodes: int = 3,
        crds: tuple[str, ...] = ("clonesets.apps.kruise.io",),
    ) -> BenchPlane:
        config = ClusterConfig(
            run_dir=run_dir,
            nodes=nodes,
            pods_per_node=pods_per_node,
            client_qps=LIMIT_MODES[limits],
            kubelet_delays=kubelet_delays,
        )
        env = DevEnvironment.start_local(config)
        plane = cls(env, limits, namespace)
        try:
            plane._prepare(crds)
        except BaseException:
            env.stop()
            raise
        return plane

    def _prepare(self, crds: tuple[str, ...]) -> None:
        api = k8s_config.new_client_from_config(config_file=str(self.env.kubeconfig))  # type: ignore[no-untyped-call]
        try:
            _install_crds(api, crds)
            core = k8s.CoreV1Api(api)
            core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=self.namespace)))
            deadline = time.monotonic() + 60
            while True:  # pods are refused until the namespace's default ServiceAccount exists
                try:
                    core.read_namespaced_service_account("default", self.namespace)
                    break
                except k8s.ApiException as err:
                    if err.status != 404 or time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        finally:
            api.close()

    def start_flotilla(
        self,
        worker_type: str,
        worker_args: tuple[str, ...] = (),
        profile: Path | None = None,
        extra_types: tuple[str, ...] = (),
    ) -> None:
        """Run the watcher (for ``worker_type`` and ``extra_types`` only, this namespace) and one
        worker of each; wait for /readyz.

        With ``profile`` the worker runs under cProfile (CPU-time clock, ``cpuprofile.py``), which
        writes its stats there when the worker exits; profiled timings are slower, not comparable.
        ``worker_args`` and ``profile`` apply to the ``worker_type`` worker only.
        """
        run_dir = self.env.run_dir
        common = [f"--kubeconfig={self.env.kubeconfig}", f"--nats-url={self.env.nats_url}"]
        watcher_port, worker_port = free_port(), free_port()
        watcher = ManagedProcess(
            "flotilla-watcher",
            [
                str(FLOTILLA), "watcher", f"--types={','.join((worker_type, *extra_types))}",
                f"--namespace={self.namespace}",
                *common, f"--lease-namespace={self.namespace}", "--lease-name=bench-watcher",
                "--identity=bench-watcher-0", f"--http-port={watcher_port}",
            ],
            run_dir / "logs" / "flotilla-watcher.log",
        )  # fmt: skip
        launcher, env = [str(FLOTILLA)], None
        if profile is not None:
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            launcher = [sys.executable, "-m", "benchmarks.harness.cpuprofile", str(profile)]
        worker = ManagedProcess(
            f"flotilla-worker-{worker_type}",
            [*launcher, "worker", worker_type, *common, f"--http-port={worker_port}", *worker_args],
            run_dir / "logs" / f"flotilla-worker-{worker_type}.log",
            env=env,
        )
        started = [(worker, worker_port)]
        for extra in extra_types:
            port = free_port()
            process = ManagedProcess(
                f"flotilla-worker-{extra}",
                [str(FLOTILLA), "worker", extra, *common, f"--http-port={port}"],
                run_dir / "logs" / f"flotilla-worker-{extra}.log",
            )
            started.append((process, port))
        for process, port in (*started, (watcher, watcher_port)):
            process.start()
            self.flotilla[process.name] = process
            self.metrics_urls[process.name] = f"http://127.0.0.1:{port}/metrics"
            process.wait_until(_probe(f"http://127.0.0.1:{port}/readyz"), 60, "ready (/readyz)")

    def start_kruise(self, qps: int | None) -> None:
        """kruise-manager with its own CRDs and webhooks (by URL on loopback), leader election on;
        ``qps``: its client limit (``--rest-config-qps``, burst twice that), None for kruise's
        default (30 QPS, burst 50). Returns once its /readyz answers."""
        binary = ensure_binaries(["kruise-manager"])["kruise-manager"]
        limits = () if qps is None else (f"--rest-config-qps={qps}", f"--rest-config-burst={qps * 2}")
        kruise_manager.start(self.env, binary, kruise_source(), limits)

    def component_pids(self) -> dict[str, int]:
        pids = dict(self.env.pids())
        pids.update({name: p.pid for name, p in self.flotilla.items() if p.pid is not None})
        return pids

    def stop(self) -> None:
        for process in reversed(list(self.flotilla.values())):
            process.stop(timeout=15)
        self.env.stop()


def _install_crds(api: k8s.ApiClient, crds: tuple[str, ...], attempts: int = 3) -> None:
    """install_crds, retried: it can trip over a CRD whose status has no conditions yet."""
    for attempt in range(1, attempts + 1):
        try:
            install_crds(api, names=list(crds))
            return
        except Exception:
            if attempt == attempts:
                raise
            time.sleep(1.0)


def _probe(url: str) -> Callable[[], bool]:
    """A check that ``url`` answers 200."""

    def ok() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status) == 200
        except (urllib.error.URLError, OSError):
            return False

    return ok
