"""Tiny builders for CloneSet planner tests: a CloneSet, its pods, PVCs and revisions as plain data.

Every builder returns what the API server would hand the shell (the schemas model for the
CloneSet, JSON dicts for the rest), so tests feed the planner exactly what production does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.kruise.cloneset import CloneSet
from workers.cloneset.actions import (
    Action,
    CreatePods,
    DeletePod,
    EmitEvent,
    PatchPod,
    Plan,
    UpdateStatus,
)
from workers.cloneset.config import PlannerConfig
from workers.cloneset.history import new_revision
from workers.cloneset.observed import ObservedCloneSet
from workers.cloneset.planner import plan
from workers.podmechanics.kube_json import JsonObject, format_time

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
UID = "cs-uid"
LABELS = {"app": "web"}


def template(
    image: str = "nginx:1", *, env: str | None = None, labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": image}
    if env is not None:
        container["env"] = [{"name": "MODE", "value": env}]
    return {"metadata": {"labels": dict(labels or LABELS)}, "spec": {"containers": [container]}}


def cloneset(
    replicas: int = 3,
    *,
    image: str = "nginx:1",
    env: str | None = None,
    strategy: Mapping[str, Any] | None = None,
    scale: Mapping[str, Any] | None = None,
    lifecycle: Mapping[str, Any] | None = None,
    status: Mapping[str, Any] | None = None,
    min_ready_seconds: int = 0,
    claim_templates: list[dict[str, Any]] | None = None,
    template_labels: Mapping[str, str] | None = None,
    generation: int = 1,
    progress_deadline: int | None = None,
) -> CloneSet:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": dict(LABELS)},
        "template": template(image, env=env, labels=template_labels),
        "updateStrategy": dict(strategy or {}),
        "scaleStrategy": dict(scale or {}),
        "minReadySeconds": min_ready_seconds,
    }
    if lifecycle is not None:
        spec["lifecycle"] = dict(lifecycle)
    if progress_deadline is not None:
        spec["progressDeadlineSeconds"] = progress_deadline
    if claim_templates is not None:
        spec["volumeClaimTemplates"] = claim_templates
    return CloneSet.from_wire(
        {
            "apiVersion": "apps.kruise.io/v1alpha1",
            "kind": "CloneSet",
            "metadata": {
                "name": "web",
                "namespace": "ns",
                "uid": UID,
                "generation": generation,
                "resourceVersion": "100",
            },
            "spec": spec,
            "status": dict(status or {}),
        }
    )


def revision(cs: CloneSet, number: int = 1) -> dict[str, Any]:
    """The ControllerRevision the planner makes for ``cs``'s template."""
    rev = new_revision(cs, number, cs.status.collision_count or 0)
    rev["metadata"]["creationTimestamp"] = format_time(NOW - timedelta(hours=1))  # type: ignore[index]
    return rev


def rev_name(cs: CloneSet) -> str:
    return str(revision(cs)["metadata"]["name"])


def pod(
    name: str,
    rev: str,
    *,
    ready: bool = True,
    phase: str = "Running",
    node: str = "node-1",
    state: str | None = "Normal",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    ready_for: int = 3600,
    created_ago: int = 7200,
    image: str = "nginx:1",
    in_place_ready: bool | None = True,
    owner: str | None = UID,
    scheduled: bool = True,
    finalizers: list[str] | None = None,
    restarts: int = 0,
) -> dict[str, Any]:
    all_labels = {**LABELS, "controller-revision-hash": rev, "pod-template-hash": rev.rsplit("-", 1)[-1]}
    all_labels["apps.kruise.io/cloneset-instance-id"] = name.rsplit("-", 1)[-1]
    if state is not None:
        all_labels["lifecycle.apps.kruise.io/state"] = state
    all_labels.update(labels or {})
    conditions: list[dict[str, Any]] = [{"type": "PodScheduled", "status": "True" if scheduled else "False"}]
    transition = format_time(NOW - timedelta(seconds=ready_for))
    conditions.append(
        {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": transition}
    )
    conditions.append({"type": "ContainersReady", "status": "True" if ready else "False"})
    if in_place_ready is not None:
        conditions.append({"type": "InPlaceUpdateReady", "status": "True" if in_place_ready else "False"})
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": "ns",
        "uid": f"uid-{name}",
        "resourceVersion": f"rv-{name}",
        "labels": all_labels,
        "annotations": dict(annotations or {}),
        "creationTimestamp": format_time(NOW - timedelta(seconds=created_ago)),
    }
    if owner is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "apps.kruise.io/v1alpha1",
                "kind": "CloneSet",
                "name": "web",
                "uid": owner,
                "controller": True,
            }
        ]
    if finalizers:
        metadata["finalizers"] = finalizers
    return {
        "metadata": metadata,
        "spec": {
            "nodeName": node if scheduled else "",
            "containers": [{"name": "app", "image": image}],
            "readinessGates": [{"conditionType": "InPlaceUpdateReady"}],
        },
        "status": {
            "phase": phase,
            "conditions": conditions,
            "containerStatuses": [
                {
                    "name": "app",
                    "image": image,
                    "imageID": f"sha-{image}",
                    "ready": ready,
                    "restartCount": restarts,
                }
            ],
        },
    }


def run(
    cs: CloneSet,
    pods: list[dict[str, Any]] | None = None,
    revisions: list[dict[str, Any]] | None = None,
    *,
    pvcs: list[dict[str, Any]] | None = None,
    config: PlannerConfig | None = None,
    now: datetime = NOW,
    seed: int = 7,
) -> Plan:
    if revisions is None:
        revisions = [revision(cs)]
    observed = ObservedCloneSet.of(cs, pods or [], pvcs or [], revisions, name_seed=seed)
    return plan(observed, config or PlannerConfig(), now)


# -- reading a plan --------------------------------------------------------------------------------


def pod_actions(p: Plan) -> list[Action]:
    """The actions that touch pods (no status, revisions, events)."""
    return [a for a in p.actions if isinstance(a, CreatePods | DeletePod | PatchPod)]


def batch_sizes(p: Plan) -> list[int]:
    return [len(a.pods) for a in p.actions if isinstance(a, CreatePods)]


def created(p: Plan) -> list[JsonObject]:
    return [n.pod for a in p.actions if isinstance(a, CreatePods) for n in a.pods]


def deleted(p: Plan) -> list[str]:
    return [a.name for a in p.actions if isinstance(a, DeletePod)]


def patched(p: Plan, subresource: str = "") -> dict[str, list[JsonObject]]:
    out: dict[str, list[JsonObject]] = {}
    for a in p.actions:
        if isinstance(a, PatchPod) and a.subresource == subresource:
            out.setdefault(a.name, []).append(a.patch)
    return out


def events(p: Plan) -> list[tuple[str, str]]:
    return [(a.event.reason, a.event.message) for a in p.actions if isinstance(a, EmitEvent)]


def status_of(p: Plan) -> JsonObject | None:
    found = [a.status for a in p.actions if isinstance(a, UpdateStatus)]
    assert len(found) <= 1
    if found:
        assert isinstance(p.actions[-1], UpdateStatus), "status must be the last action"
    return found[0] if found else None


def label(obj: JsonObject, key: str) -> str:
    metadata = obj["metadata"]
    assert isinstance(metadata, Mapping)
    labels = metadata["labels"]
    assert isinstance(labels, Mapping)
    return str(labels[key])
