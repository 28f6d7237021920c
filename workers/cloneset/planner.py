"""``plan``: one CloneSet reconcile, from observed state to a :class:`Plan` (kruise ``doReconcile``).

Order of a pass: validate the spec; adopt / release pods; clean up PVCs (disablePVCReuse);
find or create the update revision; pre-download the update's images (``predownload``,
best effort); then either scale (``scale``) or, when scaling changed
nothing, update (``update``); prune podsToDelete and old revisions; write status last. A
pass never scales and updates at once. Pure: no I/O, no clock, no globals, no logging.
Called by the worker shell; tested with plain data in ``tests/unit/cloneset``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from workers.cloneset.actions import (
    Action,
    CreateRevision,
    DeleteRevision,
    EmitEvent,
    PatchCloneSet,
    PatchPod,
    Plan,
    RenumberRevision,
    UpdateStatus,
    warning,
)
from workers.cloneset.claimhash import VCT_HASH_ANNOTATION, revision_claims_hash
from workers.cloneset.claims import clean_up_claims, owned_claims
from workers.cloneset.config import PlannerConfig
from workers.cloneset.history import revision_owner
from workers.cloneset.limits import resolve_limits
from workers.cloneset.newpod import SeededNames
from workers.cloneset.observed import ObservedCloneSet
from workers.cloneset.owner import cloneset_uid, controller_reference
from workers.cloneset.predownload import PreDownloadInput, plan_predownload
from workers.cloneset.progress import progressing
from workers.cloneset.rollout import RolloutContext
from workers.cloneset.scale import plan_scale
from workers.cloneset.status import (
    FAILED_SCALE,
    FAILED_UPDATE,
    compute_status,
    seconds_until_next_available,
    status_changed,
)
from workers.cloneset.update import plan_update, refresh_pods
from workers.cloneset.validation import scale_problems, update_problems
from workers.podmechanics.conditions import ConditionChange
from workers.podmechanics.kube_json import JsonObject, as_objects, name_of, thaw_object
from workers.podmechanics.ownership import adopt_patch, claim_pods, release_patch, selector_string
from workers.podmechanics.pods import PodView, is_active, is_at_revision, read_pod
from workers.podmechanics.revisions import decide_revisions, owned_revisions, revisions_to_delete, template_of
from workers.runtime.specrefusal import SpecProblem, condition_changes, refuse

#: The conditions a spec problem is reported on (kruise's CloneSet condition types).
_PROBLEM_CONDITIONS = (FAILED_SCALE, FAILED_UPDATE)


def _adoption(
    observed: ObservedCloneSet, adopt: Sequence[PodView], release: Sequence[PodView]
) -> list[Action]:
    owner = controller_reference(observed.cloneset)
    actions: list[Action] = []
    for pod in adopt:
        actions.append(PatchPod(pod.name, adopt_patch(owner, pod), resource_version=pod.resource_version))
    for pod in release:
        actions.append(
            PatchPod(pod.name, release_patch(str(owner["uid"]), pod), resource_version=pod.resource_version)
        )
    return actions


def _problem_changes(
    observed: ObservedCloneSet, problems: Sequence[SpecProblem]
) -> tuple[list[ConditionChange], list[Action]]:
    """Conditions for spec problems, and an Event when a problem is new (not already on the condition)."""
    existing = [c.to_wire() for c in observed.cloneset.status.conditions or ()]
    changes, events = condition_changes(problems, existing, _PROBLEM_CONDITIONS)
    return changes, [EmitEvent(warning(e.reason, e.message)) for e in events]


def _status_action(observed: ObservedCloneSet, status: JsonObject) -> list[Action]:
    old = observed.cloneset.status.to_wire()
    if not status_changed(old, status):
        return []
    return [UpdateStatus(status)]


def _blocked(observed: ObservedCloneSet, problems: Sequence[SpecProblem], now: datetime) -> Plan:
    """A spec no pod write can follow: only the conditions, one Event, and observedGeneration."""
    cloneset = observed.cloneset
    generation = cloneset.metadata.get("generation", 0)
    refusal = refuse(problems, cloneset.status.to_wire(), generation, now, _PROBLEM_CONDITIONS)
    events = [EmitEvent(warning(e.reason, e.message)) for e in refusal.events]
    return Plan((*events, *_status_action(observed, refusal.status)), None, refusal.reason)


@dataclass(frozen=True)
class _PodPass:
    actions: tuple[Action, ...]
    requeue_after: float | None
    reason: str
    changes: tuple[ConditionChange, ...]
    moved: Mapping[str, str]
    """Pod name -> Normal for the new pods the pass moves PreparingNormal -> Normal."""


def _pod_pass(ctx: RolloutContext, updates_allowed: bool) -> _PodPass:
    """Refresh, then scale, or (when scaling changed nothing) update: the pod writes of a pass."""
    refresh = refresh_pods(ctx)
    scaled = plan_scale(ctx)
    if scaled.changed:
        writes = sum(1 for a in scaled.actions if not isinstance(a, EmitEvent))
        requeue = _soonest(refresh.requeue_after, scaled.requeue_after)
        reason = f"scaling: {writes} write(s)"
        return _PodPass((*refresh.actions, *scaled.actions), requeue, reason, (), refresh.moved)
    updated = plan_update(ctx, refresh, updates_allowed=updates_allowed)
    actions = (*refresh.actions, *scaled.actions, *updated.actions)
    requeue = _soonest(updated.requeue_after, scaled.requeue_after)
    if updated.error is not None:
        failed = ConditionChange(FAILED_UPDATE, "True", "UpdateFailed", updated.error)
        event = EmitEvent(warning("FailedUpdate", updated.error))
        reason = f"update failed: {updated.error}"
        return _PodPass((*actions, event), requeue, reason, (failed,), refresh.moved)
    if updated.actions:
        reason = f"updating: {len(updated.actions)} write(s)"
    elif refresh.actions:
        reason = f"refreshing pods: {len(refresh.actions)} write(s)"
    else:
        reason = "in sync"
    return _PodPass(actions, requeue, reason, (), refresh.moved)


def _soonest(*delays: float | None) -> float | None:
    known = [d for d in delays if d is not None]
    return min(known) if known else None


def plan(observed: ObservedCloneSet, config: PlannerConfig, now: datetime) -> Plan:
    """Everything one reconcile of ``observed.cloneset`` should do, in order."""
    cloneset = observed.cloneset
    spec = cloneset.spec
    blocking = scale_problems(cloneset)
    if blocking:
        return _blocked(observed, blocking, now)

    uid = cloneset_uid(cloneset)
    # Each pod's JSON is read once, here; the rest of the pass asks the records.
    being_deleted = cloneset.metadata.get("deletionTimestamp") is not None
    claims = claim_pods(uid, spec.selector, being_deleted, [read_pod(p) for p in observed.pods])
    actions: list[Action] = _adoption(observed, claims.adopt, claims.release)
    active = tuple(p for p in claims.owned if is_active(p))
    inactive = tuple(p for p in claims.owned if not is_active(p))

    pvcs = owned_claims(observed.pvcs, uid)
    if spec.scale_strategy.disable_pvc_reuse:
        cleanup = clean_up_claims(pvcs, active, inactive, uid)
        actions.extend(cleanup.actions)
        pvcs = cleanup.kept

    owned = owned_revisions(uid, observed.revisions)
    decision = decide_revisions(revision_owner(cloneset), owned, {name_of(r): r for r in observed.revisions})
    if decision.to_create is not None:
        actions.append(CreateRevision(decision.to_create))
    if decision.to_renumber is not None:
        name, number, changed = decision.to_renumber
        actions.append(RenumberRevision(name, number, (changed or {}).get(VCT_HASH_ANNOTATION)))
    current, update = name_of(decision.current), name_of(decision.update)
    templates = {name_of(r): template_of(r) for r in owned}
    templates[update] = spec.template
    templates.setdefault(current, template_of(decision.current))
    claims_hashes = {name_of(r): revision_claims_hash(r) for r in owned}
    claims_hashes[update] = revision_claims_hash(decision.update)
    claims_hashes.setdefault(current, revision_claims_hash(decision.current))

    limits = resolve_limits(cloneset)
    pod_templates = [t for name, t in templates.items() if any(is_at_revision(p, name) for p in active)]
    blocked_update = update_problems(cloneset, spec.template, pod_templates)
    changes, events = _problem_changes(observed, blocked_update)
    actions.extend(events)
    # A template that cannot be rolled out is not rolled out by scaling either: while updates are
    # blocked, new pods come from the current revision (as if partition were replicas).
    pass_limits = replace(limits, partition=limits.replicas) if blocked_update else limits
    names = SeededNames(observed.name_seed)
    ctx = RolloutContext(
        cloneset,
        active,
        pvcs,
        current,
        update,
        templates,
        pass_limits,
        config,
        now,
        names,
        inactive,
        observed.node_labels,
        claims_hashes,
    )

    if config.pre_download_image:  # as in kruise, before (and regardless of) the pod pass
        given = PreDownloadInput(cloneset, decision.current, decision.update, observed.image_pull_jobs)
        actions.extend(plan_predownload(given))

    requeue: float | None = None
    reason = "CloneSet is being deleted"
    moved: Mapping[str, str] = {}
    if cloneset.metadata.get("deletionTimestamp") is None:
        pod_pass = _pod_pass(ctx, updates_allowed=not blocked_update)
        actions.extend(pod_pass.actions)
        changes.extend(pod_pass.changes)
        requeue, reason, moved = pod_pass.requeue_after, pod_pass.reason, pod_pass.moved

    live_names = {p.name for p in active}
    pods_to_delete = spec.scale_strategy.pods_to_delete or []
    pruned = [n for n in pods_to_delete if n in live_names]
    if len(pruned) != len(pods_to_delete):
        rv = str(cloneset.metadata.get("resourceVersion", ""))
        actions.append(PatchCloneSet({"spec": {"scaleStrategy": {"podsToDelete": pruned or None}}}, rv))
    for name in revisions_to_delete(owned, active, current, update, spec.revision_history_limit):
        actions.append(DeleteRevision(name))

    status = compute_status(
        cloneset,
        active,
        current_revision=current,
        update_revision=update,
        collision_count=decision.collision_count,
        label_selector=selector_string(spec.selector),
        expected_updated=limits.replicas - limits.partition,
        changes=changes,
        now=now,
        moved=moved,
    )
    conditions = [thaw_object(c) for c in as_objects(status.get("conditions"))]
    progress = progressing(cloneset, status, conditions, now)
    if progress.conditions:
        status["conditions"] = list(progress.conditions)
    elif cloneset.status.conditions:
        status["conditions"] = None  # a merge patch removes the key only when told
    else:
        status.pop("conditions", None)
    actions.extend(_status_action(observed, status))
    requeue = _soonest(
        requeue, progress.requeue_after, seconds_until_next_available(active, spec.min_ready_seconds, now)
    )
    return Plan(_first_write_preconditions(actions), requeue, reason)


def _first_write_preconditions(actions: Sequence[Action]) -> tuple[Action, ...]:
    """Only a pod's first write in a plan carries its observed resourceVersion (later ones follow it)."""
    seen: set[str] = set()
    out: list[Action] = []
    for action in actions:
        if isinstance(action, PatchPod):
            if action.name in seen and action.resource_version is not None:
                action = replace(action, resource_version=None)
            seen.add(action.name)
        out.append(action)
    return tuple(out)
