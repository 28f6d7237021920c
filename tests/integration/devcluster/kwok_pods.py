"""Plain pods for the tests of kwok's fake kubelet (no controller owns them)."""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s


def condition(pod: k8s.V1Pod, kind: str) -> str | None:
    """The status ("True"/"False") of the pod's condition ``kind``, None if it has none."""
    return next((c.status for c in pod.status.conditions or [] if c.type == kind), None)


def pod_manifest(name: str, gates: list[str]) -> dict[str, Any]:
    """A pod with two containers (main nginx:1.26, side busybox:1.36) and these readiness gates."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "readinessGates": [{"conditionType": g} for g in gates],
            "containers": [
                {"name": "main", "image": "nginx:1.26"},
                {"name": "side", "image": "busybox:1.36"},
            ],
        },
    }
