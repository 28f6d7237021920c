"""Helm and kubectl helpers of the chart's integration tests (the real local API server).

`helm` runs the project's helm against a kubeconfig; `install` is a `helm install --wait`
of charts/flotilla; `get`, `exists` and `eventually` read and poll objects through kubectl.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support import polling
from tests.unit.helm.chart_render import CHART, helm_run

Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


def helm(
    kubeconfig: Path, *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return helm_run(*args, "--kubeconfig", str(kubeconfig), check=check, timeout=timeout)


def install(kubeconfig: Path, release: str, namespace: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return helm(
        kubeconfig,
        "install", release, str(CHART), "--namespace", namespace,
        "--wait", "--timeout", "4m", *extra,
    )  # fmt: skip


def get(kubectl: Kubectl, *args: str) -> Any:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def exists(kubectl: Kubectl, *args: str) -> bool:
    result = kubectl("get", *args, "--ignore-not-found", "-o", "name", check=False)
    assert result.returncode == 0, result.stderr
    return bool(result.stdout.strip())


def eventually(check: Callable[[], Any], timeout: float = 90, interval: float = 0.5) -> Any:
    """Poll until `check` returns something truthy (helm's releases settle slower)."""
    return polling.eventually(check, timeout=timeout, interval=interval)
