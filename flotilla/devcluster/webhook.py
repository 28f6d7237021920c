"""Register ``flotilla webhook`` with a local control plane, by URL on loopback.

The webhook configurations come from the chart itself (``helm template --show-only
templates/webhook-registration.yaml``), so the dev cluster and the tests register exactly what a
Helm install registers; the running webhook then turns each ``service`` clientConfig into
``https://127.0.0.1:<port>/...`` and sets ``caBundle`` (``--url-host``, :mod:`webhook.certstore`).
Used by ``flotilla dev up`` (:mod:`flotilla.devcluster.demo`) and the webhook's integration tests.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from flotilla.devcluster.toolchain import ensure_binaries

CHART = Path(__file__).resolve().parents[2] / "charts" / "flotilla"
#: With release name "flotilla" the chart names the webhook (Service, configurations) this.
WEBHOOK_NAME = "flotilla-webhook"
CONFIGURATION_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")


def rendered_registrations(namespace: str) -> list[dict[str, Any]]:
    """The chart's Mutating/ValidatingWebhookConfiguration for a release "flotilla" in ``namespace``."""
    rendered = render_chart(namespace, "templates/webhook-registration.yaml", "webhook.enabled=true")
    return [doc for doc in rendered if doc.get("kind") in CONFIGURATION_KINDS]


def render_chart(namespace: str, template: str, *values: str) -> list[dict[str, Any]]:
    """The objects of one chart `template` (``helm template --show-only``) for a release "flotilla"
    in ``namespace``, with ``--set`` `values`."""
    helm = ensure_binaries(["helm"], log=False)["helm"]
    sets = [arg for value in values for arg in ("--set", value)]
    with tempfile.TemporaryDirectory(prefix="flotilla-helm-") as home:
        env = {
            "HELM_CACHE_HOME": home,
            "HELM_CONFIG_HOME": home,
            "HELM_DATA_HOME": home,
            "PATH": "/usr/bin:/bin",
        }
        result = subprocess.run(
            [str(helm), "template", "flotilla", str(CHART), "--namespace", namespace,
             "--show-only", template, *sets],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"helm template of {template} failed: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def webhook_args(namespace: str, port: int, kubeconfig: Path) -> list[str]:
    """``flotilla webhook`` arguments for serving the rendered registrations on loopback."""
    return [
        "webhook", "--kubeconfig", str(kubeconfig), "--namespace", namespace,
        "--service-name", WEBHOOK_NAME, "--url-host", "127.0.0.1", "--bind-address", "127.0.0.1",
        "--port", str(port),
    ]  # fmt: skip
