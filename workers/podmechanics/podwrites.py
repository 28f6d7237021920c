"""The pod writes the shared mechanics ask for, as data: a pod patch and the Events it carries.

The lifecycle, readiness and in-place steps of every kruise workload end in pod patches; they
are built here as :class:`PatchPod` records (frozen, JSON body complete) with the Events to emit
on success and on failure (a failure message has an ``{error}`` placeholder for the API error),
so a workload's plan holds them as they are and its shell executes them. The workload's own
action modules re-export these (``workers.cloneset.actions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from workers.podmechanics.kube_json import JsonObject

EventType = Literal["Normal", "Warning"]
PatchType = Literal["strategic", "merge"]


@dataclass(frozen=True)
class EventRecord:
    """A Kubernetes Event on the workload."""

    type: EventType
    reason: str
    message: str


def normal(reason: str, message: str) -> EventRecord:
    return EventRecord("Normal", reason, message)


def warning(reason: str, message: str) -> EventRecord:
    return EventRecord("Warning", reason, message)


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
