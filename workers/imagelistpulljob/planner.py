"""kruise v1.9.1's ImageListPullJob controller (``pkg/controller/imagelistpulljob``) as one pure pass.

Given the list job and the ImagePullJobs it owns (an ``ownerReferences`` entry with its UID, not
being deleted; by ``spec.image``, the last listed winning as in kruise's map), one pass:

1. the template hash (every spec field but ``images``) is written to the list job's
   ``controller-revision-hash`` label when it differs;
2. a finished job (``status.completionTime``) does nothing more but, with
   ``completionPolicy.ttlSecondsAfterFinished``, is deleted that long after completion (or looked
   at again when the TTL falls due);
3. the status (``calculateStatus``), from the children read *before* this pass's writes, each
   counted only once it has a ``status.startTime``: ``active`` (children with ``status.active >
   0``), ``completed`` (``desired == failed + succeeded``), ``succeeded`` (``desired ==
   succeeded``), ``failedImageStatuses`` (children with ``failed > 0``, kruise's message),
   ``desired = len(spec.images)``, ``startTime`` kept or now, ``completionTime`` now when
   ``desired == completed`` unless ``completionPolicy.type`` is ``Never``;
4. children to create: each image of ``spec.images`` without a child, and each image whose child
   carries another template hash (or, without the label, another template), that child deleted;
   children whose image left ``spec.images`` are deleted. A child is ``<name>-`` + a generated
   suffix, labelled with the hash, controlled by the list job (``blockOwnerDeletion``), its spec
   the image plus the list job's template fields;
5. Events as kruise's: ``Successful create ImagePullJob`` / ``Create <n> ImagePullJob`` after the
   creates, ``Successful delete ImagePullJob`` / ``Delete <n> ImagePullJob`` after the deletes;
6. the status is written when it changed.

Unlike kruise, a list job being deleted (foreground deletion waits for its ImagePullJobs) gets
nothing created or written: kruise would re-create the children the garbage collector removes.

The hash: kruise takes FNV-32a of ``DeepHashObject`` (spew's print of the Go template struct);
Flotilla takes FNV-32a of the template's canonical JSON, encoded the same way
(``rand.SafeEncodeString``). Both only compare with themselves; a child kruise-manager made keeps
kruise's hash and would be replaced once by Flotilla (docs/nodeagent.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from workers.podmechanics.gohash import fnv32a, safe_encode
from workers.podmechanics.kube_json import format_time, parse_time

JsonObject = dict[str, Any]

HASH_LABEL = "controller-revision-hash"
GROUP_VERSION = "apps.kruise.io/v1beta1"
KIND = "ImageListPullJob"
#: The ImagePullJob template fields an ImageListPullJob shares (kruise's ``ImagePullJobTemplate``).
TEMPLATE_FIELDS = (
    "pullSecrets",
    "selector",
    "podSelector",
    "parallelism",
    "pullPolicy",
    "completionPolicy",
    "sandboxConfig",
    "imagePullPolicy",
)
CREATED_REASON = "Successful create ImagePullJob"
DELETED_REASON = "Successful delete ImagePullJob"


@dataclass(frozen=True)
class Observed:
    job: JsonObject
    children: Sequence[JsonObject]
    """The ImagePullJobs with an ownerReference to the job's UID (any order the API lists them)."""


@dataclass(frozen=True)
class Event:
    reason: str
    message: str


@dataclass(frozen=True)
class DeleteChild:
    name: str
    uid: str
    image: str


@dataclass(frozen=True)
class ListPlan:
    label_patch: JsonObject | None = None
    """A merge patch setting the job's ``controller-revision-hash`` label (None: already set)."""
    delete_job: bool = False
    creates: tuple[JsonObject, ...] = ()
    deletes: tuple[DeleteChild, ...] = ()
    events: tuple[Event, ...] = ()
    status: JsonObject | None = None
    """The whole new status (None: unchanged)."""
    requeue_after: float | None = None
    reason: str = ""


def _meta(obj: JsonObject) -> JsonObject:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _spec(obj: JsonObject) -> JsonObject:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _status(obj: JsonObject) -> JsonObject:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


def template(job: JsonObject) -> JsonObject:
    """The ImagePullJob template fields of the list job's spec (those set)."""
    spec = _spec(job)
    return {key: spec[key] for key in TEMPLATE_FIELDS if spec.get(key) is not None}


def template_hash(job: JsonObject) -> str:
    """The value of the ``controller-revision-hash`` label for this template."""
    canonical = orjson.dumps(template(job), option=orjson.OPT_SORT_KEYS)
    return safe_encode(str(fnv32a(canonical)))


def images(job: JsonObject) -> list[str]:
    raw = _spec(job).get("images")
    return [str(i) for i in raw] if isinstance(raw, list) else []


def owned_by_image(job: JsonObject, children: Sequence[JsonObject]) -> dict[str, JsonObject]:
    """``getOwnedImagePullJob``: children not being deleted, by image (the last one listed wins)."""
    uid = _meta(job).get("uid")
    found: dict[str, JsonObject] = {}
    for child in children:
        meta = _meta(child)
        if meta.get("deletionTimestamp"):
            continue
        refs = meta.get("ownerReferences") or ()
        if not any(isinstance(r, dict) and r.get("uid") == uid for r in refs):
            continue
        found[str(_spec(child).get("image") or "")] = child
    return found


def _int(status: JsonObject, key: str) -> int:
    value = status.get(key)
    return int(value) if isinstance(value, int) else 0


def failed_message(child_name: str) -> str:
    return f"Please check for details which nodes failed by 'kubectl get ImagePullJob {child_name}'."


def calculate_status(job: JsonObject, owned: dict[str, JsonObject], now: float) -> JsonObject:
    """``calculateStatus``: the whole new status of the list job."""
    active = completed = succeeded = 0
    failed: list[JsonObject] = []
    order = {image: index for index, image in enumerate(images(job))}
    for image in sorted(owned, key=lambda i: (order.get(i, len(order)), i)):
        child = owned[image]
        status = _status(child)
        if not status.get("startTime"):
            continue
        if _int(status, "active") > 0:
            active += 1
        name = str(_meta(child).get("name") or "")
        if _int(status, "failed") > 0:
            failed.append({"imagePullJob": name, "name": image, "message": failed_message(name)})
        if _int(status, "desired") == _int(status, "failed") + _int(status, "succeeded"):
            completed += 1
        if _int(status, "desired") == _int(status, "succeeded"):
            succeeded += 1
    stamp = format_time(dt.datetime.fromtimestamp(now, dt.UTC))
    new: JsonObject = {
        "startTime": _status(job).get("startTime") or stamp,
        "desired": len(images(job)),
        "active": active,
        "completed": completed,
        "succeeded": succeeded,
    }
    if failed:
        new["failedImageStatuses"] = failed
    completion = _spec(job).get("completionPolicy") or {}
    if completion.get("type") != "Never" and new["desired"] == completed:
        new["completionTime"] = stamp
    return new


def consistent(child: JsonObject, job: JsonObject, hash_value: str) -> bool:
    """``isConsistentVersion``: the child's hash label is this template's, or it has no label and
    the same template fields."""
    labels = _meta(child).get("labels") or {}
    if labels.get(HASH_LABEL) == hash_value:
        return True
    if HASH_LABEL not in labels:
        return template(child) == template(job)
    return False


def new_child(job: JsonObject, image: str, hash_value: str) -> JsonObject:
    """``newImagePullJobs``: one ImagePullJob for ``image``."""
    meta = _meta(job)
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "ImagePullJob",
        "metadata": {
            "namespace": meta.get("namespace"),
            "generateName": f"{meta.get('name')}-",
            "labels": {HASH_LABEL: hash_value},
            "ownerReferences": [
                {
                    "apiVersion": GROUP_VERSION,
                    "kind": KIND,
                    "name": meta.get("name"),
                    "uid": meta.get("uid"),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"image": image, **template(job)},
    }


def child_actions(
    job: JsonObject, owned: dict[str, JsonObject], hash_value: str
) -> tuple[list[JsonObject], list[DeleteChild]]:
    """``computeImagePullJobActions``: children to create (in ``spec.images`` order) and to delete
    (replaced ones in that order, then those whose image left the list, by image)."""
    wanted = images(job)
    creates: list[JsonObject] = []
    deletes: list[DeleteChild] = []

    def drop(image: str, child: JsonObject) -> None:
        meta = _meta(child)
        deletes.append(DeleteChild(str(meta.get("name") or ""), str(meta.get("uid") or ""), image))

    for image in wanted:
        child = owned.get(image)
        if child is None:
            creates.append(new_child(job, image, hash_value))
        elif not consistent(child, job, hash_value):
            creates.append(new_child(job, image, hash_value))
            drop(image, child)
    for image in sorted(set(owned) - set(wanted)):
        drop(image, owned[image])
    return creates, deletes


def _set(status: JsonObject) -> JsonObject:
    return {key: value for key, value in status.items() if value not in (None, 0, "", [], {})}


def same_status(new: JsonObject, old: JsonObject) -> bool:
    """Equal once unset and zero fields are dropped (the API server may store either form)."""
    return _set(new) == _set(old)


def _ttl_plan(job: JsonObject, label_patch: JsonObject | None, now: float) -> ListPlan:
    ttl = (_spec(job).get("completionPolicy") or {}).get("ttlSecondsAfterFinished")
    if ttl is None:
        return ListPlan(label_patch=label_patch, reason="job finished")
    done = parse_time(_status(job).get("completionTime"))
    left = float(ttl) - (now - done.timestamp()) if done is not None else 0.0
    if left <= 0:
        return ListPlan(
            label_patch=label_patch,
            delete_job=True,
            reason="deleting ImageListPullJob for ttlSecondsAfterFinished",
        )
    return ListPlan(
        label_patch=label_patch, requeue_after=left, reason="finished, waiting for ttlSecondsAfterFinished"
    )


def plan(obs: Observed, now: float) -> ListPlan:
    """One pass of kruise's ImageListPullJob ``Reconcile``."""
    job = obs.job
    hash_value = template_hash(job)
    labels = _meta(job).get("labels") or {}
    label_patch = (
        None if labels.get(HASH_LABEL) == hash_value else {"metadata": {"labels": {HASH_LABEL: hash_value}}}
    )
    if _status(job).get("completionTime"):
        return _ttl_plan(job, label_patch, now)
    if _meta(job).get("deletionTimestamp"):
        # kruise goes on creating; with foreground deletion that races the garbage collector
        return ListPlan(reason="job being deleted")
    owned = owned_by_image(job, obs.children)
    new_status = calculate_status(job, owned, now)
    creates, deletes = child_actions(job, owned, hash_value)
    events: list[Event] = []
    if creates:
        events.append(Event(CREATED_REASON, f"Create {len(creates)} ImagePullJob"))
    if deletes:
        events.append(Event(DELETED_REASON, f"Delete {len(deletes)} ImagePullJob"))
    changed = not same_status(new_status, _status(job))
    reason = f"{new_status['completed']}/{new_status['desired']} ImagePullJobs completed"
    if creates or deletes:
        reason += f"; {len(creates)} to create, {len(deletes)} to delete"
    return ListPlan(
        label_patch=label_patch,
        creates=tuple(creates),
        deletes=tuple(deletes),
        events=tuple(events),
        status=new_status if changed else None,
        reason=reason,
    )
