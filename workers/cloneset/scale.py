"""Scale planning: create and delete CloneSet pods (kruise ``sync/cloneset_scale.go``).

In order, and stopping at the first step that changes something: cancel PreparingDelete
for pods still needed; create pods (slow-start batches, PVCs first, ids reused from
orphaned PVCs, old / new revision split from the diff, limited by scaleStrategy.maxUnavailable);
delete pods whose preDelete hook was released; delete specified pods (podsToDelete /
specified-delete label) within maxUnavailable; scale in by victim order. Pods matching a
preDelete hook go to PreparingDelete instead of being deleted. Pure; called by ``planner``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from workers.cloneset.actions import Action, CreatePods, DeletePod, EmitEvent, NewPod, normal, warning
from workers.cloneset.clonepods import instance_id, pod_instance_id
from workers.cloneset.diff import RolloutDiff
from workers.cloneset.newpod import available_instance_ids, new_pod
from workers.cloneset.podsort import deletion_order
from workers.cloneset.rollout import RolloutContext
from workers.podmechanics.kube_json import name_of
from workers.podmechanics.lifecycle import transition
from workers.podmechanics.pods import PodView, is_hooked, is_specified_delete
from workers.podmechanics.slowstart import slow_start_batches


@dataclass(frozen=True)
class ScaleOutcome:
    actions: tuple[Action, ...]
    changed: bool
    """Pods are being created or deleted: the update planner must wait for the next pass."""
    diff: RolloutDiff
    requeue_after: float | None = None
    """Look again soon: a replacement waits for the pod whose PVC it reuses to be gone."""


#: Seconds between looks while a replacement waits for a terminating pod (its deletion triggers too).
WAIT_FOR_GOING_POD = 2.0


def scale_diff(ctx: RolloutContext) -> RolloutDiff:
    return ctx.diff(ctx.is_updated_for_scale)


def _cancel_preparing_delete(
    ctx: RolloutContext, in_pre_delete: Sequence[PodView], planned: int
) -> list[Action]:
    """PreparingDelete pods return to PreparingNormal while replicas need them (managePreparingDelete)."""
    lifecycle = ctx.cloneset.spec.lifecycle
    if lifecycle is not None and any(
        hook is not None and hook.mark_pod_not_ready
        for hook in (lifecycle.pre_delete, lifecycle.in_place_update)
    ):
        return []
    missing = ctx.limits.replicas - len(ctx.pods) + planned
    actions: list[Action] = []
    for pod in in_pre_delete:
        if missing <= 0:
            break
        if is_specified_delete(pod, ctx.pods_to_delete):
            continue
        actions.extend(
            transition(
                pod,
                "PreparingNormal",
                ctx.timestamp,
                mark_not_ready=False,
                resource_version=pod.resource_version,
            )
        )
        missing -= 1
    return actions


def _batches(pods: Sequence[NewPod], first: int) -> tuple[CreatePods, ...]:
    """Slow start: batches of ``first``, 2x, 4x, ... (``DoItSlowly``)."""
    return tuple(CreatePods(batch) for batch in slow_start_batches(pods, first))


def _create(ctx: RolloutContext, count: int, at_current: int) -> tuple[tuple[Action, ...], int]:
    """Slow-start batches creating up to ``count`` pods, and how many slots wait for a PVC's pod to go."""
    # A terminating pod's PVC is reused once the pod is gone (its slot waits); a finished pod that
    # nobody deletes keeps its id, and the new pod gets a fresh one rather than waiting forever.
    terminating = [p.raw for p in ctx.inactive if p.deleting]
    finished = [p.raw for p in ctx.inactive if not p.deleting]
    counted = [*(p.raw for p in ctx.pods), *finished]
    ids = available_instance_ids(count, counted, ctx.claims, ctx.names, terminating)
    existing_claims = {name_of(c) for c in ctx.claims}
    pods: list[NewPod] = []
    for index, pod_id in enumerate(ids.ready):
        revision = ctx.current_revision if index < min(count, at_current) else ctx.update_revision
        created = new_pod(
            ctx.cloneset,
            ctx.templates[revision],
            revision,
            pod_id,
            existing_claims,
            timestamp=ctx.timestamp,
            short_hash_label=ctx.config.short_hash_label,
        )
        pod_name = name_of(created.pod)
        pods.append(
            replace(
                created,
                success_event=normal("SuccessfulCreate", f"succeed to create pod {pod_name}"),
                failure_event=warning("FailedCreate", f"failed to create pod: {{error}}, pod: {pod_name}"),
            )
        )
    return _batches(pods, ctx.config.initial_batch_size), ids.waiting


def delete_pods(ctx: RolloutContext, pods: Sequence[PodView]) -> list[Action]:
    """Delete pods with their PVCs, or move them to PreparingDelete when a preDelete hook holds them."""
    lifecycle = ctx.cloneset.spec.lifecycle
    pre_delete = lifecycle.pre_delete if lifecycle is not None else None
    actions: list[Action] = []
    for pod in pods:
        if pre_delete is not None and is_hooked(pre_delete, pod):
            actions.extend(
                transition(
                    pod,
                    "PreparingDelete",
                    ctx.timestamp,
                    mark_not_ready=pre_delete.mark_pod_not_ready,
                    resource_version=pod.resource_version,
                )
            )
            continue
        pod_id = pod_instance_id(pod)
        claims = tuple(name_of(c) for c in ctx.claims if pod_id and instance_id(c) == pod_id)
        actions.append(
            DeletePod(
                pod.name,
                pod.uid,
                claims,
                success_event=normal("SuccessfulDelete", f"succeed to delete pod {pod.name}"),
                failure_event=warning("FailedDelete", f"failed to delete pod {pod.name}: {{error}}"),
            )
        )
    return actions


def _within_ready_limit(ctx: RolloutContext, pods: Sequence[PodView], limit: int) -> list[PodView]:
    """Unready pods always; ready ones while the delete-ready budget lasts."""
    chosen: list[PodView] = []
    for pod in pods:
        if not ctx.is_ready(pod):
            chosen.append(pod)
        elif limit > 0:
            chosen.append(pod)
            limit -= 1
    return chosen


def _choose_victims(ctx: RolloutContext, total: int, old_first: int) -> list[PodView]:
    """``choosePodsToDelete``: old-revision pods first, each side in deletion order."""
    updated = [p for p in ctx.pods if ctx.is_updated_for_scale(p)]
    not_updated = [p for p in ctx.pods if not ctx.is_updated_for_scale(p)]

    def choose(pods: list[PodView], count: int) -> list[PodView]:
        ordered = (
            pods
            if count >= len(pods)
            else list(deletion_order(pods, ctx.is_available, ctx.spread_keys, ctx.node_labels))
        )
        return ordered[:count]

    if old_first >= total:
        return choose(not_updated, total)
    if old_first > 0:
        return choose(not_updated, old_first) + choose(updated, total - old_first)
    return choose(updated, total)


def plan_scale(ctx: RolloutContext) -> ScaleOutcome:
    """The scale step of one pass (``realControl.Scale``)."""
    specified = [p for p in ctx.pods if is_specified_delete(p, ctx.pods_to_delete)]
    in_pre_delete = [p for p in ctx.pods if p.lifecycle_state == "PreparingDelete"]
    planned = len({p.name for p in [*specified, *in_pre_delete]})
    diff = scale_diff(ctx)

    cancel = _cancel_preparing_delete(ctx, in_pre_delete, planned)
    if cancel:
        return ScaleOutcome(tuple(cancel), True, diff)

    actions: list[Action] = []
    if diff.scale_up > diff.scale_up_limit:
        message = f"scaleUp is limited because of scaleStrategy.maxUnavailable, limit: {diff.scale_up_limit}"
        actions.append(EmitEvent(warning("ScaleUpLimited", message)))
    if diff.scale_up > 0:
        created, waiting = _create(ctx, diff.scale_up_limit, diff.scale_up_old_revision)
        return ScaleOutcome(
            (*actions, *created), bool(created), diff, WAIT_FOR_GOING_POD if waiting else None
        )

    if in_pre_delete:
        released = delete_pods(ctx, in_pre_delete)
        if released:
            return ScaleOutcome((*actions, *released), True, diff)

    pre_delete_names = {p.name for p in in_pre_delete}
    to_delete = [p for p in specified if p.name not in pre_delete_names]
    limit = diff.delete_ready_limit
    if to_delete:
        chosen = _within_ready_limit(ctx, to_delete, limit)
        limit -= sum(1 for p in chosen if ctx.is_ready(p))
        deleted = delete_pods(ctx, chosen)
        if deleted:
            return ScaleOutcome((*actions, *deleted), True, diff)

    if diff.scale_down > 0 and planned == 0:
        victims = _choose_victims(ctx, diff.scale_down, diff.scale_down_old_revision)
        deleted = delete_pods(ctx, _within_ready_limit(ctx, victims, limit))
        return ScaleOutcome((*actions, *deleted), bool(deleted), diff)
    return ScaleOutcome(tuple(actions), False, diff)
