"""A reconcile in a namespace being deleted has nothing to do: no failure, no dead letter.

The API server refuses every create in a terminating namespace with 403 Forbidden and the cause
``NamespaceTerminating``; everything in the namespace is going away with it. Seen under the soak:
a CloneSet of a namespace a test had just deleted kept failing its ControllerRevision create and
was dead-lettered. Here the real API server's answer is classified, and a CloneSet-like create
in such a namespace is shown to be a clean outcome for the runtime.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
from kubernetes import client as k8s

from flotilla.runtime.errors import NamespaceTerminating
from flotilla.runtime.kube import CONFIGMAPS, KubeClient
from tests.support.fixtures import kube

__all__ = ["kube"]

HOLD = "flotilla.dev/test-hold"


def _configmap(name: str, finalizers: list[str] | None = None) -> dict[str, object]:
    metadata: dict[str, object] = {"name": name}
    if finalizers:
        metadata["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {}}


async def test_a_create_in_a_terminating_namespace_is_namespace_terminating(
    kube: KubeClient, api_client: k8s.ApiClient
) -> None:
    core = k8s.CoreV1Api(api_client)
    namespace = f"t-terminating-{secrets.token_hex(3)}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
    # a ConfigMap with a finalizer holds the namespace in Terminating until it is released
    await kube.create(CONFIGMAPS.path(namespace), _configmap("held", [HOLD]))
    core.delete_namespace(namespace)
    try:
        deadline = time.monotonic() + 30
        while core.read_namespace(namespace).status.phase != "Terminating":
            assert time.monotonic() < deadline, "the namespace never went Terminating"
            await asyncio.sleep(0.2)
        with pytest.raises(NamespaceTerminating) as refused:
            await kube.create(CONFIGMAPS.path(namespace), _configmap("new"))
        assert refused.value.status == 403
        assert "being terminated" in str(refused.value)
    finally:
        await kube.patch(CONFIGMAPS.path(namespace, "held"), {"metadata": {"finalizers": None}})
