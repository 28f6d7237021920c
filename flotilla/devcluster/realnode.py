"""One real Kubernetes node beside the local control plane: containerd + runc + a kubelet.

kwok plays the kubelet for scale; this node runs real containers, so in-place image updates,
restarts and pulls are done by a real kubelet through the CRI. `RealNode.start()`:

1. takes the machine-wide lock (one real node per machine: the kubelet changes host state)
   and cleans what a crashed run left (`clean_leftovers`);
2. installs the Debian packages when missing (`ensure_packages`), finds the kubelet (its own
   cached build entry in `toolchain.py`, the control plane's Kubernetes version);
3. builds the images v1/v2/v3 and pause offline from busybox-static (`images.py`);
4. makes the node's address: a veth pair whose peer lives in a network namespace of its own,
   host end ``198.18.0.1/30`` (a benchmark range, never routed), so no byte leaves the machine;
5. starts containerd (its own root, state and socket), imports pause + v1, starts the loopback
   registry (Debian ``docker-registry``) and pushes v2 + v3 to it (so pulls are real);
6. registers the kubelet with the local API server as ``system:node:<name>`` (a client
   certificate of the launcher's CA, bound to the ``system:node`` ClusterRole: the API server runs
   RBAC only), labelled and tainted ``flotilla.io/real-node`` so ordinary pods stay on kwok nodes.

`stop()` tears down in order: pods on the node -> kubelet -> containerd tasks -> containerd ->
shims -> mounts -> cgroups -> bridge, veth, namespace -> sysctls. `clean_leftovers()` does the
same from the fixed state folder alone, so it also works after a crash (`flotilla dev down`,
the next start). Every setting below was an error before it was set; see docs/realnode.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

import yaml

from flotilla.devcluster import images
from flotilla.devcluster.kubeconfig import write_kubeconfig
from flotilla.devcluster.pki import CertPair, issue_client_cert, issue_serving_cert
from flotilla.devcluster.ports import LOOPBACK, free_port
from flotilla.devcluster.process import ComponentError, ManagedProcess, pid_alive, terminate_pid
from flotilla.devcluster.toolchain import cache_root, ensure_binaries

#: Everything of the node lives here (short: containerd's socket path must stay under 108 bytes),
#: one folder per machine, so leftovers of a crashed run are found without its run folder.
STATE_DIR: Final = Path(os.environ.get("FLOTILLA_REALNODE_DIR", "/tmp/flotilla-realnode"))
LOCK_FILE: Final = Path("/tmp/flotilla-realnode.lock")

NODE_NAME: Final = "flotilla-real-node"
#: Label and NoSchedule taint of the node: tests that want it select and tolerate this key.
NODE_KEY: Final = "flotilla.io/real-node"
HOST_IF: Final = "flt-h"
PEER_IF: Final = "flt-n"
NETNS: Final = "flt-node"
NODE_IP: Final = "198.18.0.1"
PEER_IP: Final = "198.18.0.2"
BRIDGE: Final = "flt-cni0"
POD_CIDR: Final = "10.250.0.0/24"
CNI_BIN_DIR: Final = "/usr/lib/cni"

DEBIAN_PACKAGES: Final = (
    "containerd",
    "runc",
    "busybox-static",
    "containernetworking-plugins",
    "docker-registry",
)
#: Commands the node needs, each from one of DEBIAN_PACKAGES (iproute2 is in every Debian).
_COMMANDS: Final = {
    "containerd": "containerd",
    "runc": "runc",
    "ctr": "containerd",
    "docker-registry": "docker-registry",
    "ip": "iproute2",
}
#: Host sysctls the kubelet sets (restored on teardown).
KUBELET_SYSCTLS: Final = ("vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops")

#: Image tag -> where the node finds it. v1 and pause are imported into containerd;
#: v2 and v3 live only in the loopback registry, so the kubelet pulls them.
LOCAL_IMAGES: Final = ("v1",)
REGISTRY_IMAGES: Final = ("v2", "v3")
PAUSE_IMAGE: Final = "flotilla.local/pause:1"
_PUSH_NAMESPACE: Final = "flotilla-push"


def _say(message: str) -> None:
    print(f"[flotilla] real node: {message}", file=sys.stderr, flush=True)


def missing_packages() -> list[str]:
    """Debian packages the node needs that are not installed (judged by their commands and files)."""
    missing = {pkg for cmd, pkg in _COMMANDS.items() if shutil.which(cmd) is None}
    if not images.BUSYBOX.is_file():
        missing.add("busybox-static")
    if not (Path(CNI_BIN_DIR) / "bridge").is_file():
        missing.add("containernetworking-plugins")
    return sorted(missing)


def ensure_packages() -> None:
    """Install the missing Debian packages with apt (from the mirror the machine is configured
    with); a clear error when that is not possible (not root, no apt)."""
    missing = missing_packages()
    if missing:
        install_debian_packages(missing)


def install_debian_packages(missing: list[str]) -> None:
    """``apt-get install`` of `missing` from the machine's Debian mirror; a clear error when that
    is not possible (not root, no apt). Also used for the image builder's mmdebstrap (`image.py`)."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ComponentError(
            f"needs the Debian packages {' '.join(missing)}; install them as root "
            f"(apt-get install -y {' '.join(missing)})"
        )
    _say(f"installing Debian packages {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *missing]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ComponentError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def _run(cmd: list[str], *, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
    if check and proc.returncode != 0:
        raise ComponentError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
        )
    return proc


# ---------------------------------------------------------------------------- host state
def _pid_file(name: str) -> Path:
    return STATE_DIR / "pids" / f"{name}.pid"


def _stop_recorded(name: str, timeout: float = 15.0) -> None:
    path = _pid_file(name)
    with contextlib.suppress(FileNotFoundError, ValueError):
        pid = int(path.read_text())
        if pid_alive(pid) and name in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
            terminate_pid(pid, timeout=timeout)
    path.unlink(missing_ok=True)


def _socket() -> Path:
    return STATE_DIR / "containerd" / "containerd.sock"


def cri_endpoint() -> str:
    """The node's CRI endpoint (its containerd socket), as ``flotilla node-agent --cri-endpoint`` takes it."""
    return f"unix://{_socket()}"


def _ctr(*args: str, namespace: str = "k8s.io", check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run(["ctr", "-a", str(_socket()), "-n", namespace, *args], check=check)


def _remove_containerd_tasks() -> None:
    """Kill and delete every task and container containerd still has, so their shims exit."""
    if not _socket().exists():
        return
    listing = _run(["ctr", "-a", str(_socket()), "namespaces", "ls", "-q"], check=False)
    if listing.returncode != 0:
        return
    for namespace in listing.stdout.split():
        containers = _ctr("containers", "ls", "-q", namespace=namespace, check=False).stdout.split()
        for container in containers:
            _ctr("tasks", "kill", "-s", "KILL", container, namespace=namespace, check=False)
        for container in containers:
            _ctr("tasks", "delete", "-f", container, namespace=namespace, check=False)
            _ctr("containers", "delete", container, namespace=namespace, check=False)


def _kill_shims() -> None:
    """containerd shims that outlived containerd: only those naming this node's state folder."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "containerd-shim" in cmdline and str(STATE_DIR) in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def _kubepods_cgroups() -> list[Path]:
    """The cgroups the kubelet made (cgroupRoot ``/``: ``/kubepods`` in every hierarchy), deepest first."""
    found: list[Path] = []
    root = Path("/sys/fs/cgroup")
    candidates = (
        [root / "kubepods", *(h / "kubepods" for h in root.iterdir() if h.is_dir())] if root.is_dir() else []
    )
    for top in candidates:
        if top.is_dir():
            found += [Path(d) for d, _, _ in os.walk(top)]
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def _kill_and_remove_cgroups() -> None:
    """Kill what still runs in the node's pod cgroups (containers of a crashed run), then remove them."""
    for cgroup in _kubepods_cgroups():
        with contextlib.suppress(OSError, ValueError):
            for line in (cgroup / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(line), signal.SIGKILL)
    deadline = time.monotonic() + 10
    for cgroup in _kubepods_cgroups():
        while True:
            try:
                cgroup.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)


def _unmount_state() -> None:
    prefix = str(STATE_DIR) + "/"
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        if _run(["umount", mount], check=False).returncode != 0:
            _run(["umount", "-l", mount], check=False)


def _remove_network() -> None:
    for link in (BRIDGE, HOST_IF):
        if _run(["ip", "link", "show", link], check=False).returncode == 0:
            _run(["ip", "link", "del", link], check=False)
    if NETNS in _run(["ip", "netns", "list"], check=False).stdout.split():
        _run(["ip", "netns", "del", NETNS], check=False)


def _restore_sysctls() -> None:
    saved = STATE_DIR / "sysctl-before.json"
    with contextlib.suppress(FileNotFoundError, ValueError):
        for key, value in json.loads(saved.read_text()).items():
            _run(["sysctl", "-w", f"{key}={value}"], check=False)
        saved.unlink()


def clean_leftovers() -> None:
    """Undo everything a real node leaves on the host, from the state folder alone (after a
    crash too): kubelet, registry, containerd's tasks, containerd, shims, pod processes,
    mounts, cgroups, links, the namespace, the kubelet's sysctls; then the folder itself."""
    _stop_recorded("kubelet")
    _stop_recorded("registry")
    _remove_containerd_tasks()
    _stop_recorded("containerd")
    _kill_shims()
    _kill_and_remove_cgroups()
    _unmount_state()
    _remove_network()
    _restore_sysctls()
    if STATE_DIR.exists() and not any(
        line.split()[1].startswith(str(STATE_DIR)) for line in Path("/proc/mounts").read_text().splitlines()
    ):
        shutil.rmtree(STATE_DIR, ignore_errors=True)


# ---------------------------------------------------------------------------- the node
@dataclass
class RealNode:
    """The node, registered with the API server at `server` (CA `ca`, admin calls via `api`)."""

    server: str
    ca: CertPair
    #: (method, path, body) -> response bytes, as the cluster admin (`LocalCluster.api_request`).
    api: Callable[[str, str, object | None], bytes]
    detached: bool = False
    startup_timeout: float = 120.0
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    registry_port: int = 0
    #: "v1", "v2", "v3" -> the image reference pods use.
    images: dict[str, str] = field(default_factory=dict)
    #: Seconds from the node's address to Node Ready (packages and kubelet build excluded).
    startup_seconds: float = 0.0
    _lock: IO[str] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return NODE_NAME

    def log_path(self, name: str) -> Path:
        return STATE_DIR / "logs" / f"{name}.log"

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._take_lock()
        try:
            clean_leftovers()
            ensure_packages()
            kubelet = ensure_binaries(["kubelet"])["kubelet"]
            for sub in ("pids", "logs", "images", "pki", "kubelet", "pod-logs", "cni/net.d", "registry"):
                (STATE_DIR / sub).mkdir(parents=True, exist_ok=True)
            started = time.monotonic()
            self._make_node_ip()
            self._start_containerd()
            self._start_registry()
            self._make_images()
            self._start_kubelet(kubelet)
            self.startup_seconds = time.monotonic() - started
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Pods on the node first (the kubelet stops their containers), then everything else."""
        if self.processes.get("kubelet") is not None and self.processes["kubelet"].running():
            with contextlib.suppress(Exception):
                self._delete_pods()
        clean_leftovers()
        with contextlib.suppress(Exception):
            self.api("DELETE", f"/api/v1/nodes/{NODE_NAME}", None)
        self.processes.clear()
        self._release_lock()

    def _take_lock(self) -> None:
        handle = open(LOCK_FILE, "a+")  # noqa: SIM115 - held for the node's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ComponentError(
                f"another real node runs on this machine (lock {LOCK_FILE} is held): one per machine"
            ) from None
        owner = _pid_file("containerd")
        with contextlib.suppress(FileNotFoundError, ValueError):
            pid = int(owner.read_text())
            if pid_alive(pid) and "containerd" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                handle.close()
                raise ComponentError(
                    f"a real node of a detached `flotilla dev up` still runs (containerd pid {pid}): "
                    "`flotilla dev down` stops it"
                )
        self._lock = handle

    def _release_lock(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def _spawn(self, name: str, argv: list[str]) -> ManagedProcess:
        process = ManagedProcess(name, argv, self.log_path(name), detached=self.detached)
        process.start()
        assert process.pid is not None
        _pid_file(name).write_text(str(process.pid))
        self.processes[name] = process
        return process

    # ------------------------------------------------------------ network
    def _make_node_ip(self) -> None:
        """The kubelet refuses a loopback node IP; an address on a veth pair made here (peer in
        its own namespace) keeps every byte on this machine."""
        for cmd in (
            ["ip", "netns", "add", NETNS],
            ["ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", PEER_IF],
            ["ip", "link", "set", PEER_IF, "netns", NETNS],
            ["ip", "addr", "add", f"{NODE_IP}/30", "dev", HOST_IF],
            ["ip", "link", "set", HOST_IF, "up"],
            ["ip", "-n", NETNS, "addr", "add", f"{PEER_IP}/30", "dev", PEER_IF],
            ["ip", "-n", NETNS, "link", "set", PEER_IF, "up"],
        ):
            _run(cmd)

    # ------------------------------------------------------------ containerd + images
    def _containerd_config(self) -> Path:
        base = STATE_DIR / "containerd"
        cri = {
            "sandbox_image": PAUSE_IMAGE,  # imported beforehand: never fetched
            "enable_selinux": False,
            # no CAP_SYS_RESOURCE here: lowering oom_score_adj fails inside runc
            # ("can't get final child's PID from pipe: EOF") unless clamped to ours
            "restrict_oom_score_adj": True,
            "netns_mounts_under_state_dir": True,
            "containerd": {
                "snapshotter": "overlayfs",
                "default_runtime_name": "runc",
                "runtimes": {
                    "runc": {"runtime_type": "io.containerd.runc.v2", "options": {"SystemdCgroup": False}}
                },
            },
            "cni": {"bin_dir": CNI_BIN_DIR, "conf_dir": str(STATE_DIR / "cni" / "net.d")},
            "registry": {"config_path": str(base / "certs.d")},
        }
        lines = [
            "version = 2",
            f'root = "{base / "root"}"',
            f'state = "{base / "state"}"',
            "[grpc]",
            f'  address = "{_socket()}"',
            "[ttrpc]",
            f'  address = "{_socket()}.ttrpc"',
            "[debug]",
            '  level = "info"',
        ]
        lines += _toml_tables('plugins."io.containerd.grpc.v1.cri"', cri)
        path = base / "config.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _start_containerd(self) -> None:
        self.registry_port = free_port()
        hosts = STATE_DIR / "containerd" / "certs.d" / f"{LOOPBACK}:{self.registry_port}" / "hosts.toml"
        hosts.parent.mkdir(parents=True, exist_ok=True)
        url = f"http://{LOOPBACK}:{self.registry_port}"
        hosts.write_text(
            f'server = "{url}"\n\n[host."{url}"]\n  capabilities = ["pull", "resolve", "push"]\n'
        )
        # CRI reports NetworkReady=false (the node stays NotReady) until a CNI config loads; a
        # bridge without gateway or masquerade: pods reach only each other and the host.
        conflist = {
            "cniVersion": "1.0.0",
            "name": "flotilla-real-node",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": False,
                    "ipMasq": False,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_CIDR}]],
                        "dataDir": str(STATE_DIR / "cni" / "ipam"),
                    },
                }
            ],
        }
        (STATE_DIR / "cni" / "net.d" / "10-flotilla.conflist").write_text(json.dumps(conflist, indent=2))
        proc = self._spawn("containerd", ["containerd", "--config", str(self._containerd_config())])
        proc.wait_until(lambda: _ctr("version", check=False).returncode == 0, 30, "serving its socket")

    def _start_registry(self) -> None:
        config = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {
                "filesystem": {"rootdirectory": str(STATE_DIR / "registry")},
                "delete": {"enabled": True},
            },
            "http": {"addr": f"{LOOPBACK}:{self.registry_port}"},
        }
        path = STATE_DIR / "registry.yml"
        path.write_text(yaml.safe_dump(config))
        proc = self._spawn("registry", ["docker-registry", "serve", str(path)])

        def answers() -> bool:
            import urllib.request

            with urllib.request.urlopen(f"http://{LOOPBACK}:{self.registry_port}/v2/", timeout=2) as reply:
                return bool(reply.status == 200)

        proc.wait_until(answers, 30, "answering /v2/")

    def _make_images(self) -> None:
        folder = cache_root() / "realnode-images"
        _ctr("images", "import", str(images.cached_archive(folder, PAUSE_IMAGE, "pause", images.PAUSE_CMD)))
        for tag in LOCAL_IMAGES:
            ref = f"flotilla.local/busybox:{tag}"
            _ctr("images", "import", str(images.cached_archive(folder, ref, tag)))
            self.images[tag] = ref
        for tag in REGISTRY_IMAGES:
            # the name (hence the archive) carries the registry's port, chosen per start
            ref = f"{LOOPBACK}:{self.registry_port}/flotilla/busybox:{tag}"
            self.push_image(ref, tag)
            self.images[tag] = ref

    def push_image(self, ref: str, label: str, cmd: tuple[str, ...] | None = None) -> None:
        """Put a busybox image of content `label` (main process `cmd`, default the image module's)
        into the loopback registry as `ref` (which names ``127.0.0.1:<registry_port>``), without
        leaving a copy in the node's CRI namespace. The same `label` and `cmd` give the same
        digest under every `ref`."""
        archive = STATE_DIR / "images" / f"{label}.tar"
        images.write_oci_archive(archive, ref, label, cmd or images.DEFAULT_CMD)
        # pushed from a namespace of its own and removed there: the node's CRI namespace
        # (k8s.io) has no copy, so the kubelet's pull is a real one
        _ctr("images", "import", str(archive), namespace=_PUSH_NAMESPACE)
        _ctr("images", "push", "--plain-http", ref, namespace=_PUSH_NAMESPACE)
        _ctr("images", "rm", "--sync", ref, namespace=_PUSH_NAMESPACE)

    def has_image(self, ref: str) -> bool:
        """Does the node's CRI namespace hold `ref` (pulled or imported)?"""
        return ref in _ctr("images", "ls", "-q").stdout.split()

    def remove_image(self, ref: str) -> None:
        """Remove `ref` from the node's CRI namespace (no error when absent), so the next pod
        that names it makes the kubelet pull it again."""
        _ctr("images", "rm", "--sync", ref, check=False)

    # ------------------------------------------------------------ kubelet
    def _node_credentials(self) -> Path:
        pki = STATE_DIR / "pki"
        client = issue_client_cert(self.ca, pki, "kubelet", f"system:node:{NODE_NAME}", "system:nodes")
        kubeconfig = STATE_DIR / "kubelet.kubeconfig"
        write_kubeconfig(
            kubeconfig,
            server=self.server,
            ca_cert=self.ca.cert,
            user=f"system:node:{NODE_NAME}",
            client=client,
        )
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"flotilla-{NODE_NAME}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:node",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": f"system:node:{NODE_NAME}"}
            ],
        }
        with contextlib.suppress(Exception):  # already there from an earlier node on this cluster
            self.api("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding)
        return kubeconfig

    def _kubelet_config(self) -> Path:
        serving = issue_serving_cert(
            self.ca, STATE_DIR / "pki", "kubelet-serving", (NODE_IP, LOOPBACK, NODE_NAME)
        )
        endpoint = f"unix://{_socket()}"
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": False,  # Kubernetes >= 1.35 refuses cgroup v1 otherwise
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": "/",  # a custom root must pre-exist in every controller
            "cgroupsPerQOS": True,
            "failSwapOn": False,
            "containerRuntimeEndpoint": endpoint,
            "imageServiceEndpoint": endpoint,
            "address": NODE_IP,
            "port": free_port(),
            "readOnlyPort": 0,
            "healthzBindAddress": LOOPBACK,
            "healthzPort": free_port(),
            "tlsCertFile": str(serving.cert),
            "tlsPrivateKeyFile": str(serving.key),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": False},
                "x509": {"clientCAFile": str(self.ca.cert)},
            },
            "authorization": {"mode": "AlwaysAllow"},
            "staticPodPath": "",
            "podCIDR": POD_CIDR,
            "clusterDomain": "cluster.local",
            "resolvConf": "/etc/resolv.conf",
            # the disk is shared with the machine: never evict or GC images for disk pressure
            "evictionHard": {},
            "enforceNodeAllocatable": [],
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "protectKernelDefaults": False,
            "makeIPTablesUtilChains": False,
            "localStorageCapacityIsolation": False,
            "syncFrequency": "5s",
            "nodeStatusUpdateFrequency": "5s",
            "fileCheckFrequency": "5s",
            "serializeImagePulls": False,
            "registerNode": True,
            "registerWithTaints": [{"key": NODE_KEY, "value": "true", "effect": "NoSchedule"}],
            "maxPods": 50,
            "podLogsDir": str(STATE_DIR / "pod-logs"),
        }
        path = STATE_DIR / "kubelet-config.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def _start_kubelet(self, kubelet: Path) -> None:
        saved = {}
        for key in KUBELET_SYSCTLS:
            saved[key] = _run(["sysctl", "-n", key]).stdout.strip()
        (STATE_DIR / "sysctl-before.json").write_text(json.dumps(saved))
        kubeconfig = self._node_credentials()
        config = self._kubelet_config()
        proc = self._spawn(
            "kubelet",
            [
                str(kubelet),
                f"--config={config}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={STATE_DIR / 'kubelet'}",
                f"--cert-dir={STATE_DIR / 'kubelet' / 'pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                f"--node-labels={NODE_KEY}=true",
                "--v=2",
            ],
        )
        proc.wait_until(self.ready, self.startup_timeout, f"registered as a Ready node {NODE_NAME}")

    def import_image(self, archive: Path, timeout: float = 600) -> None:
        """Import an OCI archive into the node's CRI namespace (``ctr -n k8s.io images import``)."""
        _run(["ctr", "-a", str(_socket()), "-n", "k8s.io", "images", "import", str(archive)], timeout=timeout)

    def ready(self) -> bool:
        node = json.loads(self.api("GET", f"/api/v1/nodes/{NODE_NAME}", None))
        conditions = node.get("status", {}).get("conditions", [])
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def _delete_pods(self, timeout: float = 30.0) -> None:
        """Delete every pod bound to the node and wait until the kubelet has stopped them."""
        path = f"/api/v1/pods?fieldSelector=spec.nodeName%3D{NODE_NAME}"
        for pod in json.loads(self.api("GET", path, None)).get("items", []):
            meta = pod["metadata"]
            with contextlib.suppress(Exception):
                self.api(
                    "DELETE",
                    f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                    {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 1},
                )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and json.loads(self.api("GET", path, None)).get("items"):
            time.sleep(0.2)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


def _toml_tables(name: str, table: dict[str, object]) -> list[str]:
    """`table` as TOML: scalars under ``[name]``, nested dicts as ``[name.key]`` tables."""
    lines = [f"[{name}]"]
    nested: list[tuple[str, dict[str, object]]] = []
    for key, value in table.items():
        if isinstance(value, dict):
            nested.append((key, value))
        else:
            lines.append(f"  {key} = {_toml_value(value)}")
    for key, value in nested:
        lines += _toml_tables(f"{name}.{key}", value)
    return lines
