"""kruise's in-place update of one pod: the inPlaceUpdate hook's lifecycle switch, then the update.

CloneSet (``sync/cloneset_update.go``) and Advanced StatefulSet (``stateful_set_control.go``)
run the same steps for a pod that can be updated in place: in lifecycle state none / PreparingNormal
/ Normal with the inPlaceUpdate hook on the pod, move it to PreparingUpdate first (and wait); from
Updated, back to PreparingUpdate re-adding the hook's handlers; in PreparingUpdate, wait while the
hook still holds; any other state but Updating is an error ("not allowed to in-place update pod
... in state ..."). Then ``inplaceupdate.Update``: ``InPlaceUpdateReady`` False
(``StartInPlaceUpdate``) when the pod has that readiness gate, and the in-place patch
(``inplace.in_place_patch``) with kruise's ``SuccessfulUpdatePodInPlace`` /
``FailedUpdatePodInPlace`` Events. Pure; called by the workload planners' update steps.
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.kruise.pub import INPLACE_UPDATE_READY_CONDITION, Lifecycle
from workers.podmechanics.inplace import InPlaceSpec, in_place_patch
from workers.podmechanics.kube_json import JsonDict
from workers.podmechanics.lifecycle import conditions_patch, transition
from workers.podmechanics.pods import PodView, has_readiness_gate, is_hooked
from workers.podmechanics.podwrites import PatchPod, normal, warning


def in_place_update(
    pod: PodView,
    spec: InPlaceSpec,
    timestamp: str,
    lifecycle: Lifecycle | None,
    *,
    revision_labels: Mapping[str, str],
    lifecycle_always: bool = True,
) -> tuple[tuple[PatchPod, ...], str | None]:
    """The writes moving ``pod`` in place to ``spec.revision`` now, or the error that forbids it.

    Empty writes and no error: the pod waits (its hook holds). ``revision_labels``: the labels
    saying the pod is at the revision (the workload's revision adapter). ``lifecycle_always``: the
    update moves the pod's lifecycle to Updating even when it has no lifecycle state (CloneSet);
    Advanced StatefulSet passes False (only a pod with a state moves)."""
    rv = pod.resource_version
    hook = lifecycle.in_place_update if lifecycle is not None else None
    mark = hook is not None and hook.mark_pod_not_ready
    state = pod.lifecycle_state
    if state in ("", "PreparingNormal", "Normal"):
        if hook is not None and is_hooked(hook, pod):
            return tuple(
                transition(pod, "PreparingUpdate", timestamp, mark_not_ready=mark, resource_version=rv)
            ), None
    elif state == "Updated":
        if hook is None:
            return (), None
        return tuple(
            transition(
                pod, "PreparingUpdate", timestamp, mark_not_ready=mark, resource_version=rv, readd=hook
            )
        ), None
    elif state == "PreparingUpdate":
        if hook is not None and is_hooked(hook, pod):
            return (), None
    elif state != "Updating":
        return (), f"not allowed to in-place update pod {pod.name} in state {state}"
    actions: list[PatchPod] = []
    if has_readiness_gate(pod, INPLACE_UPDATE_READY_CONDITION):
        not_ready: JsonDict = {
            "type": INPLACE_UPDATE_READY_CONDITION,
            "status": "False",
            "reason": "StartInPlaceUpdate",
            "lastTransitionTime": timestamp,
        }
        patch = conditions_patch(pod, {INPLACE_UPDATE_READY_CONDITION: not_ready})
        actions.append(PatchPod(pod.name, patch, subresource="status", resource_version=rv))
        rv = None
    message = f"successfully update pod {pod.name} in-place(revision {spec.revision})"
    failure = f"failed to update pod {pod.name} in-place(revision {spec.revision}): {{error}}"
    set_updating = lifecycle_always or state != ""
    patch = in_place_patch(pod, spec, timestamp, revision_labels=revision_labels, set_updating=set_updating)
    actions.append(
        PatchPod(
            pod.name,
            patch,
            resource_version=rv,
            success_event=normal("SuccessfulUpdatePodInPlace", message),
            failure_event=warning("FailedUpdatePodInPlace", failure),
        )
    )
    return tuple(actions), None
