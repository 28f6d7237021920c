"""The chart installed once for the session's read-only chart tests."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helm.helm_release import Kubectl, helm, install


@pytest.fixture(scope="session")
def release(kubeconfig: Path, kubectl: Kubectl) -> Iterator[tuple[str, str, str]]:
    """A default install but for the webhook: (release name, its namespace, the NOTES helm printed).

    The webhook stays off here: its registrations would point the API server at a Service
    ClusterIP that nothing routes on this machine (no kube-proxy; kwok pods serve nothing), so
    every pod write of the tests that run alongside would wait for the webhook's timeout and the
    connection attempts would leave the machine by the default route. The chart unit tests show it
    is on by default; test_webhook_installed_by_helm_answers_a_real_admission installs it and
    serves it from a local process registered by URL.
    """
    suffix = secrets.token_hex(3)
    name, namespace = f"fl-{suffix}", f"flotilla-helm-{suffix}"
    kubectl("create", "namespace", namespace)
    try:
        result = install(kubeconfig, name, namespace, "--set", "webhook.enabled=false")
        yield name, namespace, result.stdout
    finally:
        helm(kubeconfig, "uninstall", name, "--namespace", namespace, "--wait", check=False)
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)
