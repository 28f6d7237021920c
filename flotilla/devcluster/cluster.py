"""The local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (fake nodes whose pods go Running and Ready), all on loopback.

The one launcher used by the pytest fixtures, `flotilla dev up` and the benchmarks.
`LocalCluster.start()` builds or finds the binaries (`toolchain.py`), generates the
PKI (`pki.py`), starts each component with its log in ``<run dir>/logs/`` and waits for
readiness, failing with an error that names the component and shows its log.
`stop()` tears everything down; attached runs also die with their parent process.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from flotilla.devcluster import kwok_nodes
from flotilla.devcluster.kubeconfig import write_kubeconfig
from flotilla.devcluster.pki import ClusterPKI, generate_pki
from flotilla.devcluster.ports import LOOPBACK, free_port, require_free
from flotilla.devcluster.process import ManagedProcess
from flotilla.devcluster.toolchain import ensure_binaries

CONTROL_PLANE_BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
)

DEFAULT_STORAGE_CLASS = "standard"

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"

#: The API server's audit policy: writes of the admin user (the kubeconfig Flotilla's processes,
#: kruise-manager in the conformance baseline, and the tests use) to pods, PVCs, CloneSets and
#: Advanced StatefulSets, and its GETs of single pods and Advanced StatefulSets (the reads kruise's
#: e2e specs race against), and kwok's pod deletes, at Metadata level (who, which object, user
#: agent, when received and when answered). The fault tests read it as the server's record of
#: which process wrote what when; everything else is not audited (cheap).
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {
            "level": "Metadata",
            "users": ["flotilla-admin"],
            "verbs": ["create", "update", "patch", "delete"],
            "resources": [
                {"group": "", "resources": ["pods", "persistentvolumeclaims"]},
                {"group": "apps.kruise.io", "resources": ["clonesets", "clonesets/status"]},
                {"group": "apps.kruise.io", "resources": ["statefulsets", "statefulsets/status"]},
            ],
        },
        {
            "level": "Metadata",
            "users": ["flotilla-admin"],
            "verbs": ["get"],
            "resources": [
                {"group": "", "resources": ["pods"]},
                {"group": "apps.kruise.io", "resources": ["statefulsets"]},
            ],
        },
        {
            # the node's removal of a deleted pod (kwok's "delete" stage), which those specs race too
            "level": "Metadata",
            "users": ["kwok-controller"],
            "verbs": ["delete"],
            "resources": [{"group": "", "resources": ["pods"]}],
        },
        {"level": "None"},
    ],
}


@dataclass(frozen=True)
class ClusterConfig:
    """What to start. `client_qps=None` keeps each component's own default rate limits;
    a number sets QPS (and burst = 2 x QPS) for kube-controller-manager, kube-scheduler
    and kwok alike, so benchmarks compare controllers at equal limits."""

    run_dir: Path
    nodes: int = 3
    zones: tuple[str, ...] = ("a", "b", "c")
    #: Room for the fault tests (20 CloneSets x 50 pods, plus surge) next to other tests' pods.
    pods_per_node: int = 1000
    client_qps: float | None = None
    apiserver_port: int | None = None
    detached: bool = False
    #: Extra kwok Stage documents (dicts), added to kwok's default pod/node stages.
    kwok_stages: tuple[Mapping[str, object], ...] = ()
    #: What kwok's fake kubelet charges for a pod start and an in-place container restart
    #: (kwok Stage delays); None: nothing, a bound pod is Ready at once.
    kubelet_delays: kwok_nodes.KubeletDelays | None = None
    startup_timeout: float = 90.0
    #: kube-controller-manager provisions hostPath PersistentVolumes (``--enable-hostpath-provisioner``)
    #: and a default StorageClass ``standard`` names that provisioner, so PVCs bind (kruise's PVC specs).
    hostpath_provisioner: bool = False
    #: kwok gives each container a ``containerID`` that changes when it restarts (kruise's
    #: in-place specs compare them).
    container_ids: bool = False


@dataclass
class LocalCluster:
    config: ClusterConfig
    binaries: dict[str, Path] = field(default_factory=dict)
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    pki: ClusterPKI | None = None
    apiserver_port: int = 0
    etcd_port: int = 0
    etcd_peer_port: int = 0

    # ---------------------------------------------------------------- paths and URLs
    @property
    def run_dir(self) -> Path:
        return self.config.run_dir

    @property
    def server(self) -> str:
        return f"https://{LOOPBACK}:{self.apiserver_port}"

    @property
    def etcd_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.etcd_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.run_dir / "kubeconfig"

    @property
    def audit_log(self) -> Path:
        """The API server's audit log (JSON lines; rotated at 200 MB into ``audit-<time>.log``)."""
        return self.run_dir / "logs" / "audit.log"

    def log_path(self, component: str) -> Path:
        return self.run_dir / "logs" / f"{component}.log"

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.binaries = ensure_binaries(CONTROL_PLANE_BINARIES)
        self.pki = generate_pki(self.run_dir / "pki")
        self.etcd_port = free_port()
        self.apiserver_port = (
            require_free(self.config.apiserver_port, "kube-apiserver")
            if self.config.apiserver_port
            else free_port()
        )
        try:
            self._start_etcd()
            self._start_apiserver()
            self._write_kubeconfigs()
            self._start_controller_manager()
            self._start_scheduler()
            self._start_kwok()
            kwok_nodes.create_nodes(self, self.config.nodes, self.config.zones, self.config.pods_per_node)
            self._wait_nodes_ready()
            if self.config.hostpath_provisioner:
                self._create_default_storage_class()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.processes[name].stop()

    def restart_apiserver(self) -> None:
        """Stop and start kube-apiserver on the same port (a fault test's API outage), then
        wait until the controllers work again, not just until /readyz answers."""
        self.processes["kube-apiserver"].stop()
        self._start_apiserver()
        self.wait_controllers_working()

    def wait_controllers_working(self, timeout: float = 90.0) -> None:
        """A new namespace gets its default ServiceAccount: kube-controller-manager is back.

        After an API server restart the controller manager's clients may be refused for a
        while and back off; tests that create namespaces must not start before it recovers."""
        probe = f"flotilla-probe-{self.apiserver_port}-{int(time.monotonic() * 1000)}"
        self.api_request("POST", "/api/v1/namespaces", {"metadata": {"name": probe}})
        try:
            self.processes["kube-controller-manager"].wait_until(
                lambda: bool(self.api_get(f"/api/v1/namespaces/{probe}/serviceaccounts/default")),
                timeout,
                "serving again after the API server restart (no default ServiceAccount in a new namespace)",
            )
        finally:
            self.api_request("DELETE", f"/api/v1/namespaces/{probe}")

    def kill_apiserver(self) -> None:
        """SIGKILL kube-apiserver (no graceful shutdown), start it again on the same port, wait
        until the controllers work again."""
        self.processes["kube-apiserver"].kill()
        self._start_apiserver()
        self.wait_controllers_working()

    def kill_etcd(self) -> None:
        """SIGKILL etcd, start it again on the same port and data folder; the API server reconnects."""
        self.processes["etcd"].kill()
        self._start_etcd(self.etcd_peer_port)
        self.processes["kube-apiserver"].wait_until(
            lambda: self.api_get("/readyz") == b"ok", self.config.startup_timeout, "ready again after etcd"
        )

    def stop_apiserver(self) -> None:
        self.processes["kube-apiserver"].stop()

    def start_apiserver(self) -> None:
        self._start_apiserver()
        self.wait_controllers_working()

    # ---------------------------------------------------------------- components
    def _spawn(self, name: str, argv: Sequence[str]) -> ManagedProcess:
        process = ManagedProcess(name, list(argv), self.log_path(name), detached=self.config.detached)
        process.start()
        self.processes[name] = process
        return process

    def _start_etcd(self, peer: int = 0) -> None:
        peer = peer or free_port()
        self.etcd_peer_port = peer
        data = self.run_dir / "etcd"
        client_url = self.etcd_endpoint
        peer_url = f"http://{LOOPBACK}:{peer}"
        proc = self._spawn(
            "etcd",
            [
                str(self.binaries["etcd"]),
                "--name=flotilla",
                f"--data-dir={data}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=flotilla={peer_url}",
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes=8589934592",
                "--log-level=warn",
            ],
        )
        proc.wait_until(lambda: b'"health":"true"' in _http_get(f"{client_url}/health"), 30, "healthy")

    def _start_apiserver(self) -> None:
        assert self.pki is not None
        pki = self.pki
        policy = self.run_dir / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump(AUDIT_POLICY))
        proc = self._spawn(
            "kube-apiserver",
            [
                str(self.binaries["kube-apiserver"]),
                f"--etcd-servers={self.etcd_endpoint}",
                f"--bind-address={LOOPBACK}",
                f"--advertise-address={LOOPBACK}",
                f"--secure-port={self.apiserver_port}",
                f"--tls-cert-file={pki.apiserver.cert}",
                f"--tls-private-key-file={pki.apiserver.key}",
                f"--client-ca-file={pki.ca.cert}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={pki.service_account_pub}",
                f"--service-account-signing-key-file={pki.service_account_key}",
                "--service-cluster-ip-range=10.96.0.0/16",
                # The `kubernetes` Service cannot point at a loopback address; nothing here needs it.
                "--endpoint-reconciler-type=none",
                "--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,DefaultStorageClass,"
                "MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,ResourceQuota",
                "--allow-privileged=true",
                "--max-requests-inflight=1600",
                "--max-mutating-requests-inflight=800",
                # /debug/pprof for cluster admins only (RBAC): benchmarks profile the API server
                "--profiling=true",
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--audit-log-maxsize=200",
                "--audit-log-maxbackup=3",
                "--v=1",
            ],
        )
        proc.wait_until(
            lambda: self.api_get("/readyz") == b"ok", self.config.startup_timeout, "ready (/readyz)"
        )

    def _write_kubeconfigs(self) -> None:
        assert self.pki is not None
        pki = self.pki
        for stem, user, pair in (
            ("kubeconfig", "flotilla-admin", pki.admin),
            ("kube-controller-manager.kubeconfig", "system:kube-controller-manager", pki.controller_manager),
            ("kube-scheduler.kubeconfig", "system:kube-scheduler", pki.scheduler),
            ("kwok.kubeconfig", "kwok-controller", pki.kwok),
        ):
            write_kubeconfig(
                self.run_dir / stem, server=self.server, ca_cert=pki.ca.cert, user=user, client=pair
            )

    def _qps_flags(self) -> list[str]:
        qps = self.config.client_qps
        if qps is None:
            return []
        return [f"--kube-api-qps={qps:g}", f"--kube-api-burst={int(qps * 2)}"]

    def _start_controller_manager(self) -> None:
        assert self.pki is not None
        kubeconfig = self.run_dir / "kube-controller-manager.kubeconfig"
        self._spawn(
            "kube-controller-manager",
            [
                str(self.binaries["kube-controller-manager"]),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--bind-address={LOOPBACK}",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
                "--controllers=*",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={self.pki.service_account_key}",
                f"--root-ca-file={self.pki.ca.cert}",
                f"--cluster-signing-cert-file={self.pki.ca.cert}",
                f"--cluster-signing-key-file={self.pki.ca.key}",
                "--v=1",
                # An HPA acts within 5 s instead of 15: a local cluster has no metrics load to
                # spread, and the HPA tests wait on these syncs.
                "--horizontal-pod-autoscaler-sync-period=5s",
                *self._qps_flags(),
                *(["--enable-hostpath-provisioner=true"] if self.config.hostpath_provisioner else []),
            ],
        )

    def _create_default_storage_class(self) -> None:
        """The default StorageClass for kube-controller-manager's hostPath provisioner."""
        storage_class = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": DEFAULT_STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kubernetes.io/host-path",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }
        self.api_request("POST", "/apis/storage.k8s.io/v1/storageclasses", storage_class)

    def _start_scheduler(self) -> None:
        kubeconfig = self.run_dir / "kube-scheduler.kubeconfig"
        connection: dict[str, object] = {"kubeconfig": str(kubeconfig)}
        if self.config.client_qps is not None:
            connection.update(qps=self.config.client_qps, burst=int(self.config.client_qps * 2))
        scheduler_config = {
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "clientConnection": connection,
            "leaderElection": {"leaderElect": False},
        }
        config_path = self.run_dir / "kube-scheduler.yaml"
        config_path.write_text(yaml.safe_dump(scheduler_config))
        self._spawn(
            "kube-scheduler",
            [
                str(self.binaries["kube-scheduler"]),
                f"--config={config_path}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--bind-address={LOOPBACK}",
                f"--secure-port={free_port()}",
                "--v=1",
            ],
        )

    def _start_kwok(self) -> None:
        config_path = kwok_nodes.write_kwok_config(
            self.run_dir,
            self.config.kwok_stages,
            self.config.client_qps,
            self.config.kubelet_delays,
            container_ids=self.config.container_ids,
        )
        port = free_port()
        proc = self._spawn(
            "kwok",
            [
                str(self.binaries["kwok"]),
                f"--kubeconfig={self.run_dir / 'kwok.kubeconfig'}",
                f"--config={config_path}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={kwok_nodes.MANAGED_ANNOTATION}=fake",
                "--cidr=10.244.0.0/16",
                "--node-ip=10.244.255.254",
                f"--server-address={LOOPBACK}:{port}",
            ],
        )
        proc.wait_until(lambda: _http_get(f"http://{LOOPBACK}:{port}/healthz") == b"ok", 30, "healthy")

    def _wait_nodes_ready(self) -> None:
        proc = self.processes["kwok"]

        def all_ready() -> bool:
            nodes = json.loads(self.api_get("/api/v1/nodes"))["items"]
            ready = [n for n in nodes if kwok_nodes.node_ready(n)]
            return len(ready) >= self.config.nodes

        proc.wait_until(all_ready, 60, f"running {self.config.nodes} Ready nodes")

    # ---------------------------------------------------------------- admin HTTP
    def _ssl_context(self) -> ssl.SSLContext:
        assert self.pki is not None
        context = ssl.create_default_context(cafile=str(self.pki.ca.cert))
        context.load_cert_chain(str(self.pki.admin.cert), str(self.pki.admin.key))
        return context

    def api_request(self, method: str, path: str, body: object | None = None) -> bytes:
        """An admin request to the API server (cold paths: readiness, nodes)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.server}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, context=self._ssl_context(), timeout=10) as response:
            payload: bytes = response.read()
            return payload

    def api_get(self, path: str) -> bytes:
        return self.api_request("GET", path)


def _http_get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            payload: bytes = response.read()
            return payload
    except urllib.error.HTTPError as err:
        return err.read()
