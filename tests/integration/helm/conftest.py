"""The chart installed once for the session's read-only chart tests."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helm.helm_release import Kubectl, helm, install


@pytest.fixture(scope="session")
def release(kubeconfig: Path, kubectl: Kubectl) -> Iterator[tuple[str, str, str]]:
    """A default install: (release name, its namespace, the NOTES helm printed)."""
    suffix = secrets.token_hex(3)
    name, namespace = f"fl-{suffix}", f"flotilla-helm-{suffix}"
    kubectl("create", "namespace", namespace)
    try:
        result = install(kubeconfig, name, namespace)
        yield name, namespace, result.stdout
    finally:
        helm(kubeconfig, "uninstall", name, "--namespace", namespace, "--wait", check=False)
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)
