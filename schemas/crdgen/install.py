"""Install the generated CRDs on a cluster (server-side apply) and wait until they are Established.

``install_crds`` is idempotent and safe to call from several test sessions at once: it applies
with one field manager and ``force``, then polls each CRD's ``Established`` condition. Used by
the integration tests of every worker type, the dev environment and ``flotilla crds install``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import urllib3
import yaml
from kubernetes import client as k8s

from schemas.crdgen.generate import DEFAULT_CRD_DIR

FIELD_MANAGER = "flotilla-crds"


class CrdInstallError(RuntimeError):
    """A CRD was refused by the API server or did not become Established in time."""


def load_crds(crd_dir: Path = DEFAULT_CRD_DIR) -> list[dict[str, Any]]:
    """The CRD documents in ``crd_dir`` (every ``*.yaml``, sorted by file name)."""
    docs: list[dict[str, Any]] = []
    for path in sorted(crd_dir.glob("*.yaml")):
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    if not docs:
        raise CrdInstallError(f"no CRDs found in {crd_dir}; run `flotilla crds generate`")
    return docs


def _established(api: k8s.ApiextensionsV1Api, name: str) -> tuple[bool, str]:
    raw = cast("urllib3.BaseHTTPResponse", api.read_custom_resource_definition(name, _preload_content=False))
    crd = json.loads(raw.data)
    conditions = {c["type"]: c for c in (crd.get("status") or {}).get("conditions") or []}
    if conditions.get("Established", {}).get("status") == "True":
        return True, ""
    names = conditions.get("NamesAccepted", {})
    return False, names.get("message", "") if names.get("status") == "False" else ""


def _served(api_client: k8s.ApiClient, crd: dict[str, Any]) -> bool:
    """Every served version answers a LIST (Established can come a moment before the routes)."""
    objects = k8s.CustomObjectsApi(api_client)
    spec = crd["spec"]
    for version in spec["versions"]:
        try:
            objects.list_cluster_custom_object(
                spec["group"], version["name"], spec["names"]["plural"], limit=1, _preload_content=False
            )
        except k8s.ApiException as err:
            if err.status == 404:
                return False
            raise
    return True


def _drop_stale_webhook_conversion(api: k8s.ApiextensionsV1Api, crd: dict[str, Any]) -> None:
    """Before applying a CRD that converts with ``None``: if the live one converts through a webhook
    (set by ``flotilla webhook --crd-conversion``, as kruise-manager does), set it back to ``None``
    first. The apply alone cannot: it would own ``strategy`` but not the webhook's ``clientConfig``,
    which the API server refuses next to ``None``. A running webhook points the CRD at itself again
    on its next upkeep round; one that is gone (uninstalled) no longer breaks v1alpha1 reads."""
    if ((crd.get("spec") or {}).get("conversion") or {}).get("strategy", "None") != "None":
        return
    name = crd["metadata"]["name"]
    try:
        response = api.read_custom_resource_definition(name, _preload_content=False)
    except k8s.ApiException as err:
        if err.status == 404:
            return
        raise CrdInstallError(f"reading CRD {name}: {err.status} {err.body}") from err
    live = json.loads(cast("urllib3.BaseHTTPResponse", response).data)
    if ((live.get("spec") or {}).get("conversion") or {}).get("strategy") != "Webhook":
        return
    try:
        api.patch_custom_resource_definition(
            name,
            {"spec": {"conversion": {"strategy": "None", "webhook": None}}},
            _content_type="application/merge-patch+json",
            _preload_content=False,
        )
    except k8s.ApiException as err:
        message = f"the API server refused resetting CRD {name}'s conversion: {err.status} {err.body}"
        raise CrdInstallError(message) from err


def install_crds(
    api_client: k8s.ApiClient,
    *,
    crd_dir: Path = DEFAULT_CRD_DIR,
    names: Sequence[str] | None = None,
    timeout: float = 60.0,
) -> list[str]:
    """Server-side apply the CRDs in ``crd_dir`` (only ``names`` if given); wait until they are served.

    Waits for the ``Established`` condition and then until every served version answers a LIST.

    Returns the names of the CRDs applied. Raises :class:`CrdInstallError` when the API server
    refuses one or one is not Established within ``timeout`` seconds.
    """
    api = k8s.ApiextensionsV1Api(api_client)
    crds = [c for c in load_crds(crd_dir) if names is None or c["metadata"]["name"] in names]
    by_name = {c["metadata"]["name"]: c for c in crds}
    applied: list[str] = []
    for crd in crds:
        name = crd["metadata"]["name"]
        _drop_stale_webhook_conversion(api, crd)
        try:
            api.patch_custom_resource_definition(
                name,
                crd,
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type="application/apply-patch+yaml",
                _preload_content=False,
            )
        except k8s.ApiException as err:
            raise CrdInstallError(f"the API server refused CRD {name}: {err.status} {err.body}") from err
        applied.append(name)
    deadline = time.monotonic() + timeout
    pending = list(applied)
    while pending:
        reasons = {}
        for name in list(pending):
            ok, reason = _established(api, name)
            if ok and _served(api_client, by_name[name]):
                pending.remove(name)
            else:
                reasons[name] = reason
        if not pending:
            break
        if time.monotonic() > deadline:
            detail = "; ".join(f"{n}: {r or 'not Established yet'}" for n, r in reasons.items())
            raise CrdInstallError(f"CRDs not Established after {timeout:.0f}s: {detail}")
        time.sleep(0.2)
    return applied
