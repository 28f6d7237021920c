"""``flotilla webhook`` registered with the session control plane, by URL on loopback.

``admission_webhook`` (one per test module) renders the chart's webhook configurations
(:mod:`flotilla.devcluster.webhook`), creates them, starts ``flotilla webhook --url-host
127.0.0.1`` as a process (kruise's deletion-protection gates and ImagePullJobGate on; kruise's configuration
ConfigMap and SidecarSet ControllerRevisions read from the webhook's own namespace) and waits
until the API server really calls it: a server-side dry-run delete of a protected probe Deployment
is refused. At teardown the configurations go first (nothing later can be refused by a stopped webhook), then
the process and the namespaces. ``start_webhook`` starts more processes (TLS tests).
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.webhook import WEBHOOK_NAME, rendered_registrations, webhook_args
from tests.support.polling import eventually
from tests.support.workers import FLOTILLA, free_port
from tests.support.workerstack import start_process, stop_processes

GATES = "ResourcesDeletionProtection=true,DeletionProtectionForCRDCascadingGate=true,ImagePullJobGate=true"
PROTECTION_LABEL = "policy.kruise.io/delete-protection"


@dataclass
class Webhook:
    namespace: str
    port: int
    http_port: int
    log: Path
    proc: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-8000:] if self.log.exists() else ""


def start_webhook(
    dev_env: DevEnvironment, namespace: str, log: Path, *extra: str, service_name: str = WEBHOOK_NAME
) -> Webhook:
    port, http_port = free_port(), free_port()
    args = [str(FLOTILLA), *webhook_args(namespace, port, dev_env.kubeconfig)]
    args += ["--service-name", service_name, "--http-port", str(http_port), "--feature-gates", GATES, *extra]
    return Webhook(namespace, port, http_port, log, start_process(args, log))


def stop_webhook(webhook: Webhook) -> None:
    stop_processes(webhook.proc)


def secret_ca(core: k8s.CoreV1Api, namespace: str, name: str) -> bytes:
    secret = core.read_namespaced_secret(name, namespace)
    return base64.b64decode(secret.data["ca-cert.pem"])


def create_namespace(core: k8s.CoreV1Api, name: str, labels: dict[str, str] | None = None) -> None:
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels=labels or {})))


@pytest.fixture(scope="module")
def admission_webhook(
    dev_env: DevEnvironment,
    api_client: k8s.ApiClient,
    kruise_crds: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Webhook]:
    core = k8s.CoreV1Api(api_client)
    suffix = os.urandom(3).hex()
    home, probe_ns = f"flotilla-webhook-{suffix}", f"t-webhook-probe-{suffix}"
    create_namespace(core, home)
    create_namespace(core, probe_ns)
    registrations = rendered_registrations(home)
    dev_env.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(registrations))
    # kruise's configuration ConfigMap and the SidecarSet ControllerRevisions in the webhook's own
    # namespace: a test writes them without touching kruise-system or default.
    webhook = start_webhook(
        dev_env,
        home,
        tmp_path_factory.mktemp("webhook") / "webhook.log",
        "--kruise-configuration",
        f"{home}/kruise-configuration",
        "--revision-namespace",
        home,
    )
    probe = "probe"
    try:
        dev_env.kubectl("create", "deployment", probe, "-n", probe_ns, "--image=nginx", "--replicas=0")
        dev_env.kubectl("label", "deployment", probe, "-n", probe_ns, f"{PROTECTION_LABEL}=Always")

        def refused() -> str:
            assert webhook.proc.poll() is None, f"flotilla webhook exited:\n{webhook.log_text()}"
            result = dev_env.kubectl(
                "delete", "deployment", probe, "-n", probe_ns, "--dry-run=server", check=False
            )
            return (
                result.stderr
                if 'webhook "vbuiltindeployment.kb.io" denied the request' in result.stderr
                else ""
            )

        eventually(
            refused, timeout=90, interval=0.5, what=lambda: f"the webhook called\n{webhook.log_text()}"
        )
        yield webhook
    finally:
        for doc in registrations:
            dev_env.kubectl("delete", doc["kind"], doc["metadata"]["name"], "--ignore-not-found", check=False)
        stop_webhook(webhook)
        for name in (probe_ns, home):
            dev_env.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
