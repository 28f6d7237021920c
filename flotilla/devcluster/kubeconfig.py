"""Kubeconfig files for the local control plane's users (admin, components, tests).

Pure file writing: `cluster.py` calls it once per identity. Certificates are embedded
as data so the file works when copied elsewhere.
"""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from flotilla.devcluster.pki import CertPair


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    ca_cert: Path,
    user: str,
    client: CertPair | None = None,
    token: str | None = None,
    context: str = "flotilla-dev",
    namespace: str | None = None,
) -> Path:
    """Write a single-context kubeconfig authenticating with a client cert or a token."""
    credentials: dict[str, str] = {}
    if client is not None:
        credentials["client-certificate-data"] = _b64(client.cert)
        credentials["client-key-data"] = _b64(client.key)
    if token is not None:
        credentials["token"] = token
    context_body: dict[str, str] = {"cluster": "flotilla-dev", "user": user}
    if namespace:
        context_body["namespace"] = namespace
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "flotilla-dev",
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_cert)},
            }
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": context, "context": context_body}],
        "current-context": context,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
    return path
