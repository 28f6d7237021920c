"""The Advanced StatefulSet planner: observed state in, a plan out (kruise's ``updateStatefulSet``).

One pass, in kruise's order: find or make the update revision (``revisions``); ask for the
update's image pre-download or clean it up (``predownload``, gate on); adopt orphans
named ``<set>-<ordinal>``; lay the pods out on the replica ordinals (``ordinals``) and condemn
the rest; walk the replica ordinals upward (``processReplica``): recreate Failed / Succeeded
pods, create missing ones (PVCs first) at the current revision below the partition and the
update revision above it, wait for each pod to be Running and Available under OrderedReady, or
stop at ``scaleStrategy.maxUnavailable`` unavailable under Parallel; fix the PVC owners the
retention policy asks for; delete condemned pods from the highest ordinal down (one at a time,
healthy predecessors first, under OrderedReady; all at once under Parallel); then, under
RollingUpdate, the update itself (``update``). The status is computed from the same pods and
written last; history beyond ``revisionHistoryLimit`` is pruned. Pure: no I/O, no clock
(``now`` is an argument). Called by ``worker.plan``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from schemas.kruise.base import resolve_int_or_percent
from schemas.kruise.statefulset import StatefulSet
from workers.podmechanics.kube_json import (
    JsonDict,
    JsonObject,
    format_time,
    mapping,
    name_of,
    objects,
    uid_of,
)
from workers.podmechanics.kube_json import (
    field as json_field,
)
from workers.podmechanics.ownership import adopt_patch, claim_pods, release_patch, selector_string
from workers.podmechanics.pods import PodView, is_all_hooked, read_pod
from workers.podmechanics.revisions import owned_revisions, revisions_to_delete, template_of
from workers.runtime.actions import PatchObject
from workers.runtime.events import ObjectRef
from workers.statefulset.builder import CONTROLLER_REVISIONS, PVCS, STATEFULSETS, PlanBuilder, StatefulSetPlan
from workers.statefulset.failurestatus import CREATE_FAILED, UPDATE_FAILED, with_failure, without_failures
from workers.statefulset.identity import claims_for, identity_matches, new_pod, set_reference
from workers.statefulset.observed import ObservedStatefulSet, PlannerConfig
from workers.statefulset.ordinals import (
    claim_name,
    parent_and_ordinal,
    replica_range,
    reserved_ordinals,
)
from workers.statefulset.podstate import (
    is_failed_or_succeeded,
    is_healthy,
    is_running_and_ready,
    is_terminating,
    wait_until_available,
)
from workers.statefulset.predownload import add_steps, plan_predownload
from workers.statefulset.refresh import refresh_pod
from workers.statefulset.retention import desired_owners, new_claim_owners
from workers.statefulset.revisions import orphan_adoptions, set_revisions
from workers.statefulset.state import Pass, Slot
from workers.statefulset.status import complete_rolling_update, count_replicas, volume_claim_status
from workers.statefulset.update import delete_or_hook, plan_rolling_update
from workers.statefulset.validation import FAILED_CREATE_POD, FAILED_UPDATE_POD, refusal, spec_problems


def _start_ordinal(sts: StatefulSet, config: PlannerConfig) -> int:
    return sts.spec.ordinals.start if config.start_ordinal and sts.spec.ordinals is not None else 0


def _current_revision_needed(p: Pass, index: int) -> bool:
    """``isCurrentRevisionNeeded`` for the pod created at slot ``index``."""
    strategy = p.sts.spec.update_strategy
    if strategy.type != "RollingUpdate":
        return False
    rolling = strategy.rolling_update
    if rolling.unordered_update is None:
        before = sum(1 for s in p.slots[:index] if s is not None)
        return before + 1 <= rolling.partition
    not_updated = sum(
        1 for i, s in enumerate(p.slots) if s is not None and i != index and s.pod.revision != p.update_name
    )
    return not_updated < rolling.partition


def _new_slot_pod(p: Pass, index: int, ordinal: int) -> PodView:
    current = _current_revision_needed(p, index)
    revision = p.revisions.current if current else p.revisions.update
    template = template_of(revision) if current else p.sts.spec.template
    lifecycle = p.sts.spec.lifecycle
    pre_normal = lifecycle.pre_normal if lifecycle is not None else None
    body = new_pod(
        set_name=p.name,
        namespace=p.sts.metadata.get("namespace", ""),
        set_uid=p.uid,
        service_name=p.sts.spec.service_name or "",
        template=template,
        claim_templates=p.claim_templates(),
        ordinal=ordinal,
        revision=name_of(revision),
        lifecycle_state="PreparingNormal" if pre_normal is not None else "Normal",
        timestamp=format_time(p.now),
        pod_index_label=p.config.pod_index_label,
    )
    view = read_pod(body)
    if pre_normal is not None and is_all_hooked(pre_normal, view):
        body["metadata"]["labels"]["lifecycle.apps.kruise.io/state"] = "Normal"  # type: ignore[index]
        view = read_pod(body)
    return view


def _adopt(p: Pass, pods: Sequence[PodView]) -> list[PodView]:
    """``ClaimPods`` with ``isMemberOf``: the set's pods, adopting orphans named after it that the
    selector matches and releasing owned pods it no longer matches (their ownerReference removed,
    as kruise's ref manager does; they leave the set's counts)."""
    deleting = json_field(p.raw, "metadata", "deletionTimestamp") is not None
    claims = claim_pods(
        p.uid,
        p.sts.spec.selector,
        deleting,
        pods,
        member=lambda pod: parent_and_ordinal(pod.name)[0] == p.name,
    )
    owner = set_reference(p.name, p.uid, controller=True)
    for pod in claims.adopt:
        p.out.update_pod(pod.name, adopt_patch(owner, pod), evented=False)
    for pod in claims.release:
        p.out.update_pod(pod.name, release_patch(p.uid, pod), evented=False)
    return list(claims.owned)


def _claims_of(p: Pass, ordinal: int) -> list[JsonDict]:
    owners = new_claim_owners(
        p.sts.spec.persistent_volume_claim_retention_policy if p.config.auto_delete_pvc else None,
        set_name=p.name,
        set_uid=p.uid,
    )
    return list(
        claims_for(
            p.claim_templates(),
            set_name=p.name,
            namespace=p.sts.metadata.get("namespace", ""),
            match_labels=p.sts.spec.selector.match_labels or {},
            ordinal=ordinal,
            owners=owners,
        )
    )


def _create_missing_claims(p: Pass, pod: PodView, ordinal: int, *, for_create: bool = False) -> bool:
    """``createPersistentVolumeClaims``; False when a PVC is being deleted (the pod must wait).
    ``for_create``: the claims of a pod about to be created (their failure is FailedCreatePod)."""
    for claim in _claims_of(p, ordinal):
        existing = p.claims.get(name_of(claim))
        if existing is None:
            index = p.out.create_claim(claim, pod.name)
            if for_create:
                p.create_writes.append(index)
            p.claims[name_of(claim)] = claim
        elif json_field(existing, "metadata", "deletionTimestamp") is not None:
            p.out.warn(
                "FailedCreate",
                f"create Pod {pod.name} in StatefulSet {p.name} failed error: "
                f"pvc {name_of(claim)} is to be deleted",
            )
            p.out.requeue(5.0)
            return False
    return True


def _fix_claim_owners(p: Pass, pod: PodView, ordinal: int, scaled_down: bool) -> None:
    """``UpdatePodClaimForRetentionPolicy``: patch each PVC whose owners differ from the policy's."""
    if not p.config.auto_delete_pvc:
        return
    policy = p.sts.spec.persistent_volume_claim_retention_policy
    for template in p.claim_templates():
        claim = p.claims.get(claim_name(name_of(template), p.name, ordinal))
        if claim is None or not uid_of(claim):
            continue
        current = objects(claim, "metadata", "ownerReferences")
        wanted = desired_owners(
            current,
            policy,
            set_name=p.name,
            set_uid=p.uid,
            pod_name=pod.name,
            pod_uid=pod.uid,
            scaled_down=scaled_down,
        )
        if [dict(r) for r in current] != wanted:
            rv = str(mapping(claim, "metadata").get("resourceVersion", ""))
            p.out.patch(
                PVCS, name_of(claim), {"metadata": {"ownerReferences": wanted, "resourceVersion": rv}}
            )


def _claim_is_stale(p: Pass, ordinal: int, pod_name: str) -> bool:
    """``PodClaimIsStale``: under whenScaled Delete, a PVC still owned by an earlier pod of that name."""
    policy = p.sts.spec.persistent_volume_claim_retention_policy
    if policy is None or policy.when_scaled != "Delete":
        return False
    for template in p.claim_templates():
        claim = p.claims.get(claim_name(name_of(template), p.name, ordinal))
        if claim is not None and any(
            r.get("name") == pod_name for r in objects(claim, "metadata", "ownerReferences")
        ):
            return True
    return False


def _dec(budget: list[int] | None) -> bool:
    """``decreaseAndCheckMaxUnavailable``: take one from the scale budget; True when it runs out."""
    if budget is None:
        return False
    budget[0] -= 1
    return budget[0] <= 0


def _process_replicas(p: Pass, budget: list[int] | None) -> bool:
    """``processReplica`` over the replica ordinals; True when the pass must stop here."""
    for slot in p.slots:
        if slot is None:
            continue
        pod = slot.pod
        if not slot.exists:
            if p.config.auto_delete_pvc and _claim_is_stale(p, slot.ordinal, pod.name):
                if p.monotonic:
                    return True
                continue
            if not _create_missing_claims(p, pod, slot.ordinal, for_create=True):
                return True
            p.create_writes.append(p.out.create_pod(dict(pod.raw)))
            if p.monotonic:
                return True
            if _dec(budget):
                return False
            continue
        if is_failed_or_succeeded(pod):
            if _dec(budget):
                return False
            if not pod.deleting:
                delete_or_hook(p, pod)
            if p.monotonic:
                return True
            continue
        if pod.phase == "Pending" and not _create_missing_claims(p, pod, slot.ordinal):
            return True
        if is_terminating(pod):
            if p.monotonic:
                return True
            if _dec(budget):
                return False
        refresh_pod(p, pod)
        if p.monotonic or budget is not None:
            wait = wait_until_available(pod, p.min_ready_seconds, p.now)
            if wait is not None:
                p.out.requeue(wait)
                if p.monotonic:
                    return True
                if _dec(budget):
                    return False
        if not identity_matches(p.name, p.sts.metadata.get("namespace", ""), pod.raw):
            patch = {"metadata": {"labels": {"statefulset.kubernetes.io/pod-name": pod.name}}}
            p.update_writes.append(p.out.update_pod(pod.name, patch))
        _fix_claim_owners(p, pod, slot.ordinal, scaled_down=False)
    return False


def _process_condemned(p: Pass) -> bool:
    """``processCondemned`` from the highest ordinal down; True when the pass must stop here."""
    for pod in p.condemned:
        _fix_claim_owners(p, pod, parent_and_ordinal(pod.name)[1], scaled_down=True)
    unhealthy = [s.pod for s in p.slots if s is not None and s.exists and not is_healthy(s.pod)]
    unhealthy += [c for c in p.condemned if not is_healthy(c)]
    first_unhealthy = min(unhealthy, key=lambda q: parent_and_ordinal(q.name)[1], default=None)
    for pod in p.condemned:
        if is_terminating(pod):
            if p.monotonic:
                return True
            continue
        first = first_unhealthy is not None and pod.name == first_unhealthy.name
        if p.monotonic and not first:
            if not is_running_and_ready(pod):
                return True
            wait = wait_until_available(pod, p.min_ready_seconds, p.now)
            if wait is not None:
                p.out.requeue(wait)
                return True
        modified, _ = delete_or_hook(p, pod)
        if p.monotonic and modified:
            return True
    return False


def _scale_budget(sts: StatefulSet) -> list[int] | None:
    strategy = sts.spec.scale_strategy
    if strategy is None or strategy.max_unavailable is None:
        return None
    value = resolve_int_or_percent(strategy.max_unavailable, sts.spec.replicas, round_up=False)
    return [max(value, 1)]


def _status(p: Pass, pods: Sequence[PodView], *, deltas: bool = True) -> JsonDict:
    """The status the pass writes; ``deltas`` False: as the pods were found (a failing pass's,
    which stops before its deletions)."""
    counts = count_replicas(pods, p.min_ready_seconds, p.current_name, p.update_name, p.now)
    if deltas:
        counts = replace(
            counts, current=counts.current + p.current_delta, updated=counts.updated + p.updated_delta
        )
    rolling = p.sts.spec.update_strategy.type == "RollingUpdate"
    counts, current = complete_rolling_update(counts, rolling, p.current_name, p.update_name)
    status: JsonDict = {
        "observedGeneration": int(p.sts.metadata.get("generation", 0) or 0),
        "replicas": counts.replicas,
        "readyReplicas": counts.ready,
        "availableReplicas": counts.available,
        "currentReplicas": counts.current,
        "updatedReplicas": counts.updated,
        "updatedReadyReplicas": counts.updated_ready,
        "updatedAvailableReplicas": counts.updated_available,
        "currentRevision": current,
        "updateRevision": p.update_name,
        "collisionCount": p.revisions.collision_count,
        "labelSelector": selector_string(p.sts.spec.selector),
    }
    templates = p.claim_templates()
    if templates:
        status["volumeClaims"] = volume_claim_status(templates, p.name, pods, p.claims.values())
    return status


def plan(observed: ObservedStatefulSet, config: PlannerConfig, now: datetime) -> StatefulSetPlan:
    """What one reconcile of one Advanced StatefulSet does (see the module docstring)."""
    sts, raw = observed.statefulset, observed.raw
    set_name = name_of(raw)
    namespace = str(sts.metadata.get("namespace", ""))
    ref = ObjectRef.of({**raw, "apiVersion": STATEFULSETS.api_version, "kind": "StatefulSet"})
    out = PlanBuilder(set_name, namespace, ref)
    deleting = json_field(raw, "metadata", "deletionTimestamp") is not None
    problems = () if deleting else spec_problems(raw)
    refused = refusal(mapping(raw, "status"), problems, now)
    for event_reason, message in refused.events:
        out.warn(event_reason, message)
    if problems:
        # kruise's webhook would have refused this spec: no pod, PVC or revision write follows it
        status: JsonDict = {"observedGeneration": int(sts.metadata.get("generation", 0) or 0)}
        if refused.changed:
            status["conditions"] = refused.conditions
        if _status_changed(sts, status):
            out.actions.append(
                PatchObject(STATEFULSETS, namespace, set_name, {"status": status}, "merge", "status")
            )
        return out.build("invalid spec: " + problems[0].message)
    decision = set_revisions(sts, set_name, uid_of(raw), observed.revisions)
    for orphan, patch in orphan_adoptions(set_name, uid_of(raw), observed.revisions):
        out.patch(CONTROLLER_REVISIONS, orphan, patch)
    if decision.to_create is not None:
        out.create(CONTROLLER_REVISIONS, decision.to_create)
    if decision.to_renumber is not None:
        out.patch(CONTROLLER_REVISIONS, decision.to_renumber[0], {"revision": decision.to_renumber[1]})
    if config.pre_download_image:
        add_steps(out, plan_predownload(sts, raw, decision, observed.image_pull_jobs))

    reserved = reserved_ordinals(sts.spec.reserve_ordinals)
    rng = replica_range(sts.spec.replicas, _start_ordinal(sts, config), reserved)
    claims = {name_of(c): c for c in observed.claims}
    p = Pass(sts, raw, config, now, decision, out, claims, [], [], observed.revisions)
    mine = _adopt(p, [read_pod(pod) for pod in observed.pods])
    by_ordinal = {parent_and_ordinal(pod.name)[1]: pod for pod in mine}
    p.slots = [None] * (rng.end - rng.start)
    for index, ordinal in enumerate(range(rng.start, rng.end)):
        if ordinal in reserved:
            continue
        existing = by_ordinal.get(ordinal)
        p.slots[index] = (
            Slot(ordinal, existing, True)
            if existing
            else Slot(ordinal, _new_slot_pod(p, index, ordinal), False)
        )
    p.condemned = sorted(
        (
            pod
            for pod in mine
            if parent_and_ordinal(pod.name)[1] >= 0 and not rng.holds(parent_and_ordinal(pod.name)[1])
        ),
        key=lambda q: -parent_and_ordinal(q.name)[1],
    )
    live_pods = [pod for pod in mine if parent_and_ordinal(pod.name)[1] >= 0]
    reason = "in sync"
    if deleting:
        reason = "StatefulSet is being deleted: status only"
    elif _process_replicas(p, _scale_budget(sts)):
        reason = "scaling: waiting on a replica"
    elif _process_condemned(p):
        reason = "scaling down: waiting on a condemned pod"
    elif sts.spec.update_strategy.type == "RollingUpdate":
        reason = plan_rolling_update(p)
    status = _status(p, live_pods)
    # a refused spec fixed: its conditions turn False; a status write of a pass where nothing
    # failed drops kruise's FailedCreatePod / FailedUpdatePod (its fresh status has none)
    conditions = without_failures(refused.conditions) if _status_changed(sts, status) else refused.conditions
    if conditions != [dict(c) for c in objects(mapping(raw, "status"), "conditions")]:
        status["conditions"] = conditions
    _plan_failure_status(p, live_pods, refused.conditions)
    history = revisions_to_delete(
        owned_revisions(p.uid, observed.revisions),
        mine,
        str(status["currentRevision"]),
        p.update_name,
        sts.spec.revision_history_limit,
    )
    for name in history:
        out.delete(CONTROLLER_REVISIONS, name)
    if _status_changed(sts, status):
        out.actions.append(_status_action(p, status))
    return out.build(reason)


def _plan_failure_status(p: Pass, pods: Sequence[PodView], conditions: list[JsonDict]) -> None:
    """The status a pass whose pod create (FailedCreatePod) or identity update (FailedUpdatePod)
    fails writes instead (``failurestatus``). Written even when the counts did not change, where
    kruise's ``inconsistentStatus`` would skip the write and the condition: the failure shows, and
    ``worker.observe`` reads a create that met a pod it cannot see from it."""
    base = _status(p, pods, deltas=False)
    for indices, condition_type, message in (
        (p.create_writes, FAILED_CREATE_POD, CREATE_FAILED),
        (p.update_writes, FAILED_UPDATE_POD, UPDATE_FAILED),
    ):
        if indices:
            status = {**base, "conditions": with_failure(conditions, condition_type, message, p.now)}
            p.out.on_failure(indices, _status_action(p, status))


def _status_changed(sts: StatefulSet, status: JsonObject) -> bool:
    old = sts.status.to_wire()
    return any(old.get(k) != v for k, v in status.items())


def _status_action(p: Pass, status: JsonDict) -> PatchObject:
    return PatchObject(STATEFULSETS, p.out.namespace, p.name, {"status": status}, "merge", "status")
