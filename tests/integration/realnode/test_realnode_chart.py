"""The chart's own pods on the real node: Flotilla's image, built on this machine
(:mod:`flotilla.devcluster.image`), imported into the node's containerd, and ``helm install`` of
charts/flotilla so the watcher, the CloneSet worker and the node agent run as real pods under the
chart's securityContext, probes and mounts as shipped.

Only what the environment needs is set: the real node's nodeSelector and toleration, the image,
``hostNetwork`` (the API server and NATS listen on the node's loopback; there is no pod network
and no kube-proxy, so the in-cluster address is the loopback one through ``extraEnv``), a free host
port per component, the node's CRI socket, and one watcher replica (the second would want the
same host port on the one node). Then:

1. every pod of the release is on the real node, Ready (its readiness probe answered), not
   restarted; each container's process (found through containerd from the pod's containerID)
   runs as UID 65532 with a read-only root filesystem, as the chart asks (the node agent is Ready
   only after its CRI Version call through the mounted socket answered);
2. a CloneSet on the kwok nodes (no toleration: the real node is tainted) is scaled up and
   rolled to a new image; its status is reconciled, and the worker pod's own /metrics (its host
   port) counts the CloneSet reconciles: the chart's pods did it.

The cold image build takes minutes (docs/deploy.md), so this file runs in its own make target,
``make test-realnode-chart`` (FLOTILLA_REALNODE_CHART=1; see tests/integration/realnode/conftest.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from flotilla.devcluster import image
from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.ports import free_port
from flotilla.devcluster.realnode import NODE_KEY, NODE_NAME, STATE_DIR, RealNode
from tests.integration.helm.helm_release import helm
from tests.unit.helm.chart_render import CHART

pytestmark = pytest.mark.usefixtures("kruise_crds")

RELEASE = "flt"
NAMESPACE = "flotilla-realnode"
WORKLOADS = "realnode-chart-cs"
UID = 65532


@dataclass
class Release:
    ports: dict[str, int]
    image: image.BuiltImage


def _kubectl_json(dev_env: DevEnvironment, *args: str) -> Any:
    return json.loads(dev_env.kubectl(*args, "-o", "json").stdout)


def _pod_logs(pod: dict[str, Any]) -> str:
    """The container logs the kubelet wrote (read from the node's folder: no kubelet proxy here)."""
    meta = pod["metadata"]
    folder = STATE_DIR / "pod-logs" / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"
    parts = []
    for log in sorted(folder.glob("*/*.log")):
        parts.append(f"--- {log.relative_to(folder)} ---\n{log.read_text(errors='replace')[-3000:]}")
    return "\n".join(parts) or f"(no logs in {folder})"


def _describe(dev_env: DevEnvironment) -> str:
    pods = _kubectl_json(dev_env, "get", "pods", "-n", NAMESPACE)["items"]
    events = dev_env.kubectl("get", "events", "-n", NAMESPACE, check=False).stdout
    out = [events[-4000:]]
    for pod in pods:
        out.append(f"=== {pod['metadata']['name']}: {json.dumps(pod.get('status', {}))[-1500:]}")
        out.append(_pod_logs(pod))
    return "\n".join(out)


def _ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _wait(dev_env: DevEnvironment, what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s\n{_describe(dev_env)}")
        time.sleep(1)


@pytest.fixture(scope="module")
def flotilla_image(real_node: RealNode) -> image.BuiltImage:
    built = image.build()
    real_node.import_image(built.archive)
    print(f"\nimage {built.ref}: {built.size / 2**20:.1f} MiB, {built.seconds:.1f} s (cached={built.cached})")
    return built


@pytest.fixture(scope="module")
def release(
    dev_env: DevEnvironment, real_node: RealNode, flotilla_image: image.BuiltImage
) -> Iterator[Release]:
    server = urlparse(dev_env.cluster.server if dev_env.cluster else "")
    assert server.hostname, "the session's API server address"
    assert server.port, "the session's API server address"
    repository, tag = flotilla_image.ref.rsplit(":", 1)
    ports = {"watcher": free_port(), "cloneset": free_port(), "node-agent": free_port()}
    off = ("statefulset", "uniteddeployment", "broadcastjob", "advancedcronjob", "podunavailablebudget")
    values = {
        "image": {"repository": repository, "tag": tag},
        "hostNetwork": True,
        "nodeSelector": {NODE_KEY: "true"},
        "tolerations": [{"key": NODE_KEY, "operator": "Exists", "effect": "NoSchedule"}],
        "extraEnv": [
            {"name": "KUBERNETES_SERVICE_HOST", "value": server.hostname},
            {"name": "KUBERNETES_SERVICE_PORT", "value": str(server.port)},
        ],
        "nats": {"url": dev_env.nats_url},
        "watcher": {"replicas": 1, "httpPort": ports["watcher"]},
        "workers": {"cloneset": {"httpPort": ports["cloneset"]}, **{t: {"enabled": False} for t in off}},
        "webhook": {"enabled": False},
        "nodeAgent": {
            "enabled": True,
            "criSocket": str(STATE_DIR / "containerd" / "containerd.sock"),
            "httpPort": ports["node-agent"],
        },
    }
    dev_env.kubectl("create", "namespace", NAMESPACE)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as file:
        yaml.safe_dump(values, file)
    try:
        helm(dev_env.kubeconfig, "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "-f", file.name)
        yield Release(ports, flotilla_image)
    finally:
        helm(dev_env.kubeconfig, "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", check=False)
        dev_env.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
        Path(file.name).unlink(missing_ok=True)


def _container_pid(container_id: str) -> int:
    """The host PID of a container's main process, asked of the node's containerd."""
    socket = STATE_DIR / "containerd" / "containerd.sock"
    listing = subprocess.run(
        ["ctr", "-a", str(socket), "-n", "k8s.io", "tasks", "ls"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cid = container_id.split("://", 1)[1]
    for line in listing.splitlines():
        fields = line.split()
        if fields and fields[0] == cid:
            return int(fields[1])
    raise AssertionError(f"containerd runs no task {cid}:\n{listing}")


def _root_mount_options(pid: int) -> set[str]:
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == "/":
            return set(fields[5].split(","))
    raise AssertionError(f"no root mount in /proc/{pid}/mountinfo")


def _uids(pid: int) -> list[int]:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^Uid:\s+(.*)$", status, re.MULTILINE)
    assert match, status
    return [int(u) for u in match.group(1).split()]


def _metric(port: int, name: str, labels: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and labels in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_the_charts_pods_run_on_the_real_node_and_reconcile_a_cloneset(
    dev_env: DevEnvironment, release: Release
) -> None:
    # 1. the release's pods: Ready on the real node as shipped (securityContext, probes, mounts)
    expected = {"watcher", "worker-cloneset", "node-agent"}

    def all_ready() -> list[dict[str, Any]] | None:
        pods = _kubectl_json(dev_env, "get", "pods", "-n", NAMESPACE)["items"]
        components = {p["metadata"]["labels"].get("app.kubernetes.io/component") for p in pods}
        if components != expected or not all(_ready(p) for p in pods):
            return None
        return pods

    started = time.monotonic()
    pods = _wait(dev_env, "the release's pods Ready", all_ready, 240)
    print(f"\nrelease pods Ready {time.monotonic() - started:.1f} s after helm install returned")
    for pod in pods:
        name = pod["metadata"]["name"]
        assert pod["spec"]["nodeName"] == NODE_NAME, name
        assert pod["spec"]["hostNetwork"] is True, name
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        [container] = pod["spec"]["containers"]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        [status] = pod["status"]["containerStatuses"]
        assert status["restartCount"] == 0, f"{name} restarted:\n{_pod_logs(pod)}"
        assert status["imageID"], name
        pid = _container_pid(status["containerID"])
        assert _uids(pid) == [UID] * 4, f"{name} runs as {_uids(pid)}"
        assert "ro" in _root_mount_options(pid), f"{name}'s root filesystem is writable"

    # 2. a CloneSet on kwok nodes, reconciled by the chart's worker pod
    port = release.ports["cloneset"]
    before = _metric(port, "flotilla_reconciles_total", 'type="cloneset"')
    dev_env.kubectl("create", "namespace", WORKLOADS)
    try:
        cloneset = {
            "apiVersion": "apps.kruise.io/v1alpha1",
            "kind": "CloneSet",
            "metadata": {"name": "web", "namespace": WORKLOADS},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "updateStrategy": {"type": "InPlaceIfPossible"},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "flotilla.local/web:v1"}]},
                },
            },
        }
        dev_env.kubectl("apply", "-f", "-", input=json.dumps(cloneset))

        def status_at(image_ref: str) -> dict[str, Any] | None:
            obj = _kubectl_json(dev_env, "get", "clonesets.apps.kruise.io", "web", "-n", WORKLOADS)
            status = obj.get("status", {})
            done = (
                status.get("observedGeneration") == obj["metadata"]["generation"]
                and status.get("readyReplicas") == 3
                and status.get("updatedReadyReplicas") == 3
            )
            if not done:
                return None
            pods = _kubectl_json(dev_env, "get", "pods", "-n", WORKLOADS, "-l", "app=web")["items"]
            images = {c["image"] for p in pods for c in p["spec"]["containers"]}
            return status if images == {image_ref} and len(pods) == 3 else None

        _wait(dev_env, "CloneSet web: 3 ready pods", lambda: status_at("flotilla.local/web:v1"), 120)
        pods = _kubectl_json(dev_env, "get", "pods", "-n", WORKLOADS, "-l", "app=web")["items"]
        assert all(p["spec"]["nodeName"] != NODE_NAME for p in pods), "the CloneSet's pods are on kwok nodes"
        uids = {p["metadata"]["uid"] for p in pods}
        v2 = {"containers": [{"name": "app", "image": "flotilla.local/web:v2"}]}
        patch = json.dumps({"spec": {"template": {"spec": v2}}})
        dev_env.kubectl(
            "patch", "clonesets.apps.kruise.io", "web", "-n", WORKLOADS, "--type=merge", "-p", patch
        )
        status = _wait(dev_env, "CloneSet web rolled to v2", lambda: status_at("flotilla.local/web:v2"), 120)
        pods = _kubectl_json(dev_env, "get", "pods", "-n", WORKLOADS, "-l", "app=web")["items"]
        assert {p["metadata"]["uid"] for p in pods} == uids, "updated in place: the same pods"
        assert status["updateRevision"] == status["currentRevision"]
        after = _metric(port, "flotilla_reconciles_total", 'type="cloneset"')
        assert after > before, f"the worker pod counted no CloneSet reconcile ({before} -> {after})"
    finally:
        dev_env.kubectl("delete", "namespace", WORKLOADS, "--wait=false", check=False)
