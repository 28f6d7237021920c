"""The real-node mode of the conformance harness (`make conformance-realnode`): kruise's node-side
specs (`specs.REALNODE_SPEC_FILES`) on a real node (containerd + runc + kubelet,
`flotilla.devcluster.realnode`) instead of kwok nodes.

The run's control plane has no kwok node; the real node joins it untainted (kruise's specs neither
tolerate nor select), so every pod the specs make runs in a real container. The node side is, for
the baseline, kruise-daemon v1.9.1 out of cluster (`start_kruise_daemon`: the arguments and
environment of kruise's config/manager/manager.yaml DaemonSet, its CRI socket found where the
DaemonSet mounts it, ``/hostvarrun``) next to kruise-manager; for Flotilla, ``flotilla node-agent``
for the node (`start_node_agent`) next to the workers.

Images: kruise's e2e framework takes its images from k8s.io/kubernetes/test/utils/image (the
kubernetes module kruise v1.9.1 builds with, v1.32.10), each under the ``promoterE2eRegistry``
of the YAML file ``KUBE_TEST_REPO_LIST`` names. `push_e2e_images` puts busybox-static images
under those names and tags into the node's loopback registry, and `repo_list` points the
registry there, so the kubelet's and the daemon's pulls are real pulls that never leave the
machine. The images are busybox, not httpd/agnhost/nginx/redis: what the specs use of them is a
long-running main process that exits on SIGTERM and ``sleep`` for their hooks; busybox's own main
process is ``sh``, as in the real image (it exits at once without a terminal: CloneSet's
"should not update the next when the previous one failed" counts on that crash).

CloneSet's specs that need real containers (`specs.CLONESET_REALNODE_LINES`) also name Docker Hub images
(``docker.io/library/nginx:alpine`` and ``:mainline-alpine``, one digest under two tags): the
node's containerd resolves ``docker.io`` to the loopback registry (`docker_hub_mirror`), which
holds them under the same repository path, so nothing is fetched from outside either.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import yaml

from flotilla.devcluster.agentcreds import node_agent_kubeconfig
from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.ports import LOOPBACK, free_port
from flotilla.devcluster.process import ComponentError, ManagedProcess
from flotilla.devcluster.realnode import NODE_KEY, STATE_DIR, RealNode

#: The path under the registry kruise's framework reads ``promoterE2eRegistry`` images from.
E2E_REPOSITORY: Final = "e2e-test-images"
#: (name, tag) of every ``promoterE2eRegistry`` image kruise v1.9.1's common.types names
#: (k8s.io/kubernetes v1.32.10 test/utils/image/manifest.go: Httpd, HttpdNew, Agnhost, BusyBox,
#: Nginx, NginxNew).
E2E_IMAGES: Final = (
    ("httpd", "2.4.38-4"),
    ("httpd", "2.4.39-4"),
    ("agnhost", "2.53"),
    ("busybox", "1.36.1-1"),
    ("nginx", "1.14-4"),
    ("nginx", "1.15-4"),
    ("redis", "5.0.5-3"),
)
#: busybox's main process in the real image (``CMD ["sh"]``); the others run until SIGTERM.
E2E_COMMANDS: Final[dict[str, tuple[str, ...]]] = {"busybox": ("sh",)}

#: Docker Hub images CloneSet's "in-place update images with the same imageID" names (registry
#: ``docker.io/library`` set by the spec), all with the content `DOCKER_HUB_LABEL`: one digest.
DOCKER_HUB: Final = "docker.io"
DOCKER_HUB_IMAGES: Final = (("library/nginx", "alpine"), ("library/nginx", "mainline-alpine"))
DOCKER_HUB_LABEL: Final = "e2e-nginx-alpine"

#: Where kruise-daemon looks for the CRI socket: the DaemonSet mounts the host's /var/run there
#: (pkg/daemon/criruntime/factory_unix.go); ``--socket-file`` names the socket in it.
HOSTVARRUN: Final = Path("/hostvarrun")
SOCKET_FILE: Final = "containerd.sock"
#: config/manager/manager.yaml's kruise-daemon arguments (kruise v1.9.1); ``--addr`` (metrics and
#: /healthz) and ``--pprof-addr`` are put on loopback by `start_kruise_daemon`.
DAEMON_FLAGS: Final = (
    "--logtostderr=true",
    "-v=5",
    "--feature-gates=AllAlpha=true,AllBeta=true",
    "--max-workers-for-pull-image=2",
)


def e2e_registry(registry: str) -> str:
    """``promoterE2eRegistry`` for a registry at `registry` (``host:port``)."""
    return f"{registry}/{E2E_REPOSITORY}"


def e2e_image_refs(registry: str) -> list[str]:
    """The references the specs' pods and jobs name, with the registry at `registry`."""
    return [f"{e2e_registry(registry)}/{name}:{tag}" for name, tag in E2E_IMAGES]


def repo_list(registry: str) -> str:
    """The ``KUBE_TEST_REPO_LIST`` file: the promoter's e2e registry moved to `registry`."""
    return yaml.safe_dump({"promoterE2eRegistry": e2e_registry(registry)})


def hosts_toml(registry: str) -> str:
    """containerd's ``hosts.toml`` sending every pull of a registry to the loopback `registry`
    (``host:port``, plain HTTP) and nowhere else."""
    url = f"http://{registry}"
    return f'server = "{url}"\n\n[host."{url}"]\n  capabilities = ["pull", "resolve"]\n'


def docker_hub_mirror(registry: str) -> Path:
    """Point the node's containerd at `registry` for ``docker.io`` (read at each pull); the path."""
    path = STATE_DIR / "containerd" / "certs.d" / DOCKER_HUB / "hosts.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(hosts_toml(registry))
    return path


def socket_path() -> Path:
    """The node's containerd socket (`flotilla.devcluster.realnode`)."""
    return STATE_DIR / "containerd" / SOCKET_FILE


def start_node(env: DevEnvironment) -> RealNode:
    """Start the real node on `env`'s control plane, untainted, with the e2e images in its
    registry; the caller stops it (`RealNode.stop`) before the control plane."""
    cluster = env.cluster
    if cluster is None or cluster.pki is None:
        raise ComponentError("the real node needs the launcher's own control plane")
    node = RealNode(server=cluster.server, ca=cluster.pki.ca, api=cluster.api_request)
    node.start()
    try:
        # registered with a NoSchedule taint (ordinary tests' pods stay on kwok nodes); kruise's
        # specs do not tolerate it, and here it is the only node
        env.kubectl("taint", "node", node.name, f"{NODE_KEY}:NoSchedule-")
        registry = f"{LOOPBACK}:{node.registry_port}"
        for ref, (name, tag) in zip(e2e_image_refs(registry), E2E_IMAGES, strict=True):
            node.push_image(ref, f"e2e-{name}-{tag}", E2E_COMMANDS.get(name))
        docker_hub_mirror(registry)
        for repository, tag in DOCKER_HUB_IMAGES:
            node.push_image(f"{registry}/{repository}:{tag}", DOCKER_HUB_LABEL)
    except BaseException:
        node.stop()
        raise
    return node


@contextlib.contextmanager
def runtime_socket_link(socket: Path) -> Iterator[None]:
    """``/hostvarrun`` -> the folder of `socket` while kruise-daemon runs (removed after); refuses
    to replace a ``/hostvarrun`` it did not make."""
    target = socket.parent
    if HOSTVARRUN.is_symlink() and Path(os.readlink(HOSTVARRUN)) == target:
        HOSTVARRUN.unlink()  # a crashed run's link
    if HOSTVARRUN.exists() or HOSTVARRUN.is_symlink():
        raise ComponentError(f"{HOSTVARRUN} exists and is not this harness's link: kruise-daemon needs it")
    HOSTVARRUN.symlink_to(target)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            HOSTVARRUN.unlink()


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start_kruise_daemon(env: DevEnvironment, binary: Path, node: str) -> ManagedProcess:
    """kruise-daemon for `node` out of cluster (the cluster admin's kubeconfig, not its RBAC);
    returns once /healthz answers. ``/hostvarrun`` must point at the socket's folder."""
    port = free_port()
    process_env = dict(os.environ)
    process_env.update(
        KUBECONFIG=str(env.kubeconfig),
        NODE_NAME=node,
        KUBE_CACHE_MUTATION_DETECTOR="true",
    )
    process = ManagedProcess(
        "kruise-daemon",
        [
            str(binary),
            *DAEMON_FLAGS,
            f"--socket-file={SOCKET_FILE}",
            f"--addr={LOOPBACK}:{port}",
            f"--pprof-addr={LOOPBACK}:{free_port()}",
            # no credential provider plugins (the DaemonSet's default path does not exist here either)
            f"--plugin-config-file={env.run_dir / 'no-credential-plugins.yaml'}",
        ],
        env.run_dir / "logs" / "kruise-daemon.log",
        env=process_env,
    )
    process.start()
    process.wait_until(lambda: _ok(f"http://{LOOPBACK}:{port}/healthz"), 120, "healthy (/healthz)")
    return process


#: Kinds whose specs count NodeImages against Nodes in their BeforeEach (kruise's
#: ``NodeImageTester.ExpectNodes``): the node's NodeImage must exist before they start.
NODE_IMAGE_KINDS: Final = frozenset({"ImagePullJob", "ImageListPullJob"})


def wait_node_image(env: DevEnvironment, node: str, timeout: float = 180.0) -> None:
    """Wait until the NodeImage of `node` exists (kruise-manager / the nodeimage worker make it
    ``--nodeimage-creation-delay`` after the node is Ready)."""
    cluster = env.cluster
    assert cluster is not None
    path = f"/apis/apps.kruise.io/v1beta1/nodeimages/{node}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            cluster.api_request("GET", path)
            return
        except urllib.error.HTTPError as err:
            if err.code != 404:
                raise
        time.sleep(1)
    raise ComponentError(f"no NodeImage {node} {timeout:.0f}s after the node and its controllers started")


def start_node_agent(env: DevEnvironment, node: str, extra_env: dict[str, str]) -> ManagedProcess:
    """``flotilla node-agent`` for `node` (CRRs and image pulls through the node's CRI socket), with
    the chart's least-privilege RBAC (`agentcreds`), not the admin's; returns once /readyz answers
    (its first lists are in and containerd answers)."""
    port = free_port()
    kubeconfig = node_agent_kubeconfig(env)
    argv = [sys.executable, "-m", "flotilla.cli", "node-agent", "--node-name", node]
    argv += ["--cri-endpoint", f"unix://{socket_path()}", "--kubeconfig", str(kubeconfig)]
    argv += ["--http-port", str(port)]
    process = ManagedProcess(
        "node-agent",
        argv,
        env.run_dir / "logs" / "node-agent.log",
        env={**os.environ, **extra_env, "KUBECONFIG": str(kubeconfig)},
    )
    process.start()
    process.wait_until(lambda: _ok(f"http://{LOOPBACK}:{port}/readyz"), 60, "ready (/readyz)")
    return process
