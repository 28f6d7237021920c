"""The PodUnavailableBudget planner: observed budget in, a :class:`~workers.runtime.contract.Plan` out.

Pure (no I/O, no clock, no logging). Steps, as kruise's ``syncPodUnavailableBudget``:

1. no covered pods: a Normal ``NoPods`` Event on the PUB; else each covered pod without the
   ``kruise.io/related-pub`` annotation gets it (how the webhook finds a pod's PUB);
2. the status of :func:`~workers.podunavailablebudget.budget.compute_status`, written (PUT with the
   PUB's resourceVersion: a conflict re-plans from fresh state) only when it changed;
3. a Warning ``NotDeleted`` Event on each pod admitted for deletion that was not deleted in time;
4. ``requeue_after``: when the earliest recorded disruption expires.

A malformed ``maxUnavailable`` / ``minAvailable`` gets kruise's ``CalculateExpectedPodCountFailed``
Warning Event and no status write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from flotilla.runtime.kube import PODS, JsonObject
from schemas.kruise.podunavailablebudget import RELATED_PUB_ANNOTATION
from workers.podmechanics.kube_json import mapping, text
from workers.podunavailablebudget.admit import PODUNAVAILABLEBUDGETS
from workers.podunavailablebudget.budget import (
    BudgetError,
    Workload,
    compute_status,
    desired_available,
    same_status,
    total_replicas,
)
from workers.podunavailablebudget.podstate import name
from workers.runtime.actions import Action, EmitEvent, PatchObject, UpdateStatus
from workers.runtime.contract import Plan
from workers.runtime.events import ObjectRef
from workers.runtime.snapshot import NoConfig


@dataclass(frozen=True)
class ObservedBudget:
    """A PUB (None: gone), the pods it covers, and the workloads whose replicas it counts."""

    namespace: str
    name: str
    pub: JsonObject | None
    pods: tuple[JsonObject, ...] = ()
    target: Workload | None = None
    """The ``targetRef`` workload (None: no targetRef, or it is missing or being deleted)."""
    controllers: Mapping[str, Workload] = field(default_factory=dict)
    """For a selector: each covered pod's controller uid -> the workload whose replicas count."""


#: No options yet: kruise's timeouts are constants of :mod:`~workers.podunavailablebudget.budget`.
PlannerConfig = NoConfig


def _pub_ref(observed: ObservedBudget, pub: JsonObject) -> ObjectRef:
    return ObjectRef.of({"apiVersion": "policy.kruise.io/v1alpha1", "kind": "PodUnavailableBudget", **pub})


def _pod_ref(pod: Mapping[str, object]) -> ObjectRef:
    return ObjectRef.of({"apiVersion": "v1", "kind": "Pod", **pod})


def plan(observed: ObservedBudget, config: PlannerConfig, now: datetime) -> Plan:
    pub = observed.pub
    if pub is None:
        return Plan(reason="PodUnavailableBudget is gone")
    pub_name = text(pub, "metadata", "name") or observed.name
    actions: list[Action] = []
    if not observed.pods:
        actions.append(EmitEvent(_pub_ref(observed, pub), "NoPods", "No matching pods found"))
    for pod in observed.pods:
        if not mapping(pod, "metadata", "annotations").get(RELATED_PUB_ANNOTATION):
            patch = {"metadata": {"annotations": {RELATED_PUB_ANNOTATION: pub_name}}}
            actions.append(PatchObject(PODS, observed.namespace, name(pod), patch))
    total = total_replicas(pub, observed.pods, observed.target, observed.controllers)
    try:
        desired = desired_available(mapping(pub, "spec"), total)
    except BudgetError as err:
        message = f"Failed to calculate the number of expected pods: {err}"
        actions.append(
            EmitEvent(_pub_ref(observed, pub), "CalculateExpectedPodCountFailed", message, "Warning")
        )
        return Plan(tuple(actions), reason=message)
    computed = compute_status(pub, observed.pods, total, desired, now)
    for expired in computed.expired:
        message = f"Pod was expected by PUB {observed.namespace}/{pub_name} to be deleted but it wasn't"
        actions.append(EmitEvent(_pod_ref(expired.pod), "NotDeleted", message, "Warning"))
    status = computed.status
    changed = not same_status(mapping(pub, "status"), status)
    if changed:
        actions.append(
            UpdateStatus(PODUNAVAILABLEBUDGETS, observed.namespace, pub_name, {**pub, "status": status})
        )
    requeue = None if computed.recheck_at is None else max((computed.recheck_at - now).total_seconds(), 0.0)
    reason = (
        f"total {total}, desired {desired}, available {status['currentAvailable']}, "
        f"allowed {status['unavailableAllowed']}" + ("" if changed else " (unchanged)")
    )
    return Plan(tuple(actions), requeue, reason)
