"""When a newer trigger makes an Advanced StatefulSet pass's plan not worth acting on.

The runtime asks (``WorkerType.outdated_by``) after the plan, before any write, when a trigger
for the set came in meanwhile: if the plan only writes the set's status (and Events), which
the next pass writes again from fresher state, and the held trigger names a change the
snapshot does not show, the plan is dropped and the held trigger reconciled at once.

What it is for: a pod's deletion comes as two watch events, its ``deletionTimestamp``
(``MODIFIED``) and, once the kubelet (kwok: 35-80 ms after the DELETE) removed it, ``DELETED``.
The pass the first one triggers often reads the pod while it is still terminating; under
OrderedReady it can only write the status (``currentReplicas`` without the pod) and wait. The
re-create then waited for that status write and the settle of its trigger before the
``DELETED`` trigger was even observed; now it is observed as soon as the pass has planned.
kruise's "PVC should be recreated when pod is pending" races against that re-create.

"Shows a change": a ``DELETED`` event of an object the snapshot still holds; an ``ADDED`` or
``MODIFIED`` event of one it does not hold, or holds at an older ``resourceVersion`` (compared as
the decimal integers the API server sends, as the watcher's checkpoints do; not numbers:
different). Pods, PVCs, ControllerRevisions and the set itself; a resync, or an event of
another kind, shows nothing. Pure; used by ``worker.WORKER``.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas.bus.envelope import Envelope, EventType
from workers.podmechanics.kube_json import JsonObject, mapping, uid_of
from workers.runtime import actions as runtime
from workers.runtime.contract import Plan
from workers.statefulset.builder import STATEFULSETS
from workers.statefulset.observed import ObservedStatefulSet


def status_only(plan: Plan) -> bool:
    """The plan writes nothing but the set's status and Events."""
    return all(
        isinstance(a, runtime.EmitEvent)
        or (isinstance(a, runtime.PatchObject) and a.resource == STATEFULSETS and a.subresource == "status")
        for a in plan.actions
    )


def _older(seen: str, event: str) -> bool:
    if seen.isdigit() and event.isdigit():
        return int(seen) < int(event)
    return seen != event


def shows_change(trigger: Envelope, objects: Iterable[JsonObject]) -> bool:
    """``trigger`` is an event of one of ``objects`` (or of one of their kind that is not among
    them) that they do not reflect (see the module docstring)."""
    if trigger.event_type not in (EventType.ADDED, EventType.MODIFIED, EventType.DELETED):
        return False
    seen = next((o for o in objects if uid_of(o) == trigger.object_uid), None)
    if trigger.event_type == EventType.DELETED:
        return seen is not None
    if seen is None:
        return True
    return _older(str(mapping(seen, "metadata").get("resourceVersion", "")), trigger.resource_version)


def outdated_by(observed: ObservedStatefulSet | None, plan: Plan, trigger: Envelope) -> bool:
    """Whether the pass's ``plan`` gives way to the held ``trigger`` (``WorkerType.outdated_by``)."""
    if observed is None or not trigger.object_uid or not status_only(plan):
        return False
    held: dict[str, tuple[JsonObject, ...]] = {
        "Pod": observed.pods,
        "PersistentVolumeClaim": observed.claims,
        "ControllerRevision": observed.revisions,
        "StatefulSet": (observed.raw,),
    }
    objects = held.get(trigger.object_kind)
    return objects is not None and shows_change(trigger, objects)
