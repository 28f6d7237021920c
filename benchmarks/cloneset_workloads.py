"""The objects the CloneSet benchmark creates: one pod template, wrapped by each controller.

Every variant runs the same pod (one container, no service-account token, no grace period)
under the labels ``app=<run name>``, so the only difference between two runs is the
controller. Updates use one ``maxUnavailable`` and no surge for every controller. Pure
builders of JSON-ready dicts; used by ``benchmarks/cloneset_scenarios.py``.
"""

from __future__ import annotations

from typing import Any

from flotilla.runtime.kube import Resource

REPLICASETS = Resource("apps", "v1", "replicasets")
DEPLOYMENTS = Resource("apps", "v1", "deployments")
CLONESETS = Resource("apps.kruise.io", "v1alpha1", "clonesets")

IMAGE_V1 = "registry.local/flotilla-bench:v1"
IMAGE_V2 = "registry.local/flotilla-bench:v2"
CONTAINER = "app"
#: Kruise's default for CloneSet; Deployments get the same (and maxSurge 0, kruise's default).
MAX_UNAVAILABLE = "20%"

#: Variant name -> the resource it creates (the raw loop creates pods itself).
RESOURCES = {
    "replicaset": REPLICASETS,
    "cloneset": CLONESETS,
    "deployment": DEPLOYMENTS,
    "cloneset-inplace": CLONESETS,
    "cloneset-recreate": CLONESETS,
    # the same CloneSets, reconciled by kruise-manager (on its own control plane)
    "kruise": CLONESETS,
    "kruise-inplace": CLONESETS,
    "kruise-recreate": CLONESETS,
}

Json = dict[str, Any]


def pod_template(name: str, image: str) -> Json:
    return {
        "metadata": {"labels": {"app": name}},
        "spec": {
            "containers": [{"name": CONTAINER, "image": image}],
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 0,
        },
    }


def bare_pod(name: str, image: str) -> Json:
    """The raw loop's pod: the same template, no owner (the loop adds the name)."""
    return {"apiVersion": "v1", "kind": "Pod", **pod_template(name, image)}


def replicaset(name: str, replicas: int, image: str) -> Json:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name, image),
        },
    }


def deployment(name: str, replicas: int, image: str) -> Json:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": MAX_UNAVAILABLE, "maxSurge": 0},
            },
            "template": pod_template(name, image),
        },
    }


def cloneset(name: str, replicas: int, image: str, strategy: str = "ReCreate") -> Json:
    """``strategy``: ReCreate or InPlaceIfPossible."""
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "CloneSet",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "updateStrategy": {"type": strategy, "maxUnavailable": MAX_UNAVAILABLE, "maxSurge": 0},
            "template": pod_template(name, image),
        },
    }


def workload(variant: str, name: str, replicas: int, image: str) -> Json:
    """The object a controller variant is given."""
    if variant == "replicaset":
        return replicaset(name, replicas, image)
    if variant == "deployment":
        return deployment(name, replicas, image)
    if variant in ("cloneset", "cloneset-recreate", "kruise", "kruise-recreate"):
        return cloneset(name, replicas, image, "ReCreate")
    if variant in ("cloneset-inplace", "kruise-inplace"):
        return cloneset(name, replicas, image, "InPlaceIfPossible")
    raise ValueError(f"unknown variant {variant!r}")


def image_patch(image: str) -> Json:
    """A merge patch setting the template's (only) container image."""
    return {"spec": {"template": {"spec": {"containers": [{"name": CONTAINER, "image": image}]}}}}
