"""Flotilla's processes started as the chart's pods would run them, for the helm tests.

`start_like_pods` reads an installed Deployment and starts one local process per replica
with the Deployment's args and env (fieldRefs resolved as the kubelet would) and a
kubeconfig holding only the component's ServiceAccount token (`identity.py`).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.ports import free_port
from tests.integration.helm.helm_release import Kubectl, get
from tests.integration.helm.identity import service_account_kubeconfig

FLOTILLA = Path(sys.executable).parent / "flotilla"


@dataclass
class Replica:
    """One Flotilla process in the shape of a pod of the chart's Deployment."""

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


def pod_environment(container: dict[str, Any], pod_name: str, namespace: str) -> dict[str, str]:
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


def start_like_pods(
    dev_env: DevEnvironment,
    kubectl: Kubectl,
    namespace: str,
    deployment_name: str,
    tmp_path: Path,
    extra_env: dict[str, str] | None = None,
) -> list[Replica]:
    """One process per replica of the installed Deployment, each as its pod would run
    (``extra_env`` on top: what a local process needs that a pod does not)."""
    deployment = get(kubectl, "-n", namespace, "deployment", deployment_name)
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    config = service_account_kubeconfig(
        kubectl, dev_env.kubeconfig, namespace, pod["serviceAccountName"], tmp_path
    )
    started: list[Replica] = []
    for index in range(deployment["spec"]["replicas"]):
        pod_name = f"{deployment_name}-{index}"
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "KUBERNETES_"))}
        env.update(pod_environment(container, pod_name, namespace))
        # What differs from a pod: the API server and NATS are on loopback, and so is the port.
        env.update(KUBECONFIG=str(config), NATS_URL=dev_env.nats_url, FLOTILLA_HTTP_PORT=str(port))
        env.update(extra_env or {})
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
    return started


#: The API server refuses writes into a namespace being deleted with a 403 that is no
#: authorization error: a worker still reconciling a CloneSet of an earlier test's
#: terminating namespace meets it. Everything else forbidden is an RBAC denial.
_NAMESPACE_TERMINATING = "because it is being terminated"


#: 403 as a number of its own: "port 40307" in a log line is not a refusal.
_STATUS_403 = re.compile(r"\b403\b")


def authorization_denials(log_text: str) -> list[str]:
    """Log lines reporting a 403/forbidden that is not a terminating namespace's refusal."""
    return [
        line
        for line in log_text.lower().splitlines()
        if ("forbidden" in line or _STATUS_403.search(line)) and _NAMESPACE_TERMINATING not in line
    ]


def terminating_namespace_refusals(log_text: str) -> int:
    """How many 403s in a log were a terminating namespace's refusal (not RBAC)."""
    return sum(_NAMESPACE_TERMINATING in line for line in log_text.lower().splitlines())
