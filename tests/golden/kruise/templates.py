"""The CloneSets whose revisions, pod labels and status are recorded from kruise-manager.

Non-trivial on purpose: several containers, init containers, env (values, field and
ConfigMap references), volumes and mounts, resources, probes, labels and annotations, a
volumeClaimTemplate, and strings Go's JSON encoder escapes (``<``, ``>``, ``&``). Each has
an ``update``: a second template the recorder rolls to, so there are two revisions.
"""

from __future__ import annotations

from typing import Any

NAMESPACE = "golden"


def _meta(name: str) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": {"golden": name}}


MULTI_CONTAINER: dict[str, Any] = {
    "apiVersion": "apps.kruise.io/v1alpha1",
    "kind": "CloneSet",
    "metadata": _meta("multi"),
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "multi"}},
        "updateStrategy": {"type": "InPlaceIfPossible"},
        "template": {
            "metadata": {
                "labels": {"app": "multi", "tier": "web"},
                "annotations": {"example.com/owner": "team-a"},
            },
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "nginx:1.25",
                        "ports": [{"name": "http", "containerPort": 80}],
                        "env": [
                            {"name": "MODE", "value": "production"},
                            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                            {
                                "name": "POD_LABEL",
                                "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['tier']"}},
                            },
                        ],
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "64Mi"},
                            "limits": {"cpu": "500m", "memory": "128Mi"},
                        },
                        "volumeMounts": [
                            {"name": "cache", "mountPath": "/cache"},
                            {"name": "conf", "mountPath": "/etc/conf", "readOnly": True},
                        ],
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 80}, "periodSeconds": 5},
                    },
                    {
                        "name": "sidecar",
                        "image": "busybox:1.36",
                        "command": ["sh", "-c", "while true; do echo a<b && b>c; sleep 3600; done"],
                        "resources": {"requests": {"cpu": "10m", "memory": "8Mi"}},
                        "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
                    },
                ],
                "volumes": [
                    {"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}},
                    {"name": "conf", "configMap": {"name": "multi-conf", "optional": True}},
                ],
                "terminationGracePeriodSeconds": 10,
            },
        },
    },
}

MULTI_CONTAINER_UPDATE = {"web": "nginx:1.26"}

WITH_CLAIMS: dict[str, Any] = {
    "apiVersion": "apps.kruise.io/v1alpha1",
    "kind": "CloneSet",
    "metadata": _meta("claims"),
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "claims"}},
        "updateStrategy": {"type": "ReCreate", "maxUnavailable": 1},
        "scaleStrategy": {"maxUnavailable": "50%"},
        "revisionHistoryLimit": 5,
        "minReadySeconds": 1,
        "volumeClaimTemplates": [
            {
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }
        ],
        "template": {
            "metadata": {"labels": {"app": "claims"}},
            "spec": {
                "initContainers": [
                    {
                        "name": "init",
                        "image": "busybox:1.36",
                        "command": ["sh", "-c", "echo init > /data/ready"],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }
                ],
                "containers": [
                    {
                        "name": "app",
                        "image": "redis:7.2",
                        "args": ["--appendonly", "yes"],
                        "env": [
                            {
                                "name": "SETTING",
                                "valueFrom": {
                                    "configMapKeyRef": {"name": "claims-conf", "key": "s", "optional": True}
                                },
                            }
                        ],
                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "sleep 1"]}}},
                    }
                ],
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [
                    {"key": "example.com/dedicated", "operator": "Exists", "effect": "NoSchedule"}
                ],
                "securityContext": {"runAsNonRoot": False, "fsGroup": 1000},
            },
        },
    },
}

WITH_CLAIMS_UPDATE = {"app": "redis:7.4"}

#: name -> (CloneSet, the images of the update).
TEMPLATES: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "multi": (MULTI_CONTAINER, MULTI_CONTAINER_UPDATE),
    "claims": (WITH_CLAIMS, WITH_CLAIMS_UPDATE),
}
