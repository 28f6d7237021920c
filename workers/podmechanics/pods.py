"""What a workload planner needs to know about one Pod, read once from its JSON.

``read_pod`` reads a pod dict once per plan into a :class:`PodView` (a frozen record of what
the predicates ask: labels, condition by type, revision, lifecycle state, readiness, ...,
plus the raw dict for building patches). The predicates below are ports of those kruise and
Kubernetes use (``podutil.IsPodReady`` / ``IsPodAvailable``, ``kubecontroller.IsPodActive``,
kruise's ``IsPodUpdateReady``, lifecycle hook matching, revision-hash equality) over that
record, so a plan walks each pod's JSON once instead of at every question. Nothing here knows
which workload owns the pod (a CloneSet's instance id and its notion of "available" are in
``workers.cloneset.clonepods``). Pure; called by the other ``workers.podmechanics`` modules and
the workload planners (``creation_time`` also reads plain JSON objects: PVCs, revisions).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.kruise.pub import (
    CONTROLLER_REVISION_HASH_LABEL,
    INPLACE_UPDATE_READY_CONDITION,
    LIFECYCLE_STATE_LABEL,
    POD_DELETION_COST_ANNOTATION,
    SPECIFIED_DELETE_LABEL,
    LifecycleHook,
)
from workers.podmechanics.kube_json import (
    JsonObject,
    as_object,
    as_objects,
    as_string_map,
    as_text,
    field,
    integer,
    parse_time,
    strings,
)

_DELETION_COST = re.compile(r"^(0|-?[1-9][0-9]*)$")


@dataclass(frozen=True, slots=True)
class PodView:
    """One pod as a planner sees it: read once per plan by :func:`read_pod`."""

    raw: JsonObject
    """The pod as observed (patches are built from it)."""
    name: str
    uid: str
    resource_version: str | None
    """``metadata.resourceVersion`` (None when unset): the precondition of a pod's first write."""
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    finalizers: frozenset[str]
    controller: JsonObject | None
    """The ownerReference with ``controller: true``."""
    deleting: bool
    """``metadata.deletionTimestamp`` is set."""
    created: datetime | None
    phase: str
    node_name: str
    conditions: Mapping[str, JsonObject]
    """The first condition of each type."""
    readiness_gates: tuple[str, ...]
    """``spec.readinessGates[].conditionType``, in order."""
    ready: bool
    """The Ready condition is True."""
    ready_since: datetime | None
    """When Ready last turned True (None when not ready or unknown)."""
    in_place_ready: bool
    """No ``InPlaceUpdateReady`` condition, or it is True."""
    revision: str
    """The ``controller-revision-hash`` label ('' when unset)."""
    revision_hash: str
    """Its hash part (``short_hash(revision)``)."""
    lifecycle_state: str
    """The ``lifecycle.apps.kruise.io/state`` label ('' when unset)."""
    deletion_cost: int
    max_restarts: int


def _deletion_cost(annotations: Mapping[str, str]) -> int:
    """``controller.kubernetes.io/pod-deletion-cost`` (0 when unset or invalid, as Kubernetes reads it)."""
    value = annotations.get(POD_DELETION_COST_ANNOTATION)
    if value is None or not _DELETION_COST.match(value):
        return 0
    cost = int(value)
    return cost if -(2**31) <= cost < 2**31 else 0


def read_pod(pod: JsonObject) -> PodView:
    """Everything the planner asks about ``pod``, read from its JSON once (total: never raises)."""
    metadata = as_object(pod.get("metadata"))
    spec = as_object(pod.get("spec"))
    status = as_object(pod.get("status"))
    labels = as_string_map(metadata.get("labels"))
    annotations = as_string_map(metadata.get("annotations"))
    conditions: dict[str, JsonObject] = {}
    for cond in as_objects(status.get("conditions")):
        kind = cond.get("type")
        if isinstance(kind, str) and kind not in conditions:
            conditions[kind] = cond
    ready_cond = conditions.get("Ready")
    ready = ready_cond is not None and ready_cond.get("status") == "True"
    since = parse_time(ready_cond.get("lastTransitionTime")) if ready_cond is not None and ready else None
    in_place = conditions.get(INPLACE_UPDATE_READY_CONDITION)
    revision = labels.get(CONTROLLER_REVISION_HASH_LABEL, "")
    owners = as_objects(metadata.get("ownerReferences"))
    gates = as_objects(spec.get("readinessGates"))
    return PodView(
        raw=pod,
        name=as_text(metadata.get("name")),
        uid=as_text(metadata.get("uid")),
        resource_version=as_text(metadata.get("resourceVersion")) or None,
        labels=labels,
        annotations=annotations,
        finalizers=frozenset(strings(metadata, "finalizers")),
        controller=next((ref for ref in owners if ref.get("controller") is True), None),
        deleting=metadata.get("deletionTimestamp") is not None,
        created=parse_time(metadata.get("creationTimestamp")),
        phase=as_text(status.get("phase")),
        node_name=as_text(spec.get("nodeName")),
        conditions=conditions,
        readiness_gates=tuple([as_text(gate.get("conditionType")) for gate in gates]),
        ready=ready,
        ready_since=since,
        in_place_ready=in_place is None or in_place.get("status") == "True",
        revision=revision,
        revision_hash=short_hash(revision),
        lifecycle_state=labels.get(LIFECYCLE_STATE_LABEL, ""),
        deletion_cost=_deletion_cost(annotations),
        max_restarts=max(
            [integer(s, "restartCount") for s in as_objects(status.get("containerStatuses"))], default=0
        ),
    )


def phase(pod: PodView) -> str:
    return pod.phase


def node_name(pod: PodView) -> str:
    return pod.node_name


def is_active(pod: PodView) -> bool:
    """Not Succeeded / Failed and not being deleted (``kubecontroller.IsPodActive``)."""
    return pod.phase not in ("Succeeded", "Failed") and not pod.deleting


def condition(pod: PodView, condition_type: str) -> JsonObject | None:
    return pod.conditions.get(condition_type)


def is_ready(pod: PodView) -> bool:
    return pod.ready


def ready_since(pod: PodView) -> datetime | None:
    """When the Ready condition last turned True (``None`` when not ready or unknown)."""
    return pod.ready_since


def is_available(pod: PodView, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least ``min_ready_seconds`` (``podutil.IsPodAvailable``)."""
    if not pod.ready:
        return False
    if min_ready_seconds <= 0:
        return True
    since = pod.ready_since
    return since is not None and since + timedelta(seconds=min_ready_seconds) < now


def seconds_until_available(pod: PodView, min_ready_seconds: int, now: datetime) -> float | None:
    """How long until a ready pod counts as available (``None`` when not ready or already available)."""
    since = pod.ready_since
    if since is None or min_ready_seconds <= 0:
        return None
    remaining = (since + timedelta(seconds=min_ready_seconds) - now).total_seconds()
    return remaining if remaining >= 0 else None


def has_readiness_gate(pod: PodView, condition_type: str) -> bool:
    return condition_type in pod.readiness_gates


def is_update_ready(pod: PodView, min_ready_seconds: int, now: datetime) -> bool:
    """Running, available, and not in the middle of an in-place update (kruise ``IsPodUpdateReady``)."""
    if pod.phase != "Running" or not is_available(pod, min_ready_seconds, now):
        return False
    return pod.in_place_ready


def lifecycle_state(pod: PodView) -> str:
    """The ``lifecycle.apps.kruise.io/state`` label ('' when unset)."""
    return pod.lifecycle_state


def short_hash(revision: str) -> str:
    """The hash part of a revision name (``<name>-<hash>`` or bare ``<hash>``)."""
    return revision.rsplit("-", 1)[-1]


def revision_of(pod: PodView) -> str:
    return pod.revision


def is_at_revision(pod: PodView, revision: str) -> bool:
    """The pod's ``controller-revision-hash`` names ``revision`` (long or short form)."""
    return pod.revision == revision or pod.revision_hash == short_hash(revision)


def is_specified_delete(pod: PodView, pods_to_delete: Collection[str]) -> bool:
    """Carries the specified-delete label or is named in ``scaleStrategy.podsToDelete``."""
    return SPECIFIED_DELETE_LABEL in pod.labels or pod.name in pods_to_delete


def deletion_cost(pod: PodView) -> int:
    return pod.deletion_cost


def max_restarts(pod: PodView) -> int:
    return pod.max_restarts


def creation_time(obj: JsonObject) -> datetime | None:
    return parse_time(field(obj, "metadata", "creationTimestamp"))


def is_scheduled(pod: PodView) -> bool:
    """The pod is bound to a node: ``spec.nodeName`` set (kruise ``HasPodScheduled``)."""
    return bool(node_name(pod))


def is_hooked(hook: LifecycleHook | None, pod: PodView) -> bool:
    """The pod carries ANY of the hook's finalizers or labels (kruise ``IsPodHooked``)."""
    if hook is None:
        return False
    if any(f in pod.finalizers for f in hook.finalizers_handler or ()):
        return True
    labels = pod.labels
    return any(labels.get(key) == value for key, value in (hook.labels_handler or {}).items())


def is_all_hooked(hook: LifecycleHook | None, pod: PodView) -> bool:
    """The pod carries ALL of the hook's finalizers and labels (kruise ``IsPodAllHooked``)."""
    if hook is None:
        return False
    if any(f not in pod.finalizers for f in hook.finalizers_handler or ()):
        return False
    labels = pod.labels
    return all(labels.get(key) == value for key, value in (hook.labels_handler or {}).items())
