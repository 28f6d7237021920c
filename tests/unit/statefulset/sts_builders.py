"""Small builders for Advanced StatefulSet planner tables: a set, its pods, a plan summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from workers.runtime import actions as runtime
from workers.statefulset.builder import StatefulSetPlan
from workers.statefulset.observed import ObservedStatefulSet, PlannerConfig
from workers.statefulset.planner import plan

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
UID = "uid-web"
IMAGE_A = "nginx:1.25"
IMAGE_B = "nginx:1.26"


def template(image: str = IMAGE_A) -> dict[str, Any]:
    # InPlaceUpdateReady: kruise's webhook (and so the worker) refuses an in-place policy without it
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {
            "containers": [{"name": "main", "image": image}],
            "readinessGates": [{"conditionType": "InPlaceUpdateReady"}],
        },
    }


def sts(
    replicas: int = 3, image: str = IMAGE_A, status: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "ns", "uid": UID, "generation": 2},
        "spec": {
            "replicas": replicas,
            "serviceName": "web-svc",
            "selector": {"matchLabels": {"app": "web"}},
            "template": template(image),
            **spec,
        },
    }
    if status:
        body["status"] = status
    return body


def pod(
    ordinal: int,
    revision: str,
    *,
    phase: str = "Running",
    ready: bool = True,
    ready_for: float = 3600.0,
    deleting: bool = False,
    labels: dict[str, str] | None = None,
    owner: bool = True,
    name: str = "web",
    image: str = IMAGE_A,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": f"{name}-{ordinal}",
        "namespace": "ns",
        "uid": f"uid-{name}-{ordinal}",
        "resourceVersion": "7",
        "labels": {
            "app": "web",
            "controller-revision-hash": revision,
            "statefulset.kubernetes.io/pod-name": f"{name}-{ordinal}",
            **(labels or {}),
        },
    }
    if owner:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps.kruise.io/v1beta1",
                "kind": "StatefulSet",
                "name": "web",
                "uid": UID,
                "controller": True,
            }
        ]
    if deleting:
        meta["deletionTimestamp"] = "2026-11-29T11:59:00Z"
    since = (NOW - timedelta(seconds=ready_for)).strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions = [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": since}]
    statuses = [{"name": "main", "image": image, "imageID": f"id-{image}"}]
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "main", "image": image}]},
        "status": {"phase": phase, "conditions": conditions, "containerStatuses": statuses},
    }


def run(
    set_body: dict[str, Any],
    pods: list[dict[str, Any]] = (),  # type: ignore[assignment]
    revisions: list[dict[str, Any]] = (),  # type: ignore[assignment]
    claims: list[dict[str, Any]] = (),  # type: ignore[assignment]
    config: PlannerConfig | None = None,
) -> StatefulSetPlan:
    observed = ObservedStatefulSet.of(set_body, pods, claims, revisions)
    return plan(observed, config or PlannerConfig(), NOW)


def created_revision(result: StatefulSetPlan) -> dict[str, Any]:
    """The ControllerRevision a first pass creates (fed back to later passes, as the API server would)."""
    for action in result.actions:
        if isinstance(action, runtime.CreateObject) and action.resource.plural == "controllerrevisions":
            return dict(action.body)
    raise AssertionError("no revision created")


def rev_name(revision: dict[str, Any]) -> str:
    return str(revision["metadata"]["name"])


def steps(result: StatefulSetPlan) -> list[str]:
    """The plan's pod / PVC / revision writes as short lines (Events and status left out)."""
    out: list[str] = []
    for action in result.actions:
        match action:
            case runtime.CreateObject(resource, _, body):
                out.append(f"create {resource.plural} {body['metadata']['name']}")
            case runtime.DeleteObject(resource, _, name, _uid, _rv):
                out.append(f"delete {resource.plural} {name}")
            case runtime.PatchObject(resource, _, name, _patch, _pt, subresource) if subresource != "status":
                out.append(f"patch {resource.plural} {name}")
    return out


def events(result: StatefulSetPlan) -> list[tuple[str, str, str]]:
    return [(a.type, a.reason, a.message) for a in result.actions if isinstance(a, runtime.EmitEvent)]


def status_of(result: StatefulSetPlan) -> dict[str, Any]:
    for action in result.actions:
        if isinstance(action, runtime.PatchObject) and action.subresource == "status":
            return dict(action.patch["status"])
    return {}


def created_pod(result: StatefulSetPlan, name: str) -> dict[str, Any]:
    for action in result.actions:
        if isinstance(action, runtime.CreateObject) and action.body["metadata"]["name"] == name:
            return dict(action.body)
    raise AssertionError(f"pod {name} not created")
