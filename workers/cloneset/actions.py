"""The writes a CloneSet plan asks for, as data: the planner's output, the shell's input.

Every record is frozen; JSON bodies are complete (the shell only serialises them). Mutating
actions carry the Events to emit on success and on failure (a failure message has an
``{error}`` placeholder for the API error), so Events follow outcomes, as kruise's do.
The shell runs actions in order and stops at the first failure; a :class:`CreatePods`
batch runs its creations concurrently (slow start: batches of 1, 2, 4, ...).

The pod patch and Event records are the shared ones of ``workers.podmechanics.podwrites``, the
pre-download steps those of ``workers.podmechanics.predownload`` (re-exported here); the rest
are CloneSet-local until ``workers.runtime`` defines shared action types; see
``docs/cloneset.md`` for the mapping. Built by the planner modules, executed by ``shell``.
"""

from __future__ import annotations

from dataclasses import dataclass

from workers.podmechanics.kube_json import JsonObject
from workers.podmechanics.podwrites import EventRecord as EventRecord  # re-exported
from workers.podmechanics.podwrites import EventType as EventType  # re-exported
from workers.podmechanics.podwrites import PatchPod as PatchPod  # re-exported
from workers.podmechanics.podwrites import PatchType as PatchType  # re-exported
from workers.podmechanics.podwrites import normal as normal  # re-exported
from workers.podmechanics.podwrites import warning as warning  # re-exported
from workers.podmechanics.predownload import CreateImagePullJob as CreateImagePullJob  # re-exported
from workers.podmechanics.predownload import DeleteImagePullJob as DeleteImagePullJob  # re-exported
from workers.podmechanics.predownload import MarkRevision as MarkRevision  # re-exported


@dataclass(frozen=True)
class NewPod:
    """A pod to create, preceded by the PVCs it needs that do not exist yet."""

    pod: JsonObject
    claims: tuple[JsonObject, ...] = ()
    success_event: EventRecord | None = None
    failure_event: EventRecord | None = None
    ready_conditions: tuple[JsonObject, ...] = ()
    """Readiness-gate conditions to set True (status subresource) right after the pod is created."""


@dataclass(frozen=True)
class CreatePods:
    """One slow-start batch: create these pods (each after its PVCs), concurrently."""

    pods: tuple[NewPod, ...]


@dataclass(frozen=True)
class DeletePod:
    """Delete a pod (precondition: its uid), then the PVCs that share its instance id."""

    name: str
    uid: str
    claims: tuple[str, ...] = ()
    success_event: EventRecord | None = None
    failure_event: EventRecord | None = None


@dataclass(frozen=True)
class PatchClaim:
    """JSON-merge-patch a PVC (hand its ownership to the pod it belonged to)."""

    name: str
    patch: JsonObject
    resource_version: str | None = None
    failure_event: EventRecord | None = None


@dataclass(frozen=True)
class DeleteClaim:
    name: str
    uid: str
    failure_event: EventRecord | None = None


@dataclass(frozen=True)
class CreateRevision:
    revision: JsonObject


@dataclass(frozen=True)
class RenumberRevision:
    """An older revision equal to the template becomes the newest (a rollback)."""

    name: str
    revision: int
    claims_hash: str | None = None
    """When set, the revision's new ``kruise.io/cloneset-volumeclaimtemplate-hash`` (kruise's rollback)."""


@dataclass(frozen=True)
class DeleteRevision:
    name: str


@dataclass(frozen=True)
class PatchCloneSet:
    """A JSON merge patch on the CloneSet's spec (pruning ``scaleStrategy.podsToDelete``)."""

    patch: JsonObject
    resource_version: str


@dataclass(frozen=True)
class UpdateStatus:
    """Merge-patch ``status`` through the status subresource (always the last action).

    No resourceVersion precondition: the status is computed whole from the snapshot and
    per-key exclusivity means no other reconcile writes it (kruise re-reads and overwrites too).
    """

    status: JsonObject


@dataclass(frozen=True)
class EmitEvent:
    event: EventRecord


@dataclass(frozen=True)
class CheckBudget:
    """Before ``name``'s update writes: spend its PodUnavailableBudget for an UPDATE (kruise's
    CloneSet sync calls ``PodUnavailableBudgetValidatePod``; gate ``PodUnavailableBudgetUpdateGate``).
    Refused: the pod's writes in this plan are skipped (``workers.podunavailablebudget.admit``)."""

    name: str
    pod: JsonObject
    """The pod as observed (its ``kruise.io/related-pub`` names the budget)."""


Action = (
    CreatePods
    | DeletePod
    | PatchPod
    | PatchClaim
    | DeleteClaim
    | CreateRevision
    | RenumberRevision
    | DeleteRevision
    | PatchCloneSet
    | UpdateStatus
    | EmitEvent
    | CreateImagePullJob
    | MarkRevision
    | DeleteImagePullJob
    | CheckBudget
)

BEST_EFFORT = (CreateImagePullJob, MarkRevision, DeleteImagePullJob)
"""Steps whose failure does not stop the plan (kruise only logs them)."""


@dataclass(frozen=True)
class Plan:
    """What one reconcile of one CloneSet does: actions in order, then maybe come back later."""

    actions: tuple[Action, ...]
    requeue_after: float | None
    """Seconds until the planner wants another look (None: only on the next trigger)."""
    reason: str
    """One line the shell logs: what this pass is doing and why."""
