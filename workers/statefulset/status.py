"""The status an Advanced StatefulSet reconcile writes (``updateStatus``, ``completeRollingUpdate``).

Counts over the set's pods: ``replicas`` (created), ``readyReplicas`` (Running and Ready),
``availableReplicas`` (and available for minReadySeconds), ``currentReplicas`` /
``updatedReplicas`` (not terminating, at the current / update revision),
``updatedReadyReplicas`` / ``updatedAvailableReplicas``; ``volumeClaims`` counts, per claim
template, the pods whose PVC exists and is compatible with it (same storage class and access
modes, a request at least the template's: ``compatibleReplicas``) and whose capacity reached the
PVC's request (``compatibleReadyReplicas``); sizes compare as quantities (``1Gi`` =
``1024Mi``). A RollingUpdate whose pods are all updated and ready makes the update revision
current. Pure; used by the planner.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from schemas.kruise.rules.statefulset import claim_compatible_without_size, claim_storage, storage_at_least
from workers.podmechanics.kube_json import JsonDict, JsonObject, field, name_of
from workers.podmechanics.pods import PodView
from workers.statefulset.ordinals import claim_name, ordinal_of
from workers.statefulset.podstate import is_available, is_created, is_running_and_ready, is_terminating


@dataclass(frozen=True)
class ReplicaCounts:
    replicas: int = 0
    ready: int = 0
    available: int = 0
    current: int = 0
    updated: int = 0
    updated_ready: int = 0
    updated_available: int = 0


def count_replicas(
    pods: Iterable[PodView], min_ready_seconds: int, current: str, update: str, now: datetime
) -> ReplicaCounts:
    """``computeReplicaStatus`` summed over ``pods``."""
    replicas = ready = available = at_current = at_update = updated_ready = updated_available = 0
    for pod in pods:
        if is_created(pod):
            replicas += 1
        if is_running_and_ready(pod):
            ready += 1
            avail = is_available(pod, min_ready_seconds, now)
            if pod.revision == update:
                updated_ready += 1
                updated_available += avail
            available += avail
        if is_created(pod) and not is_terminating(pod):
            at_current += pod.revision == current
            at_update += pod.revision == update
    return ReplicaCounts(replicas, ready, available, at_current, at_update, updated_ready, updated_available)


def complete_rolling_update(
    counts: ReplicaCounts, rolling: bool, current: str, update: str
) -> tuple[ReplicaCounts, str]:
    """``completeRollingUpdate``: all pods updated and ready -> the update revision is current."""
    if rolling and counts.updated == counts.replicas and counts.ready == counts.replicas:
        return replace(counts, current=counts.updated), update
    return counts, current


def volume_claim_status(
    claim_templates: Sequence[JsonObject],
    set_name: str,
    pods: Iterable[PodView],
    claims: Iterable[JsonObject],
) -> list[JsonDict]:
    """``updatePVCStatus`` / ``IsPVCCompatibleAndReady``: per template, the pods whose PVC exists
    (not being deleted), is compatible without size and requests at least the template's storage
    (``compatibleReplicas``), and whose capacity reached the PVC's own request
    (``compatibleReadyReplicas``)."""
    live = {name_of(c): c for c in claims if field(c, "metadata", "deletionTimestamp") is None}
    ordinals = [o for o in (ordinal_of(p.name) for p in pods) if o >= 0]
    out: list[JsonDict] = []
    for template in claim_templates:
        wanted = claim_storage(template, "spec", "resources", "requests")
        compatible = ready = 0
        for ordinal in ordinals:
            claim = live.get(claim_name(name_of(template), set_name, ordinal))
            if claim is None or not claim_compatible_without_size(claim, template):
                continue
            requested = claim_storage(claim, "spec", "resources", "requests")
            if not storage_at_least(requested, wanted):
                continue
            compatible += 1
            ready += storage_at_least(claim_storage(claim, "status", "capacity"), requested)
        out.append(
            {
                "volumeClaimName": name_of(template),
                "compatibleReplicas": compatible,
                "compatibleReadyReplicas": ready,
            }
        )
    return out
