"""What the CloneSet planner needs to know about one Pod, read from its JSON.

Ports of the pod predicates kruise and Kubernetes use (``podutil.IsPodReady`` /
``IsPodAvailable``, ``kubecontroller.IsPodActive``, kruise's ``IsPodUpdateReady``, lifecycle
hook matching, revision-hash equality). Pure functions over pod dicts; called by the diff,
scale, update and status modules of ``workers.cloneset``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime, timedelta

from schemas.kruise.cloneset import CLONESET_INSTANCE_ID_LABEL
from schemas.kruise.pub import (
    CONTROLLER_REVISION_HASH_LABEL,
    INPLACE_UPDATE_READY_CONDITION,
    LIFECYCLE_STATE_LABEL,
    POD_DELETION_COST_ANNOTATION,
    SPECIFIED_DELETE_LABEL,
    LifecycleHook,
)
from workers.cloneset.kube_json import (
    JsonObject,
    annotations_of,
    field,
    integer,
    labels_of,
    name_of,
    objects,
    parse_time,
    strings,
    text,
)

_DELETION_COST = re.compile(r"^(0|-?[1-9][0-9]*)$")


def phase(pod: JsonObject) -> str:
    return text(pod, "status", "phase")


def node_name(pod: JsonObject) -> str:
    return text(pod, "spec", "nodeName")


def is_active(pod: JsonObject) -> bool:
    """Not Succeeded / Failed and not being deleted (``kubecontroller.IsPodActive``)."""
    return phase(pod) not in ("Succeeded", "Failed") and field(pod, "metadata", "deletionTimestamp") is None


def condition(pod: JsonObject, condition_type: str) -> JsonObject | None:
    for cond in objects(pod, "status", "conditions"):
        if cond.get("type") == condition_type:
            return cond
    return None


def is_ready(pod: JsonObject) -> bool:
    ready = condition(pod, "Ready")
    return ready is not None and ready.get("status") == "True"


def ready_since(pod: JsonObject) -> datetime | None:
    """When the Ready condition last turned True (``None`` when not ready or unknown)."""
    ready = condition(pod, "Ready")
    if ready is None or ready.get("status") != "True":
        return None
    return parse_time(ready.get("lastTransitionTime"))


def is_available(pod: JsonObject, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least ``min_ready_seconds`` (``podutil.IsPodAvailable``)."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + timedelta(seconds=min_ready_seconds) < now


def seconds_until_available(pod: JsonObject, min_ready_seconds: int, now: datetime) -> float | None:
    """How long until a ready pod counts as available (``None`` when not ready or already available)."""
    since = ready_since(pod)
    if since is None or min_ready_seconds <= 0:
        return None
    remaining = (since + timedelta(seconds=min_ready_seconds) - now).total_seconds()
    return remaining if remaining >= 0 else None


def has_readiness_gate(pod: JsonObject, condition_type: str) -> bool:
    return any(gate.get("conditionType") == condition_type for gate in objects(pod, "spec", "readinessGates"))


def is_update_ready(pod: JsonObject, min_ready_seconds: int, now: datetime) -> bool:
    """Running, available, and not in the middle of an in-place update (kruise ``IsPodUpdateReady``)."""
    if phase(pod) != "Running" or not is_available(pod, min_ready_seconds, now):
        return False
    cond = condition(pod, INPLACE_UPDATE_READY_CONDITION)
    return cond is None or cond.get("status") == "True"


def lifecycle_state(pod: JsonObject) -> str:
    """The ``lifecycle.apps.kruise.io/state`` label ('' when unset)."""
    return labels_of(pod).get(LIFECYCLE_STATE_LABEL, "")


def is_cloneset_available(pod: JsonObject, min_ready_seconds: int, now: datetime) -> bool:
    """Available as the CloneSet counts it: lifecycle Normal (or unset) and update-ready."""
    if lifecycle_state(pod) not in ("", "Normal"):
        return False
    return is_update_ready(pod, min_ready_seconds, now)


def is_cloneset_ready(pod: JsonObject, now: datetime) -> bool:
    return is_cloneset_available(pod, 0, now)


def short_hash(revision: str) -> str:
    """The hash part of a revision name (``<name>-<hash>`` or bare ``<hash>``)."""
    return revision.rsplit("-", 1)[-1]


def revision_of(pod: JsonObject) -> str:
    return labels_of(pod).get(CONTROLLER_REVISION_HASH_LABEL, "")


def is_at_revision(pod: JsonObject, revision: str) -> bool:
    """The pod's ``controller-revision-hash`` names ``revision`` (long or short form)."""
    pod_hash = revision_of(pod)
    return pod_hash == revision or short_hash(pod_hash) == short_hash(revision)


def instance_id(obj: JsonObject) -> str:
    return labels_of(obj).get(CLONESET_INSTANCE_ID_LABEL, "")


def is_specified_delete(pod: JsonObject, pods_to_delete: Collection[str]) -> bool:
    """Carries the specified-delete label or is named in ``scaleStrategy.podsToDelete``."""
    return SPECIFIED_DELETE_LABEL in labels_of(pod) or name_of(pod) in pods_to_delete


def deletion_cost(pod: JsonObject) -> int:
    """``controller.kubernetes.io/pod-deletion-cost`` (0 when unset or invalid, as Kubernetes reads it)."""
    value = annotations_of(pod).get(POD_DELETION_COST_ANNOTATION)
    if value is None or not _DELETION_COST.match(value):
        return 0
    cost = int(value)
    return cost if -(2**31) <= cost < 2**31 else 0


def max_restarts(pod: JsonObject) -> int:
    return max((integer(s, "restartCount") for s in objects(pod, "status", "containerStatuses")), default=0)


def creation_time(obj: JsonObject) -> datetime | None:
    return parse_time(field(obj, "metadata", "creationTimestamp"))


def is_scheduled(pod: JsonObject) -> bool:
    """The PodScheduled condition is True (kruise ``HasPodScheduled``)."""
    scheduled = condition(pod, "PodScheduled")
    return scheduled is not None and scheduled.get("status") == "True"


def finalizers(pod: JsonObject) -> tuple[str, ...]:
    return strings(pod, "metadata", "finalizers")


def is_hooked(hook: LifecycleHook | None, pod: JsonObject) -> bool:
    """The pod carries ANY of the hook's finalizers or labels (kruise ``IsPodHooked``)."""
    if hook is None:
        return False
    held = set(finalizers(pod))
    if any(f in held for f in hook.finalizers_handler or ()):
        return True
    labels = labels_of(pod)
    return any(labels.get(key) == value for key, value in (hook.labels_handler or {}).items())


def is_all_hooked(hook: LifecycleHook | None, pod: JsonObject) -> bool:
    """The pod carries ALL of the hook's finalizers and labels (kruise ``IsPodAllHooked``)."""
    if hook is None:
        return False
    held = set(finalizers(pod))
    if any(f not in held for f in hook.finalizers_handler or ()):
        return False
    labels = labels_of(pod)
    return all(labels.get(key) == value for key, value in (hook.labels_handler or {}).items())
