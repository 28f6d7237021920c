"""The UnitedDeployment planner: one reconcile's decisions (kruise ``ReconcileUnitedDeployment``).

In order: the revisions (``revisions.decide``); the subset workloads of the template's kind the
UnitedDeployment controls, one per subset name (duplicates beyond the oldest deleted); workloads of
the other kinds it controls deleted (a template kind changed); under Adaptive scheduling the
unschedulable subsets (``adaptive``, or ``reservation`` with ``reserveUnschedulablePods``, whose pod
label patches come first); replicas allocated (``allocation``) and partitions capped by them;
missing subsets created, subsets gone from the topology deleted, a subset whose revision label,
replicas, partition or patch differs (or, under the reservation, whose maxUnavailable differs while
it rolls out) updated (a JSON merge patch from the workload as it is to
``subsets.desired_workload``, guarded by its resourceVersion); then the status (replicas,
readyReplicas from the workloads' status, updatedReplicas / updatedReadyReplicas from the pods
carrying the update revision, subsetReplicas, subsetStatuses, updateStatus, conditions,
currentRevision, collisionCount, labelSelector for the scale subresource, observedGeneration),
written only when it changed, with kruise's Events. A spec kruise's webhook would refuse
(``schemas.kruise.rules``) is refused through ``workers.runtime.specrefusal``: condition
SubsetFailure True (reason InvalidSpec, kruise's messages), a Warning Event, and nothing else
written. Pure (``now`` is given); called by ``worker.plan``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from flotilla.runtime.kube import PODS, Resource
from schemas.kruise.pub import LabelSelector
from workers.podmechanics.kube_json import (
    JsonDict,
    JsonObject,
    controller_ref,
    format_time,
    integer,
    labels_of,
    mapping,
    name_of,
    objects,
    parse_time,
    thaw_object,
    uid_of,
)
from workers.podmechanics.ownership import selector_string
from workers.podmechanics.pods import is_active, is_ready, read_pod
from workers.runtime import actions as act
from workers.runtime import specrefusal
from workers.runtime.contract import Plan
from workers.runtime.events import ObjectRef
from workers.uniteddeployment import adaptive, allocation, reservation, revisions
from workers.uniteddeployment.subsets import (
    KINDS,
    REVISION_LABEL,
    SUBSET_NAME_LABEL,
    UNITED_DEPLOYMENTS,
    SubsetKind,
    SubsetTarget,
    WorkloadView,
    desired_workload,
    patch_text,
    template_kind,
    workload_view,
)

CONTROLLER_REVISIONS = Resource("apps", "v1", "controllerrevisions", "ControllerRevision")

SUCCESSFUL_UPDATE = "SuccessfulUpdateSubset"
SUBSET_FAILURE = "SubsetFailure"
FAILED_SPECIFY = "Failed SpecifySubsetReplicas"


@dataclass(frozen=True)
class ObservedUnitedDeployment:
    """The UnitedDeployment, its revisions, the workloads of each kind and the pods its selector matches."""

    raw: JsonObject
    revisions: tuple[JsonObject, ...] = ()
    workloads: Mapping[str, tuple[JsonObject, ...]] = field(default_factory=dict)
    """By :attr:`SubsetKind.type_name`."""
    pods: tuple[JsonObject, ...] = ()


def subset_specs(ud: JsonObject) -> tuple[allocation.SubsetSpec, ...]:
    def value(obj: JsonObject, key: str) -> int | str | None:
        raw = obj.get(key)
        return raw if isinstance(raw, int | str) else None

    return tuple(
        allocation.SubsetSpec(
            name=str(s.get("name", "")),
            replicas=value(s, "replicas"),
            min_replicas=value(s, "minReplicas"),
            max_replicas=value(s, "maxReplicas"),
        )
        for s in objects(ud, "spec", "topology", "subsets")
    )


def _controlled(ud: JsonObject, kind: SubsetKind, raws: Sequence[JsonObject]) -> list[WorkloadView]:
    uid = uid_of(ud)
    views = []
    for raw in raws:
        ref = controller_ref(raw)
        if ref is None or ref.get("uid") != uid:
            continue
        view = workload_view(raw, kind)
        if view.subset:
            views.append(view)
    views.sort(key=lambda v: (str(mapping(v.raw, "metadata").get("creationTimestamp", "")), v.name))
    return views


def merge_diff(old: JsonObject, new: JsonObject) -> JsonDict:
    """The JSON merge patch (RFC 7386) turning ``old`` into ``new``: removed keys become null."""
    patch: JsonDict = {}
    for key in old:
        if key not in new:
            patch[key] = None
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            inner = merge_diff(before, value)
            if inner:
                patch[key] = inner
        elif before != value:
            patch[key] = thaw_object({"v": value})["v"]
    return patch


def _set_condition(
    conditions: list[JsonDict], kind: str, status: str, reason: str, message: str, now: datetime
) -> None:
    """``SetUnitedDeploymentCondition``: unchanged status and reason keep the condition as it is."""
    for index, existing in enumerate(conditions):
        if existing.get("type") != kind:
            continue
        if existing.get("status") == status and existing.get("reason", "") == reason:
            return
        del conditions[index]
        break
    condition: JsonDict = {"type": kind, "status": status, "lastTransitionTime": format_time(now)}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    conditions.append(condition)


def plan(observed: ObservedUnitedDeployment, now: datetime) -> Plan:
    ud = observed.raw
    if mapping(ud, "metadata").get("deletionTimestamp"):
        return Plan(reason="UnitedDeployment is being deleted")
    namespace = str(mapping(ud, "metadata").get("namespace", ""))
    ref = ObjectRef.of({**ud, "apiVersion": UNITED_DEPLOYMENTS.api_version, "kind": "UnitedDeployment"})
    problems = specrefusal.rule_problems("UnitedDeployment", ud, lambda _field: SUBSET_FAILURE)
    if problems:
        refusal = specrefusal.refuse(
            problems, mapping(ud, "status"), integer(ud, "metadata", "generation"), now, (SUBSET_FAILURE,)
        )
        refused: list[act.Action] = [
            act.EmitEvent(ref, e.reason, e.message, "Warning") for e in refusal.events
        ]
        if refusal.status != dict(mapping(ud, "status")):
            body = {**thaw_object(ud), "status": refusal.status}
            refused.append(act.UpdateStatus(UNITED_DEPLOYMENTS, namespace, name_of(ud), body))
        return Plan(actions=tuple(refused), reason=refusal.reason)
    kind = template_kind(ud)
    if kind is None:
        return Plan(reason="UnitedDeployment has no template")
    actions: list[act.Action] = []
    decided = revisions.decide(ud, observed.revisions)
    for name in decided.to_delete:
        actions.append(act.DeleteObject(CONTROLLER_REVISIONS, namespace, name))
    if decided.to_create is not None:
        actions.append(act.CreateObject(CONTROLLER_REVISIONS, namespace, decided.to_create))
    if decided.to_renumber is not None:
        name, number = decided.to_renumber
        actions.append(act.PatchObject(CONTROLLER_REVISIONS, namespace, name, {"revision": number}))
    expected = decided.update

    # the subset workloads of the template's kind, one per subset name
    existing: dict[str, WorkloadView] = {}
    for view in _controlled(ud, kind, observed.workloads.get(kind.type_name, ())):
        if view.subset in existing:
            actions.append(act.DeleteObject(kind.resource, namespace, view.name, uid=uid_of(view.raw)))
        else:
            existing[view.subset] = view
    cleaned = False
    for other in KINDS:
        if other is kind:
            continue
        for view in _controlled(ud, other, observed.workloads.get(other.type_name, ())):
            cleaned = True
            actions.append(act.DeleteObject(other.resource, namespace, view.name, uid=uid_of(view.raw)))

    specs = subset_specs(ud)
    raw_total = mapping(ud, "spec").get("replicas")
    total = raw_total if isinstance(raw_total, int) else None
    by_subset: dict[str, list[JsonObject]] = {}
    for raw_pod in observed.pods:
        by_subset.setdefault(labels_of(raw_pod).get(SUBSET_NAME_LABEL, ""), []).append(raw_pod)
    assessment = adaptive.Assessment({}, {}, None)
    reserving = reservation.enabled(ud)
    reserved: reservation.Assessment | None = None
    if reserving:
        created = reservation.new_subset_conditions(ud, now)
        pods_of = {n: reservation.SubsetPods(v.replicas, by_subset.get(n, ())) for n, v in existing.items()}
        reserved = reservation.assess(
            ud,
            {**_subset_conditions(ud), **created},
            pods_of,
            expected,
            _updated_since(ud, decided, now),
            now,
        )
        for change in reserved.patches:
            actions.append(act.PatchObject(PODS, namespace, change.pod, change.patch))
        assessment = adaptive.Assessment(
            {n: r.unschedulable for n, r in reserved.subsets.items()},
            {**created, **reserved.conditions},
            reserved.requeue_after,
        )
    elif adaptive.is_adaptive(ud):
        states = {
            n: adaptive.SubsetState(v.status_replicas, v.status_ready, by_subset.get(n, ()))
            for n, v in existing.items()
        }
        assessment = adaptive.assess(ud, _subset_conditions(ud), states, now)
    try:
        current = {n: v.replicas for n, v in existing.items()}
        next_replicas = allocation.allocate(
            total,
            specs,
            current,
            adaptive=adaptive.is_adaptive(ud),
            ready={n: v.status_ready for n, v in existing.items()},
            unschedulable=assessment.unschedulable,
            reservation=reserved.subsets if reserved is not None else None,
        )
    except allocation.AllocationError as err:
        actions.append(
            act.EmitEvent(ref, FAILED_SPECIFY, f"Specified subset replicas is ineffective: {err}", "Warning")
        )
        return Plan(actions=tuple(actions), reason=f"subset replicas: {err}")
    if reserved is not None:
        reservation.after_allocation(reserved, next_replicas, now)
    wanted_partitions = mapping(ud, "spec", "updateStrategy", "manualUpdate", "partitions")
    next_partitions = allocation.partitions(
        specs, {k: v for k, v in wanted_partitions.items() if isinstance(v, int)}, next_replicas
    )

    subsets = {str(s.get("name", "")): s for s in objects(ud, "spec", "topology", "subsets")}
    creates = [name for name in sorted(subsets) if name not in existing]
    deletes = [name for name in sorted(existing) if name not in subsets]
    for name in creates:
        target = SubsetTarget(name, next_replicas[name], next_partitions[name])
        actions.append(
            act.CreateObject(
                kind.resource, namespace, desired_workload(ud, kind, subsets[name], expected, target)
            )
        )
    requeue_after = assessment.requeue_after
    if creates:
        actions.append(
            act.EmitEvent(ref, SUCCESSFUL_UPDATE, f"Create {len(creates)} Subset ({kind.type_name})")
        )
        if adaptive.is_adaptive(ud):
            # kruise: a new subset is looked at again once its pods could have timed out pending
            critical = float(adaptive.reschedule_critical_seconds(ud))
            requeue_after = critical if requeue_after is None else min(requeue_after, critical)
    for name in deletes:
        view = existing[name]
        actions.append(act.DeleteObject(kind.resource, namespace, view.name, uid=uid_of(view.raw)))
    if deletes:
        actions.append(
            act.EmitEvent(ref, SUCCESSFUL_UPDATE, f"Delete {len(deletes)} Subset ({kind.type_name})")
        )
    for name in sorted(existing):
        if name not in subsets:
            continue
        view = existing[name]
        override = None
        if reserved is not None and name in reserved.subsets:
            override = reservation.max_unavailable(
                reserved.subsets[name], view.status_ready, reserved.update_timeout_pods[name]
            )
        target = SubsetTarget(name, next_replicas[name], next_partitions[name], override)
        # kruise also updates a subset still rolling out (fewer updated than its pods); that
        # update only changes something when the reservation overrides its maxUnavailable
        rolling = _updated(by_subset.get(name, ()), expected) < view.status_replicas
        stale = (
            view.revision != expected
            or view.replicas != target.replicas
            or (kind.has_partition and (view.partition or 0) != target.partition)
            or view.patch != patch_text(subsets[name])
            or (rolling and override is not None and view.max_unavailable != override)
        )
        if not stale:
            continue
        desired = desired_workload(ud, kind, subsets[name], expected, target)
        meta = mapping(desired, "metadata")
        patch: JsonDict = {
            "metadata": {
                "resourceVersion": str(mapping(view.raw, "metadata").get("resourceVersion", "")),
                "labels": dict(mapping(meta, "labels")),
                "annotations": dict(mapping(meta, "annotations")),
            },
            "spec": merge_diff(mapping(view.raw, "spec"), mapping(desired, "spec")),
        }
        actions.append(act.PatchObject(kind.resource, namespace, view.name, patch))

    status = _status(
        ud,
        observed,
        existing,
        next_replicas,
        next_partitions,
        decided,
        kind,
        now,
        provisioned=bool(creates or deletes or cleaned),
        subset_conditions=assessment.conditions,
        reserved_pods={n: r.reserved_pods for n, r in reserved.subsets.items()} if reserved else None,
    )
    if status != dict(mapping(ud, "status")):
        body = {**thaw_object(ud), "status": status}
        actions.append(act.UpdateStatus(UNITED_DEPLOYMENTS, namespace, name_of(ud), body))
    reason = f"{len(subsets)} subsets, revision {expected}"
    if assessment.unschedulable:
        stuck = sorted(n for n, u in assessment.unschedulable.items() if u)
        reason += f", unschedulable: {', '.join(stuck) or 'none'}"
    return Plan(actions=tuple(actions), requeue_after=requeue_after, reason=reason)


def _updated(pods: Sequence[JsonObject], revision: str) -> int:
    """``CalculateUpdatedReplicas``: active pods carrying ``revision``."""
    return sum(1 for p in pods if labels_of(p).get(REVISION_LABEL) == revision and is_active(read_pod(p)))


def _updated_since(ud: JsonObject, decided: revisions.Revisions, now: datetime) -> datetime:
    """The lastTransitionTime the ``UnitedDeploymentUpdated`` condition has in this pass (kruise
    sets it before the reservation looks at pods): kept while its status stays, else now."""
    status = "False" if decided.current != decided.update else "True"
    for condition in objects(ud, "status", "conditions"):
        if condition.get("type") == "UnitedDeploymentUpdated" and condition.get("status") == status:
            return parse_time(condition.get("lastTransitionTime")) or now
    return now


def _subset_conditions(ud: JsonObject) -> dict[str, tuple[JsonObject, ...]]:
    """The conditions of each topology subset's status entry (``initStatus``: none for a new one)."""
    entries = {str(s.get("name", "")): s for s in objects(ud, "status", "subsetStatuses")}
    return {
        name: tuple(objects(entries[name], "conditions")) if name in entries else ()
        for name in (str(s.get("name", "")) for s in objects(ud, "spec", "topology", "subsets"))
    }


def _status(
    ud: JsonObject,
    observed: ObservedUnitedDeployment,
    existing: Mapping[str, WorkloadView],
    next_replicas: Mapping[str, int],
    next_partitions: Mapping[str, int],
    decided: revisions.Revisions,
    kind: SubsetKind,
    now: datetime,
    *,
    provisioned: bool,
    subset_conditions: Mapping[str, Sequence[JsonObject]] | None = None,
    reserved_pods: Mapping[str, int] | None = None,
) -> JsonDict:
    old = mapping(ud, "status")
    status = thaw_object(old)
    conditions = [thaw_object(c) for c in objects(old, "conditions")]
    expected = decided.update
    if decided.current != expected:
        _set_condition(
            conditions,
            "UnitedDeploymentUpdated",
            "False",
            "UnitedDeploymentRevisionUpdating",
            f"updating to revision {expected}",
            now,
        )
    else:
        _set_condition(
            conditions,
            "UnitedDeploymentUpdated",
            "True",
            "UnitedDeploymentRevisionUpdated",
            f"updated to revision {expected}",
            now,
        )
    if provisioned:
        _set_condition(conditions, "SubsetProvisioned", "True", "", "", now)
    _set_condition(conditions, "SubsetUpdated", "True", "", "", now)
    conditions = [c for c in conditions if c.get("type") != "SubsetFailure"]

    subset_statuses = [thaw_object(s) for s in objects(old, "subsetStatuses")]
    known = {s.get("name") for s in subset_statuses}
    for s in objects(ud, "spec", "topology", "subsets"):
        if s.get("name") not in known:
            subset_statuses.append({"name": str(s.get("name", ""))})
    for entry in subset_statuses:
        conditions_now = (subset_conditions or {}).get(str(entry.get("name", "")))
        if conditions_now:
            entry["conditions"] = [thaw_object(c) for c in conditions_now]
    by_subset: dict[str, list[JsonObject]] = {}
    for raw_pod in observed.pods:
        by_subset.setdefault(labels_of(raw_pod).get(SUBSET_NAME_LABEL, ""), []).append(raw_pod)
    replicas = ready = updated = updated_ready = reserved_total = 0
    for name, view in existing.items():
        kept = (reserved_pods or {}).get(name, 0)
        replicas += view.status_replicas - kept
        reserved_total += kept
        ready += view.status_ready
        for pod_raw in by_subset.get(name, ()):
            pod = read_pod(pod_raw)
            if labels_of(pod_raw).get(REVISION_LABEL) == expected and is_active(pod):
                updated += 1
                if is_ready(pod):
                    updated_ready += 1
        for entry in subset_statuses:
            if entry.get("name") == name:
                entry["replicas"] = view.status_replicas
                entry["readyReplicas"] = view.status_ready
                entry["partition"] = next_partitions.get(name, 0)
                entry["reservedPods"] = kept
    selector = selector_string(LabelSelector.model_validate(dict(mapping(ud, "spec", "selector"))))
    if reserved_pods is not None:
        selector += reservation.STATUS_SELECTOR_SUFFIX
    status.update(
        replicas=replicas,
        readyReplicas=ready,
        updatedReplicas=updated,
        updatedReadyReplicas=updated_ready,
        reservedPods=reserved_total,
        subsetReplicas=dict(next_replicas),
        subsetStatuses=subset_statuses,
        conditions=conditions,
        collisionCount=decided.collision_count,
        updateStatus={"updatedRevision": expected, "currentPartitions": dict(next_partitions)},
        labelSelector=selector,
        observedGeneration=integer(ud, "metadata", "generation"),
    )
    current = str(old.get("currentRevision") or "") or decided.current
    if expected != current and updated_ready >= replicas:
        current = expected
    status["currentRevision"] = current
    del kind
    return status
