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
from workers.podmechanics.lifecycle import next_lifecycle_state, refresh_writes, transition
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
    moved_to: str = ""
    """``Normal`` when this pass moves a new pod PreparingNormal -> Normal (the status counts it
    there, see ``status``); '' otherwise."""


def refresh_pod(ctx: RolloutContext, pod: PodView) -> PodRefresh:
    writes, delay = refresh_writes(pod, ctx.now, ctx.timestamp, pod.resource_version)
    actions: list[Action] = list(writes)
    rv = None if writes else pod.resource_version
    changed = False
    moved_to = ""
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
            if pod.lifecycle_state == "PreparingNormal" and state == "Normal":
                moved_to = state
    if POD_TEMPLATE_HASH_LABEL not in pod.labels and pod.revision:
        fix = {"metadata": {"labels": {POD_TEMPLATE_HASH_LABEL: short_hash(pod.revision)}}}
        actions.append(PatchPod(pod.name, fix, resource_version=rv))
        changed = True
    return PodRefresh(tuple(actions), changed, delay, moved_to)
