"""Pod lifecycle writes: the ``lifecycle.apps.kruise.io/state`` label machine and readiness gates.

Builds the patches kruise's ``lifecycle`` and ``podreadiness`` packages send: the state
label plus its timestamp annotation (optionally re-adding an inPlaceUpdate hook's handler
labels / finalizers), the ``KruisePodReady`` condition for ``markPodNotReady``, and pod
condition patches that also turn the pod's Ready condition False when a readiness gate
becomes not-ready. :func:`transition` returns the :class:`~workers.podmechanics.podwrites.PatchPod`
writes a workload's plan carries as they are. Pure; called by the workload planners' scale,
update and refresh steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import orjson

from schemas.kruise.pub import (
    KRUISE_POD_READY_CONDITION,
    LIFECYCLE_STATE_LABEL,
    LIFECYCLE_TIMESTAMP_ANNOTATION,
    Lifecycle,
    LifecycleHook,
)
from workers.podmechanics.inplace import in_place_refresh, update_completed
from workers.podmechanics.kube_json import JsonDict, JsonObject, field, text
from workers.podmechanics.pods import (
    PodView,
    condition,
    has_readiness_gate,
    is_all_hooked,
    is_at_revision,
    is_scheduled,
    lifecycle_state,
)
from workers.podmechanics.podwrites import PatchPod

_HOOK_KEYS = {"PreparingDelete": "preDeleteHook", "PreparingUpdate": "preUpdateHook"}


def lifecycle_patch(state: str, timestamp: str, readd: LifecycleHook | None = None) -> JsonDict:
    """Strategic-merge patch setting the state label and timestamp (and re-adding hook handlers)."""
    labels: dict[str, object] = {LIFECYCLE_STATE_LABEL: state}
    metadata: JsonDict = {"labels": labels, "annotations": {LIFECYCLE_TIMESTAMP_ANNOTATION: timestamp}}
    if readd is not None:
        labels.update(readd.labels_handler or {})
        metadata["finalizers"] = list(readd.finalizers_handler or [])
    return {"metadata": metadata}


def not_ready_keys(message: str) -> list[dict[str, str]]:
    """The holders (``userAgent``, ``key``) in a KruisePodReady condition's message (kruise
    ``podreadiness``): each keeps the pod not ready until it removes itself."""
    try:
        parsed = orjson.loads(message) if message else []
    except orjson.JSONDecodeError:
        return []
    if not isinstance(parsed, list):
        return []
    return [
        {"userAgent": str(m.get("userAgent", "")), "key": str(m.get("key", ""))}
        for m in parsed
        if isinstance(m, Mapping)
    ]


def not_ready_message(messages: list[dict[str, str]]) -> str:
    """The condition message for ``messages``, sorted as kruise writes it."""
    ordered = sorted(messages, key=lambda m: (m["userAgent"], m["key"]))
    return orjson.dumps(ordered).decode()


def conditions_patch(pod: PodView, changed: Mapping[str, JsonDict]) -> JsonDict:
    """A status patch setting ``changed`` conditions; Ready turns False if a readiness gate is not True.

    Mirrors ``util.SetPodReadyCondition``: only when the pod has a Ready condition and its
    containers are ready; the kubelet turns Ready back True once every gate is True.
    """
    conditions = [dict(c) for c in changed.values()]
    ready = condition(pod, "Ready")
    containers_ready = condition(pod, "ContainersReady")
    if ready is not None and containers_ready is not None and containers_ready.get("status") == "True":
        unready = []
        for gate_type in pod.readiness_gates:
            current = changed.get(gate_type) or condition(pod, gate_type)
            if current is None:
                unready.append(f'corresponding condition of pod readiness gate "{gate_type}" does not exist.')
            elif current.get("status") != "True":
                status = current.get("status")
                unready.append(f'the status of pod readiness gate "{gate_type}" is not "True", but {status}')
        if unready and ready.get("status") == "True":
            conditions.append(
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ReadinessGatesNotReady",
                    "message": ", ".join(unready),
                }
            )
    return {"status": {"conditions": conditions}}


def not_ready_patch(pod: PodView, state: str, now: str) -> JsonDict | None:
    """``markPodNotReady``: the KruisePodReady change entering ``state``, or None when nothing changes."""
    if not has_readiness_gate(pod, KRUISE_POD_READY_CONDITION):
        return None
    current = condition(pod, KRUISE_POD_READY_CONDITION)
    messages = not_ready_keys(text(current, "message")) if current is not None else []
    if state in _HOOK_KEYS:
        entry = {"userAgent": "Lifecycle", "key": _HOOK_KEYS[state]}
        if current is not None and current.get("status") != "True" and entry in messages:
            return None
        if entry not in messages:
            messages.append(entry)
        status = "False"
    elif state == "Updated":
        entry = {"userAgent": "Lifecycle", "key": _HOOK_KEYS["PreparingUpdate"]}
        if current is None or entry not in messages:
            return None
        messages.remove(entry)
        status = "True" if not messages else "False"
    else:
        return None
    new_condition: JsonDict = {
        "type": KRUISE_POD_READY_CONDITION,
        "status": status,
        "message": not_ready_message(messages),
        "lastTransitionTime": now,
    }
    return conditions_patch(pod, {KRUISE_POD_READY_CONDITION: new_condition})


def transition(
    pod: PodView,
    state: str,
    timestamp: str,
    *,
    mark_not_ready: bool,
    resource_version: str | None,
    readd: LifecycleHook | None = None,
) -> tuple[PatchPod, ...]:
    """The writes moving ``pod`` to lifecycle ``state`` (``UpdatePodLifecycle``); empty if already there.

    The first write carries ``resource_version`` (the plan's view of the pod must still hold),
    except PreparingNormal -> Normal alone: that move depends only on facts that do not go back
    (the pod is bound to a node, or its preNormal hook is all hooked), and right after binding the
    kubelet (or kwok) writes the pod's status, so a versioned patch met a conflict and a whole
    re-plan for ~40 % of new pods. kruise sends every lifecycle patch unversioned.
    """
    writes: list[PatchPod] = []
    if mark_not_ready and (patch := not_ready_patch(pod, state, timestamp)) is not None:
        writes.append(PatchPod(pod.name, patch, subresource="status", resource_version=resource_version))
        resource_version = None
    if not writes and state == "Normal" and lifecycle_state(pod) == "PreparingNormal":
        resource_version = None
    if lifecycle_state(pod) != state:
        writes.append(
            PatchPod(pod.name, lifecycle_patch(state, timestamp, readd), resource_version=resource_version)
        )
    return tuple(writes)


def first_kruise_pod_ready(pod: PodView, timestamp: str) -> JsonDict | None:
    """KruisePodReady True for a pod with the gate and no condition yet (kruise's podreadiness controller)."""
    if not has_readiness_gate(pod, KRUISE_POD_READY_CONDITION) or condition(pod, KRUISE_POD_READY_CONDITION):
        return None
    return {"type": KRUISE_POD_READY_CONDITION, "status": "True", "lastTransitionTime": timestamp}


def next_lifecycle_state(
    pod: PodView, lifecycle: Lifecycle | None, update_revision: str, *, wait_for_scheduling: bool
) -> str:
    """The lifecycle state ``pod`` moves to now ('' for none): kruise's ``refreshPodState``.

    PreparingNormal -> Normal once the preNormal hook is all hooked, or with no such hook at once
    (``wait_for_scheduling``: only once the pod is scheduled, as CloneSet does; Advanced
    StatefulSet does not wait); PreparingUpdate (at the update revision) and Updating (update
    completed) -> Updated while an inPlaceUpdate hook is not all hooked, else Normal; Updated ->
    Normal once the hook is all hooked again."""
    in_place_hook = lifecycle.in_place_update if lifecycle is not None else None

    def done() -> str:
        return "Updated" if lifecycle is not None and not is_all_hooked(in_place_hook, pod) else "Normal"

    match pod.lifecycle_state:
        case "PreparingNormal":
            pre_normal = lifecycle.pre_normal if lifecycle is not None else None
            if pre_normal is not None:
                ready = is_all_hooked(pre_normal, pod)
            else:
                ready = is_scheduled(pod) or not wait_for_scheduling
            return "Normal" if ready else ""
        case "PreparingUpdate":
            return done() if is_at_revision(pod, update_revision) else ""
        case "Updating":
            return done() if update_completed(pod) else ""
        case "Updated":
            return "Normal" if in_place_hook is None or is_all_hooked(in_place_hook, pod) else ""
    return ""


def refresh_writes(
    pod: PodView, now: datetime, timestamp: str, resource_version: str | None
) -> tuple[tuple[PatchPod, ...], float | None]:
    """A pod's in-place refresh (``inplace.in_place_refresh``) and its first ``KruisePodReady``.

    kruise's pod-readiness controller sets ``KruisePodReady`` True on a pod that declares the
    gate and has no such condition yet (the admission webhook adds the gate to every pod a kruise
    workload owns); here it rides along with the in-place refresh's status patch when there is
    one, else goes as its own status patch. Returns the writes (the first carries
    ``resource_version``) and the seconds to come back after, if the refresh waits.
    """
    patch, subresource, delay = in_place_refresh(pod, now, timestamp)
    first_ready = first_kruise_pod_ready(pod, timestamp)
    writes: list[PatchPod] = []
    rv = resource_version
    if first_ready is not None:
        if patch is not None and subresource:
            patch = {"status": {"conditions": [*_conditions_of(patch), first_ready]}}
        else:
            writes.append(
                PatchPod(
                    pod.name,
                    {"status": {"conditions": [first_ready]}},
                    subresource="status",
                    resource_version=rv,
                )
            )
            rv = None
    if patch is not None:
        writes.append(
            PatchPod(pod.name, patch, subresource="status" if subresource else "", resource_version=rv)
        )
    return tuple(writes), delay


def _conditions_of(patch: JsonObject) -> list[object]:
    conditions = field(patch, "status", "conditions")
    return list(conditions) if isinstance(conditions, list) else []
