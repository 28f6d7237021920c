"""Kubernetes Events (core/v1) on the objects Flotilla reconciles.

Used by the action executor (``EmitEvent``) and by dead-lettering, so a user sees why a
reconcile gave up with ``kubectl describe`` / ``kubectl get events``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from flotilla.runtime.kube import EVENTS, JsonObject, KubeClient


@dataclass(frozen=True)
class ObjectRef:
    """Enough of an object to point an Event at it."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str = ""
    resource_version: str = ""

    @classmethod
    def of(cls, obj: JsonObject) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(
            api_version=str(obj.get("apiVersion", "")),
            kind=str(obj.get("kind", "")),
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid", "")),
            resource_version=str(meta.get("resourceVersion", "")),
        )


async def emit_event(
    api: KubeClient,
    involved: ObjectRef,
    reason: str,
    message: str,
    event_type: str = "Normal",
    component: str = "",
) -> None:
    """Create one Event in the object's namespace (``default`` for cluster-scoped objects)."""
    namespace = involved.namespace or "default"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    event: JsonObject = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{involved.name}.{secrets.token_hex(8)}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": involved.api_version,
            "kind": involved.kind,
            "namespace": involved.namespace,
            "name": involved.name,
            "uid": involved.uid,
            "resourceVersion": involved.resource_version,
        },
        "reason": reason,
        "message": message[:1024],
        "type": event_type,
        "source": {"component": component or "flotilla"},
        "reportingComponent": component or "flotilla",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    await api.create(EVENTS.path(namespace), event)
