"""Per-pod bookkeeping before updates (kruise ``refreshPodState`` + ``inplaceupdate.Refresh``).

For each pod: finish an in-place update whose grace period has passed (or drop a stale one),
set ``InPlaceUpdateReady`` True once the kubelet runs the new images (new pods get it at
once), move the lifecycle label along (PreparingNormal → Normal once scheduled / preNormal
hooked; Updating → Updated / Normal when done; Updated → Normal when re-hooked) and add a
missing ``pod-template-hash``. The in-place refresh (``podmechanics.inplace.in_place_refresh``), the
first ``KruisePodReady`` and the lifecycle step (``podmechanics.lifecycle``) are the shared
mechanics; this module puts them together the CloneSet's way. Pure; called by ``update``.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.kruise.pub import (
    POD_TEMPLATE_HASH_LABEL,
)
from workers.cloneset.actions import Action, PatchPod
from workers.cloneset.rollout import RolloutContext
from workers.podmechanics.inplace import in_place_refresh
from workers.podmechanics.kube_json import JsonObject, field
from workers.podmechanics.lifecycle import first_kruise_pod_ready, next_lifecycle_state, transition
from workers.podmechanics.pods import (
    PodView,
    short_hash,
)


@dataclass(frozen=True)
class PodRefresh:
    actions: tuple[Action, ...]
    lifecycle_changed: bool
    """The lifecycle label or the pod-template-hash label changes: updates wait for the next pass."""
    requeue_after: float | None


def _conditions_of(patch: JsonObject) -> list[object]:
    conditions = field(patch, "status", "conditions")
    return list(conditions) if isinstance(conditions, list) else []


def refresh_pod(ctx: RolloutContext, pod: PodView) -> PodRefresh:
    rv = pod.resource_version
    actions: list[Action] = []
    patch, subresource, delay = in_place_refresh(pod, ctx.now, ctx.timestamp)
    first_ready = first_kruise_pod_ready(pod, ctx.timestamp)
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
    lifecycle = ctx.cloneset.spec.lifecycle
    state = next_lifecycle_state(pod, lifecycle, ctx.update_revision, wait_for_scheduling=True)
    if state:
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
