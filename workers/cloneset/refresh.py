"""Per-pod bookkeeping before updates (kruise ``refreshPodState`` + ``inplaceupdate.Refresh``).

For each pod: finish an in-place update whose grace period has passed (or drop a stale one),
set ``InPlaceUpdateReady`` True once the kubelet runs the new images (new pods get it at
once), move the lifecycle label along (PreparingNormal → Normal once scheduled / preNormal
hooked; Updating → Updated / Normal when done; Updated → Normal when re-hooked) and add a
missing ``pod-template-hash``. Pure; called by ``update``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from schemas.kruise.pub import (
    INPLACE_UPDATE_GRACE_ANNOTATION,
    INPLACE_UPDATE_READY_CONDITION,
    KRUISE_POD_READY_CONDITION,
    POD_TEMPLATE_HASH_LABEL,
)
from workers.cloneset.actions import Action, PatchPod
from workers.cloneset.inplace import (
    LEGACY_GRACE_ANNOTATION,
    finish_grace_patch,
    grace_annotation,
    spec_from_grace,
    state_annotation,
    update_completed,
)
from workers.cloneset.lifecycle import transition
from workers.cloneset.rollout import RolloutContext
from workers.podmechanics.kube_json import JsonDict, JsonObject, field, integer, parse_time, text
from workers.podmechanics.pods import (
    PodView,
    condition,
    has_readiness_gate,
    is_all_hooked,
    is_at_revision,
    is_scheduled,
    short_hash,
)


@dataclass(frozen=True)
class PodRefresh:
    actions: tuple[Action, ...]
    lifecycle_changed: bool
    """The lifecycle label or the pod-template-hash label changes: updates wait for the next pass."""
    requeue_after: float | None


def _in_place_refresh(ctx: RolloutContext, pod: PodView) -> tuple[JsonObject | None, str, float | None]:
    """(patch, subresource, delay) of ``inplaceupdate.Refresh``."""
    grace = grace_annotation(pod)
    if grace is not None:
        spec = spec_from_grace(grace)
        if not is_at_revision(pod, spec.revision):
            drop = {
                "metadata": {
                    "annotations": {INPLACE_UPDATE_GRACE_ANNOTATION: None, LEGACY_GRACE_ANNOTATION: None}
                }
            }
            return drop, "", None
        state = state_annotation(pod) or {}
        started = parse_time(state.get("updateTimestamp"))
        due = (started or ctx.now) + timedelta(seconds=integer(grace, "graceSeconds"))
        if due > ctx.now:
            remaining = (due - ctx.now).total_seconds()
            return None, "", float(int(remaining) + (remaining % 1 > 0))
        return finish_grace_patch(pod, spec, ctx.timestamp), "", None
    if state_annotation(pod) is not None and not update_completed(pod):
        return None, "", None
    if not has_readiness_gate(pod, INPLACE_UPDATE_READY_CONDITION):
        return None, "", None
    current = condition(pod, INPLACE_UPDATE_READY_CONDITION)
    if (
        current is not None
        and current.get("status") == "True"
        and not text(current, "reason")
        and not text(current, "message")
    ):
        return None, "", None
    # reason / message null: a strategic merge keeps fields the patch leaves out (StartInPlaceUpdate)
    ready = {
        "type": INPLACE_UPDATE_READY_CONDITION,
        "status": "True",
        "reason": None,
        "message": None,
        "lastTransitionTime": ctx.timestamp,
    }
    return {"status": {"conditions": [ready]}}, "status", None


def _first_kruise_pod_ready(ctx: RolloutContext, pod: PodView) -> JsonDict | None:
    """KruisePodReady True for a pod with the gate and no condition yet (kruise's podreadiness controller)."""
    if not has_readiness_gate(pod, KRUISE_POD_READY_CONDITION) or condition(pod, KRUISE_POD_READY_CONDITION):
        return None
    return {"type": KRUISE_POD_READY_CONDITION, "status": "True", "lastTransitionTime": ctx.timestamp}


def _conditions_of(patch: JsonObject) -> list[object]:
    conditions = field(patch, "status", "conditions")
    return list(conditions) if isinstance(conditions, list) else []


def _next_state(ctx: RolloutContext, pod: PodView) -> str:
    lifecycle = ctx.cloneset.spec.lifecycle
    in_place_hook = lifecycle.in_place_update if lifecycle is not None else None

    def done() -> str:
        return "Updated" if lifecycle is not None and not is_all_hooked(in_place_hook, pod) else "Normal"

    match pod.lifecycle_state:
        case "PreparingNormal":
            pre_normal = lifecycle.pre_normal if lifecycle is not None else None
            ready = is_scheduled(pod) if pre_normal is None else is_all_hooked(pre_normal, pod)
            return "Normal" if ready else ""
        case "PreparingUpdate":
            return done() if is_at_revision(pod, ctx.update_revision) else ""
        case "Updating":
            return done() if update_completed(pod) else ""
        case "Updated":
            return "Normal" if in_place_hook is None or is_all_hooked(in_place_hook, pod) else ""
    return ""


def refresh_pod(ctx: RolloutContext, pod: PodView) -> PodRefresh:
    rv = pod.resource_version
    actions: list[Action] = []
    patch, subresource, delay = _in_place_refresh(ctx, pod)
    first_ready = _first_kruise_pod_ready(ctx, pod)
    if first_ready is not None:
        if patch is not None and subresource:
            patch = {"status": {"conditions": [*_conditions_of(patch), first_ready]}}
        else:
            actions.append(
                PatchPod(
                    pod.name,
                    {"status": {"conditions": [first_ready]}},
                    subresource="status",
                    resource_version=rv,
                )
            )
            rv = None
    if patch is not None:
        actions.append(
            PatchPod(pod.name, patch, subresource="status" if subresource else "", resource_version=rv)
        )
        rv = None
    changed = False
    state = _next_state(ctx, pod)
    if state:
        lifecycle = ctx.cloneset.spec.lifecycle
        hook = lifecycle.in_place_update if lifecycle is not None else None
        moves = transition(
            pod,
            state,
            ctx.timestamp,
            mark_not_ready=hook is not None and hook.mark_pod_not_ready,
            resource_version=rv,
        )
        if moves:
            actions.extend(moves)
            rv = None
            changed = any(m.subresource == "" for m in moves)
    if POD_TEMPLATE_HASH_LABEL not in pod.labels and pod.revision:
        fix = {"metadata": {"labels": {POD_TEMPLATE_HASH_LABEL: short_hash(pod.revision)}}}
        actions.append(PatchPod(pod.name, fix, resource_version=rv))
        changed = True
    return PodRefresh(tuple(actions), changed, delay)
