"""Real `flotilla watcher` processes run with the chart's watcher identity and configuration.

Two processes are started exactly as the installed watcher Deployment runs them (its args
and env; POD_NAME / POD_NAMESPACE filled in as the kubelet would) with a kubeconfig holding
only the watcher ServiceAccount's token. Proves the chart's least-privilege RBAC is enough
for the real watcher: one replica takes the chart's Lease, the other stands by, a CloneSet
created anywhere in the cluster reaches JetStream as a reconcile trigger, and neither log
shows an authorization error.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from flotilla.devcluster.env import DevEnvironment
from schemas.bus.streams import RECONCILE_STREAM
from schemas.bus.subjects import reconcile_subject
from tests.integration.helm.helm_release import Kubectl, eventually, get
from tests.integration.helm.identity import service_account_kubeconfig

FLOTILLA = Path(sys.executable).parent / "flotilla"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Replica:
    """One watcher process in the shape of a pod of the chart's Deployment."""

    pod_name: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    def metric(self, name: str) -> float | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as response:
                body = response.read().decode()
        except (urllib.error.URLError, OSError):
            return None
        for line in body.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rpartition(" ")[2])
        return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _pod_environment(container: dict[str, Any], pod_name: str, namespace: str) -> dict[str, str]:
    """The container's env as the kubelet resolves it (fieldRefs and $(VAR) references)."""
    fields = {"metadata.name": pod_name, "metadata.namespace": namespace}
    env: dict[str, str] = {}
    for item in container["env"]:
        if "value" in item:
            value = item["value"]
            for known, resolved in env.items():
                value = value.replace(f"$({known})", resolved)
            env[item["name"]] = value
        else:
            env[item["name"]] = fields[item["valueFrom"]["fieldRef"]["fieldPath"]]
    return env


@pytest.fixture
def replicas(
    dev_env: DevEnvironment, kubectl: Kubectl, release: tuple[str, str, str], tmp_path: Path
) -> Iterator[list[Replica]]:
    name, namespace, _ = release
    deployment = get(kubectl, "-n", namespace, "deployment", f"{name}-flotilla-watcher")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    config = service_account_kubeconfig(
        kubectl, dev_env.kubeconfig, namespace, pod["serviceAccountName"], tmp_path
    )
    started: list[Replica] = []
    try:
        for index in range(deployment["spec"]["replicas"]):
            pod_name = f"{name}-flotilla-watcher-{index}"
            port = _free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "KUBERNETES_"))}
            env.update(_pod_environment(container, pod_name, namespace))
            # What differs from a pod: the API server and NATS are on loopback, and so is the port.
            env.update(KUBECONFIG=str(config), NATS_URL=dev_env.nats_url, FLOTILLA_HTTP_PORT=str(port))
            log = tmp_path / f"{pod_name}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [str(FLOTILLA), *container["args"]],
                    env=env,
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                )
            started.append(Replica(pod_name, port, log, process))
        yield started
    finally:
        for replica in started:
            replica.stop()


async def test_chart_watchers_elect_a_leader_and_publish_with_only_their_rbac(
    kubectl: Kubectl,
    release: tuple[str, str, str],
    namespace: str,
    replicas: list[Replica],
    jetstream: JetStreamContext,
) -> None:
    name, release_namespace, _ = release
    lease_name = f"{name}-flotilla-watcher"

    def logs() -> str:
        return "\n".join(f"--- {r.pod_name}\n{r.log.read_text(errors='replace')[-3000:]}" for r in replicas)

    def holder() -> str | None:
        lease = kubectl("get", "lease", lease_name, "-n", release_namespace, "-o", "json", check=False)
        if lease.returncode != 0:
            return None
        return str(json.loads(lease.stdout)["spec"].get("holderIdentity") or "")

    try:
        leader = eventually(holder, timeout=60)
        assert leader in {r.pod_name for r in replicas}
        roles = eventually(
            lambda: sorted(r.metric("flotilla_watcher_is_leader") or 0.0 for r in replicas) == [0.0, 1.0],
            timeout=30,
        )
        assert roles, "one leader and one standby"

        kubectl(
            "apply", "-n", namespace, "-f", "-",
            input=(
                "apiVersion: apps.kruise.io/v1alpha1\nkind: CloneSet\nmetadata: {name: traced}\n"
                "spec:\n  replicas: 0\n  selector: {matchLabels: {app: traced}}\n"
                "  template:\n    metadata: {labels: {app: traced}}\n"
                "    spec: {containers: [{name: app, image: nginx:1.27}]}\n"
            ),
        )  # fmt: skip
        subject = reconcile_subject("cloneset", namespace, "traced")

        async def published() -> bool:
            try:
                await jetstream.get_last_msg(RECONCILE_STREAM, subject)
            except NotFoundError:
                return False
            return True

        for _ in range(120):
            if await published():
                break
            await asyncio.sleep(0.5)
        assert await published(), f"no trigger on {subject}\n{logs()}"
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{logs()}") from None
    text = logs().lower()
    assert "forbidden" not in text, logs()
    assert " 403" not in text, logs()
    assert all(r.process.poll() is None for r in replicas), logs()
