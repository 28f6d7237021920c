"""The writes a CloneSet plan asks for, as data: the planner's output, the shell's input.

Every record is frozen; JSON bodies are complete (the shell only serialises them). Mutating
actions carry the Events to emit on success and on failure (a failure message has an
``{error}`` placeholder for the API error), so Events follow outcomes, as kruise's do.
The shell runs actions in order and stops at the first failure; a :class:`CreatePods`
batch runs its creations concurrently (slow start: batches of 1, 2, 4, ...).

These are CloneSet-local until ``workers.runtime`` defines shared action types; see
``docs/cloneset.md`` for the mapping. Built by the planner modules, executed by ``shell``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from workers.cloneset.kube_json import JsonObject

EventType = Literal["Normal", "Warning"]
PatchType = Literal["strategic", "merge"]


@dataclass(frozen=True)
class EventRecord:
    """A Kubernetes Event on the CloneSet."""

    type: EventType
    reason: str
    message: str


def normal(reason: str, message: str) -> EventRecord:
    return EventRecord("Normal", reason, message)


def warning(reason: str, message: str) -> EventRecord:
    return EventRecord("Warning", reason, message)


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
class PatchPod:
    """Patch a pod (or its ``status`` subresource).

    ``resource_version`` set: the patch only applies to the pod as observed (conflict otherwise);
    it is set on the first write to a pod in a plan and left out of later ones.
    """

    name: str
    patch: JsonObject
    patch_type: PatchType = "strategic"
    subresource: Literal["", "status"] = ""
    resource_version: str | None = None
    success_event: EventRecord | None = None
    failure_event: EventRecord | None = None


@dataclass(frozen=True)
class PatchClaim:
    """JSON-merge-patch a PVC (hand its ownership to the pod it belonged to)."""

    name: str
    patch: JsonObject
    resource_version: str | None = None


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
class CreateImagePullJob:
    """Create an ImagePullJob to pre-download an image (``predownload``). Best effort, as kruise:
    AlreadyExists means done (the name is deterministic); another failure emits ``failure_event``
    and the plan goes on."""

    job: JsonObject
    success_event: EventRecord | None = None
    failure_event: EventRecord | None = None


@dataclass(frozen=True)
class MarkRevision:
    """Merge-patch ``label: "true"`` onto a ControllerRevision: its images were handled
    (pre-downloaded or ignored). Best effort: a failure is logged, the next pass tries again.
    (kruise sends a strategic merge patch, which the API server refuses for a revision whose
    data bytes are not in Go's sorted key order, as ours are not; see docs/cloneset.md.)"""

    name: str
    label: str
    why: str = ""
    """For the log: what was done, or why pre-download does not apply."""


@dataclass(frozen=True)
class DeleteImagePullJob:
    """Delete an ImagePullJob the CloneSet controls (its revisions agree again). Best effort."""

    name: str
    uid: str


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
