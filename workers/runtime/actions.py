"""The API actions a planner may return, and the default executor that performs them.

Planners (pure) return a :class:`~workers.runtime.contract.Plan` whose actions are these
frozen records; the runtime's executor (:func:`execute_plan`) sends them through the one
:class:`~flotilla.runtime.kube.KubeClient`, in order, status updates last. A worker type with
special needs may supply its own ``act`` and still call :func:`execute_action`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from flotilla.runtime.kube import JsonObject, KubeClient, Resource
from workers.runtime.events import ObjectRef, emit_event


@dataclass(frozen=True)
class CreateObject:
    resource: Resource
    namespace: str
    body: JsonObject


@dataclass(frozen=True)
class PatchObject:
    """A patch (merge by default); ``subresource="status"`` patches status only."""

    resource: Resource
    namespace: str
    name: str
    patch: JsonObject
    patch_type: str = "merge"
    subresource: str = ""


@dataclass(frozen=True)
class DeleteObject:
    """Delete; ``uid`` / ``resource_version`` become preconditions so a stale plan deletes nothing new."""

    resource: Resource
    namespace: str
    name: str
    uid: str = ""
    resource_version: str = ""


@dataclass(frozen=True)
class UpdateStatus:
    """PUT the status subresource with the object's resourceVersion (optimistic concurrency)."""

    resource: Resource
    namespace: str
    name: str
    body: JsonObject


@dataclass(frozen=True)
class EmitEvent:
    involved: ObjectRef
    reason: str
    message: str
    type: str = "Normal"


Action: TypeAlias = CreateObject | PatchObject | DeleteObject | UpdateStatus | EmitEvent


async def execute_action(api: KubeClient, action: Action, field_manager: str) -> None:
    """Send one action; raises :mod:`flotilla.runtime.errors` (Conflict -> the runtime re-plans)."""
    match action:
        case CreateObject(resource, namespace, body):
            await api.create(resource.path(namespace), body, params={"fieldManager": field_manager})
        case PatchObject(resource, namespace, name, patch, patch_type, subresource):
            await api.patch(resource.path(namespace, name, subresource), patch, patch_type, field_manager)
        case DeleteObject(resource, namespace, name, uid, resource_version):
            preconditions = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
            await api.delete(resource.path(namespace, name), preconditions)
        case UpdateStatus(resource, namespace, name, body):
            await api.replace(resource.path(namespace, name, "status"), body)
        case EmitEvent(involved, reason, message, event_type):
            await emit_event(api, involved, reason, message, event_type, component=field_manager)


async def execute_plan(api: KubeClient, actions: tuple[Action, ...], field_manager: str) -> None:
    """Perform ``actions`` in order, except status updates, which go last (after the writes they count)."""
    ordered = [a for a in actions if not isinstance(a, UpdateStatus)] + [
        a for a in actions if isinstance(a, UpdateStatus)
    ]
    for action in ordered:
        await execute_action(api, action, field_manager)
