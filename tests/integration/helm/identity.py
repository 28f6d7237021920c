"""Act as a ServiceAccount of the installed chart: a kubeconfig holding its token.

`service_account_kubeconfig` asks the API server for a short-lived token of the
ServiceAccount (the TokenRequest API, `kubectl create token`) and writes a kubeconfig
with the admin kubeconfig's cluster and that token as the only credential, so a process
or kubectl run with it has exactly the chart's RBAC for that component.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import yaml

Kubectl = Callable[..., "CompletedProcess[str]"]


def service_account_kubeconfig(
    kubectl: Kubectl, admin_kubeconfig: Path, namespace: str, service_account: str, directory: Path
) -> Path:
    token = kubectl("create", "token", service_account, "-n", namespace, "--duration=1h").stdout.strip()
    admin: dict[str, Any] = yaml.safe_load(admin_kubeconfig.read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    cluster = next(c for c in admin["clusters"] if c["name"] == context["cluster"])
    name = f"{namespace}-{service_account}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [
            {"name": name, "context": {"cluster": cluster["name"], "user": name, "namespace": namespace}}
        ],
        "current-context": name,
    }
    path = directory / f"{name}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path
