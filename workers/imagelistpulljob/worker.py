"""The ImageListPullJob worker shell, registered with the runtime as worker type ``imagelistpulljob``.

``observe`` reads the list job (``apps.kruise.io/v1beta1``) and the ImagePullJobs of its
namespace that name it in their ``ownerReferences`` (kruise lists by an owner-UID index; the API
server has none, so the namespace is listed and filtered); a finished job needs no children.
``plan`` refuses a spec kruise's webhook would refuse (Warning Event, nothing else; shared
:func:`~workers.runtime.specrefusal.refusal_plan`), else runs
:func:`workers.imagelistpulljob.planner.plan`. The default executor performs, in kruise's order:
the hash label (merge patch), the deletion after the TTL, the child creates then the deletes
(each with its Event), and last the status as a merge patch of the status subresource (no
resourceVersion, so the label patch of the same pass does not make it conflict; kruise re-reads
and updates). Children are ImagePullJobs the ``imagepulljob`` worker runs; the watcher maps each
to its controlling list job.
"""

from __future__ import annotations

from flotilla.runtime.kube import Resource
from schemas.bus.envelope import KeyParts
from workers.imagelistpulljob import planner
from workers.runtime import actions as runtime
from workers.runtime.contract import Plan, WorkerType
from workers.runtime.events import ObjectRef
from workers.runtime.observe import StateReader
from workers.runtime.snapshot import KeyedSnapshot, NoConfig
from workers.runtime.specrefusal import refusal_plan

IMAGELISTPULLJOBS = Resource("apps.kruise.io", "v1beta1", "imagelistpulljobs", "ImageListPullJob")
IMAGEPULLJOBS = Resource("apps.kruise.io", "v1beta1", "imagepulljobs", "ImagePullJob")
FIELD_MANAGER = "flotilla-imagelistpulljob"


Snapshot = KeyedSnapshot[planner.Observed]
Config = NoConfig


async def observe(read: StateReader, key: KeyParts) -> Snapshot:
    job = await read.get(IMAGELISTPULLJOBS, key.namespace, key.name)
    if job is None:
        return Snapshot(key.namespace, key.name, None)
    if (job.get("status") or {}).get("completionTime"):
        return Snapshot(key.namespace, key.name, planner.Observed(job, ()))
    uid = (job.get("metadata") or {}).get("uid")
    children = [
        child
        for child in await read.list(IMAGEPULLJOBS, key.namespace)
        if any(ref.get("uid") == uid for ref in (child.get("metadata") or {}).get("ownerReferences") or ())
    ]
    return Snapshot(key.namespace, key.name, planner.Observed(job, tuple(children)))


def _status_patch(new: dict[str, object], old: dict[str, object]) -> dict[str, object]:
    """A merge patch making the stored status exactly ``new`` (fields it lacks set to null)."""
    return {"status": {**{key: None for key in old if key not in new}, **new}}


def plan(snapshot: Snapshot, _config: Config, now: float) -> Plan:
    if snapshot.observed is None:
        return Plan(reason="ImageListPullJob is gone")
    job = snapshot.observed.job
    refused = refusal_plan("ImageListPullJob", IMAGELISTPULLJOBS, job, now, has_conditions=False)
    if refused is not None:
        return refused
    decided = planner.plan(snapshot.observed, now)
    namespace, name = snapshot.namespace, snapshot.name
    meta = job.get("metadata") or {}
    actions: list[runtime.Action] = []
    if decided.label_patch is not None:
        actions.append(runtime.PatchObject(IMAGELISTPULLJOBS, namespace, name, decided.label_patch))
    if decided.delete_job:
        uid = str(meta.get("uid", ""))
        actions.append(runtime.DeleteObject(IMAGELISTPULLJOBS, namespace, name, uid=uid))
    ref = ObjectRef.of({"apiVersion": IMAGELISTPULLJOBS.api_version, "kind": "ImageListPullJob", **job})
    events = {e.reason: runtime.EmitEvent(ref, e.reason, e.message) for e in decided.events}
    actions.extend(runtime.CreateObject(IMAGEPULLJOBS, namespace, body) for body in decided.creates)
    if planner.CREATED_REASON in events:
        actions.append(events[planner.CREATED_REASON])
    actions.extend(runtime.DeleteObject(IMAGEPULLJOBS, namespace, d.name, uid=d.uid) for d in decided.deletes)
    if planner.DELETED_REASON in events:
        actions.append(events[planner.DELETED_REASON])
    if decided.status is not None:
        patch = _status_patch(decided.status, job.get("status") or {})
        actions.append(runtime.PatchObject(IMAGELISTPULLJOBS, namespace, name, patch, subresource="status"))
    return Plan(tuple(actions), decided.requeue_after, decided.reason)


WORKER: WorkerType[Snapshot, Config] = WorkerType(
    name="imagelistpulljob",
    kind="ImageListPullJob",
    resource=IMAGELISTPULLJOBS,
    observe=observe,
    plan=plan,
    config=Config(),
    has_status=True,
    field_manager=FIELD_MANAGER,
)
