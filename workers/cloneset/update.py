"""Update planning: move pods to the update revision (kruise ``sync/cloneset_update.go``).

After per-pod refresh (``refresh``), unless paused: the diff says how many pods to update
(negative: roll back under ``CloneSetPartitionRollback``); waiting pods are ordered
(``podsort.update_order``), cut to that number and to maxUnavailable, and each is updated in
place (InPlaceIfPossible / InPlaceOnly, honouring the inPlaceUpdate hook) or marked
``apps.kruise.io/specified-delete`` so the scale step replaces it (ReCreate). Pure; called
by ``planner``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from schemas.kruise.podunavailablebudget import RELATED_PUB_ANNOTATION
from schemas.kruise.pub import SPECIFIED_DELETE_LABEL
from workers.cloneset.actions import Action, CheckBudget, PatchPod, normal, warning
from workers.cloneset.claimhash import claims_allow_in_place
from workers.cloneset.diff import RolloutDiff
from workers.cloneset.newpod import write_revision_labels
from workers.cloneset.podsort import update_order
from workers.cloneset.refresh import refresh_pod
from workers.cloneset.rollout import RolloutContext
from workers.podmechanics.inplace import InPlaceSpec, grace_annotation, in_place_spec
from workers.podmechanics.inplaceupdate import in_place_update
from workers.podmechanics.kube_json import JsonDict, JsonObject
from workers.podmechanics.pods import PodView, is_at_revision

#: Seconds until the planner looks again after consulting a PodUnavailableBudget (kruise: 1 s).
PUB_RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class UpdateOutcome:
    actions: tuple[Action, ...]
    requeue_after: float | None = None
    error: str | None = None
    """Why an update could not proceed (becomes the FailedUpdate condition)."""


def update_diff(ctx: RolloutContext) -> RolloutDiff:
    return ctx.diff(ctx.is_updated)


def _limit(ctx: RolloutContext, diff: RolloutDiff, waiting: Sequence[PodView], target: str) -> list[PodView]:
    """``limitUpdateIndexes``: at most |update| pods, and keep unavailable pods within maxUnavailable."""
    waiting = list(waiting[: abs(diff.update)])
    unavailable = sum(1 for p in ctx.pods if not ctx.is_available(p))
    target_unavailable = sum(1 for p in ctx.pods if not ctx.is_available(p) and is_at_revision(p, target))
    chosen: list[PodView] = []
    for pod in waiting:
        if target_unavailable + len(chosen) >= diff.update_max_unavailable:
            break
        if ctx.is_available(pod):
            if unavailable >= diff.update_max_unavailable:
                break
            unavailable += 1
        chosen.append(pod)
    return chosen


def _revision_template(ctx: RolloutContext, pod: PodView) -> JsonObject | None:
    for name, template in ctx.templates.items():
        if is_at_revision(pod, name):
            return template
    return None


def _claims_allow_in_place(ctx: RolloutContext, pod: PodView, target: str) -> bool:
    """With ``RecreatePodWhenChangeVCTInCloneSetGate``, a volumeClaimTemplates change between the
    pod's revision and ``target`` forbids in-place update, except under InPlaceOnly (kruise sets
    ``IgnoreVolumeClaimTemplatesHashDiff`` for it)."""
    if not ctx.config.recreate_pod_when_change_vct:
        return True
    if ctx.cloneset.spec.update_strategy.type == "InPlaceOnly":
        return True
    pod_hash = next((h for name, h in ctx.claims_hashes.items() if is_at_revision(pod, name)), None)
    return claims_allow_in_place(pod_hash, ctx.claims_hashes.get(target))


def _in_place(ctx: RolloutContext, pod: PodView, spec: InPlaceSpec) -> tuple[list[Action], str | None]:
    """The writes for one in-place-capable pod, honouring the inPlaceUpdate hook (shared step:
    ``podmechanics.inplaceupdate.in_place_update``, with the CloneSet's revision labels)."""
    revision_labels: dict[str, str] = {}
    write_revision_labels(revision_labels, spec.revision, short_hash_label=ctx.config.short_hash_label)
    writes, error = in_place_update(
        pod, spec, ctx.timestamp, ctx.cloneset.spec.lifecycle, revision_labels=revision_labels
    )
    return list(writes), error


def _update_pod(
    ctx: RolloutContext, pod: PodView, target: str, specs: dict[str, InPlaceSpec | None]
) -> tuple[list[Action], str | None]:
    """The writes moving ``pod`` to ``target``; ``specs`` remembers the in-place spec per pod revision."""
    strategy = ctx.cloneset.spec.update_strategy
    if strategy.type in ("InPlaceIfPossible", "InPlaceOnly"):
        if pod.revision not in specs:
            old = _revision_template(ctx, pod)
            grace = (
                strategy.in_place_update_strategy.grace_period_seconds
                if strategy.in_place_update_strategy
                else 0
            )
            env_gate = ctx.config.in_place_update_env_from_metadata
            specs[pod.revision] = (
                in_place_spec(old, ctx.templates[target], target, grace, env_from_metadata=env_gate)
                if old is not None and _claims_allow_in_place(ctx, pod, target)
                else None
            )
        spec = specs[pod.revision]
        if spec is not None:
            return _in_place(ctx, pod, spec)
        if strategy.type == "InPlaceOnly":
            return [], f"find Pod {pod.name} update strategy is InPlaceOnly but can not update in-place"
    if SPECIFIED_DELETE_LABEL in pod.labels:
        return [], None
    message = f"successfully patch pod {pod.name} specified-delete for update(revision {target})"
    failure = f"specified-delete {pod.name} for update(revision {target}): {{error}}"
    patch: JsonDict = {"metadata": {"labels": {SPECIFIED_DELETE_LABEL: "true"}}}
    return [
        PatchPod(
            pod.name,
            patch,
            resource_version=pod.resource_version,
            success_event=normal("SuccessfulUpdatePodReCreate", message),
            failure_event=warning("FailedUpdatePodReCreate", f"failed to patch pod {failure}"),
        )
    ], None


@dataclass(frozen=True)
class Refresh:
    """The per-pod refresh of a pass, for all pods."""

    actions: tuple[Action, ...]
    refreshed: frozenset[str]
    """Pods written by the refresh: not updated in the same pass."""
    lifecycle_changed: bool
    requeue_after: float | None
    moved: Mapping[str, str] = field(default_factory=dict)
    """Pod name -> Normal for the new pods this pass moves PreparingNormal -> Normal (the status
    counts them there)."""


def refresh_pods(ctx: RolloutContext) -> Refresh:
    """``refreshPodState`` for every pod (kruise runs it at the start of the update step).

    The planner runs it before the scale step too, so pods become ready (InPlaceUpdateReady,
    lifecycle Normal) even while creations keep failing; it writes pod readiness and lifecycle
    only, never a pod's revision or the pod count.
    """
    actions: list[Action] = []
    delays: list[float] = []
    refreshed: set[str] = set()
    lifecycle_changed = False
    moved: dict[str, str] = {}
    for pod in ctx.pods:
        result = refresh_pod(ctx, pod)
        actions.extend(result.actions)
        if result.actions:
            refreshed.add(pod.name)
        if result.requeue_after is not None:
            delays.append(result.requeue_after)
        if result.moved_to:
            moved[pod.name] = result.moved_to
        lifecycle_changed |= result.lifecycle_changed
    delay = min(delays) if delays else None
    return Refresh(tuple(actions), frozenset(refreshed), lifecycle_changed, delay, moved)


def plan_update(ctx: RolloutContext, refresh: Refresh, *, updates_allowed: bool = True) -> UpdateOutcome:
    """The update step of one pass (``realControl.Update``), after ``refresh``.

    ``updates_allowed=False`` (an invalid update strategy) moves no pod to another revision.
    """
    actions: list[Action] = []
    refreshed, requeue = refresh.refreshed, refresh.requeue_after
    if refresh.lifecycle_changed or ctx.cloneset.spec.update_strategy.paused or not updates_allowed:
        return UpdateOutcome((), requeue)

    diff = update_diff(ctx)
    if diff.update == 0:
        return UpdateOutcome(tuple(actions), requeue)
    target = ctx.update_revision if diff.update > 0 else ctx.current_revision
    waiting = []
    for pod in ctx.pods:
        if pod.name in refreshed:
            continue
        at_update = is_at_revision(pod, ctx.update_revision)
        if at_update == (diff.update > 0):
            continue
        state = pod.lifecycle_state
        if state == "PreparingDelete" or (state != "Updated" and grace_annotation(pod) is not None):
            continue
        waiting.append(pod)
    ordered = update_order(waiting, ctx.pods, ctx.cloneset.spec.update_strategy)
    specs: dict[str, InPlaceSpec | None] = {}
    for pod in _limit(ctx, diff, ordered, target):
        writes, error = _update_pod(ctx, pod, target, specs)
        if writes and ctx.config.pub_update_gate and pod.annotations.get(RELATED_PUB_ANNOTATION):
            # kruise asks the pod's budget first and, refused, looks again in 1 s: the verdict is
            # the shell's, so the planner always asks to come back in 1 s.
            actions.append(CheckBudget(pod.name, pod.raw))
            requeue = min(requeue, PUB_RECHECK_SECONDS) if requeue is not None else PUB_RECHECK_SECONDS
        actions.extend(writes)
        if error is not None:
            return UpdateOutcome(tuple(actions), requeue, error)
        if writes and ctx.cloneset.spec.update_strategy.in_place_update_strategy:
            grace = ctx.cloneset.spec.update_strategy.in_place_update_strategy.grace_period_seconds
            if grace > 0 and pod.lifecycle_state in (
                "",
                "Normal",
                "PreparingNormal",
                "PreparingUpdate",
                "Updating",
            ):
                requeue = min(requeue, float(grace)) if requeue is not None else float(grace)
    return UpdateOutcome(tuple(actions), requeue)
