"""Lowering the CloneSet planner's steps onto ``workers.runtime`` actions, and the shell's records.

:class:`CloneSetSnapshot` is what ``observe`` returns, :class:`CloneSetPlan` what ``plan`` returns
(a runtime Plan that also carries the planner's own steps). ``lower`` says which runtime actions
one step amounts to; the runtime counts and logs them, ``act`` executes them. Also the REST
resources the worker touches. Used by ``worker`` and ``act``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flotilla.runtime.kube import PODS, Resource
from workers.cloneset import actions as steps
from workers.cloneset.claimhash import VCT_HASH_ANNOTATION
from workers.cloneset.observed import ObservedCloneSet
from workers.podmechanics.kube_json import JsonObject, thaw_object
from workers.runtime import actions as runtime
from workers.runtime.contract import Plan
from workers.runtime.events import ObjectRef

CLONESETS = Resource("apps.kruise.io", "v1alpha1", "clonesets")
PVCS = Resource("", "v1", "persistentvolumeclaims")
CONTROLLER_REVISIONS = Resource("apps", "v1", "controllerrevisions")
IMAGE_PULL_JOBS = Resource("apps.kruise.io", "v1beta1", "imagepulljobs", "ImagePullJob")


@dataclass(frozen=True)
class CloneSetSnapshot:
    namespace: str
    name: str
    observed: ObservedCloneSet | None
    """None: the CloneSet is gone (its pods go with it, by garbage collection)."""
    raw: JsonObject = field(default_factory=dict)


@dataclass(frozen=True)
class CloneSetPlan(Plan):
    """A runtime plan whose ``steps`` are the planner's own actions (``actions`` is their lowering)."""

    steps: tuple[steps.Action, ...] = ()


def cloneset_ref(snapshot: CloneSetSnapshot) -> ObjectRef:
    return ObjectRef.of({**snapshot.raw, "apiVersion": CLONESETS.api_version, "kind": "CloneSet"})


def event_action(snapshot: CloneSetSnapshot, record: steps.EventRecord, error: str = "") -> runtime.EmitEvent:
    message = record.message.replace("{error}", error)
    return runtime.EmitEvent(cloneset_ref(snapshot), record.reason, message, record.type)


def with_resource_version(patch: JsonObject, resource_version: str | None) -> JsonObject:
    if not resource_version:
        return patch
    body = thaw_object(patch)
    metadata = thaw_object(body.get("metadata"))
    metadata["resourceVersion"] = resource_version
    body["metadata"] = metadata
    return body


def lower(snapshot: CloneSetSnapshot, step: steps.Action) -> tuple[runtime.Action, ...]:
    """The runtime actions one planner step amounts to (Events on success included)."""
    ns, name = snapshot.namespace, snapshot.name
    match step:
        case steps.CreatePods(pods):
            out: list[runtime.Action] = []
            for new in pods:
                out.extend(runtime.CreateObject(PVCS, ns, dict(c)) for c in new.claims)
                out.append(runtime.CreateObject(PODS, ns, dict(new.pod)))
                if new.ready_conditions:
                    conditions = {"status": {"conditions": [dict(c) for c in new.ready_conditions]}}
                    pod_name = str(new.pod["metadata"]["name"])  # type: ignore[index]
                    out.append(runtime.PatchObject(PODS, ns, pod_name, conditions, "strategic", "status"))
                if new.success_event is not None:
                    out.append(event_action(snapshot, new.success_event))
            return tuple(out)
        case steps.DeletePod(pod, uid, claims, success_event, _):
            deletes = (
                runtime.DeleteObject(PODS, ns, pod, uid),
                *(runtime.DeleteObject(PVCS, ns, c) for c in claims),
            )
            return (*deletes, event_action(snapshot, success_event)) if success_event else deletes
        case steps.PatchPod(pod, patch, patch_type, subresource, rv, success_event, _):
            write = runtime.PatchObject(
                PODS, ns, pod, dict(with_resource_version(patch, rv)), patch_type, subresource
            )
            return (write, event_action(snapshot, success_event)) if success_event else (write,)
        case steps.PatchClaim(claim, patch, rv):
            return (runtime.PatchObject(PVCS, ns, claim, dict(with_resource_version(patch, rv))),)
        case steps.DeleteClaim(claim, uid, _):
            return (runtime.DeleteObject(PVCS, ns, claim, uid),)
        case steps.CreateRevision(revision):
            return (runtime.CreateObject(CONTROLLER_REVISIONS, ns, dict(revision)),)
        case steps.RenumberRevision(revision, number, claims_hash):
            body: dict[str, object] = {"revision": number}
            if claims_hash is not None:
                body["metadata"] = {"annotations": {VCT_HASH_ANNOTATION: claims_hash}}
            return (runtime.PatchObject(CONTROLLER_REVISIONS, ns, revision, body),)
        case steps.DeleteRevision(revision):
            return (runtime.DeleteObject(CONTROLLER_REVISIONS, ns, revision),)
        case steps.PatchCloneSet(patch, rv):
            return (runtime.PatchObject(CLONESETS, ns, name, dict(with_resource_version(patch, rv))),)
        case steps.UpdateStatus(status):
            return (runtime.PatchObject(CLONESETS, ns, name, {"status": dict(status)}, "merge", "status"),)
        case steps.EmitEvent(record):
            return (event_action(snapshot, record),)
        case steps.CreateImagePullJob(job, success_event, _):
            create = runtime.CreateObject(IMAGE_PULL_JOBS, ns, dict(job))
            return (create, event_action(snapshot, success_event)) if success_event else (create,)
        case steps.MarkRevision(revision, label, _):
            # A JSON merge patch (kruise: strategic). A strategic patch re-encodes data with sorted
            # keys; our revisions' data bytes are not sorted, so it is refused (422 immutable).
            patch = {"metadata": {"labels": {label: "true"}}}
            return (runtime.PatchObject(CONTROLLER_REVISIONS, ns, revision, patch, "merge"),)
        case steps.DeleteImagePullJob(job, uid):
            return (runtime.DeleteObject(IMAGE_PULL_JOBS, ns, job, uid),)
    return ()
