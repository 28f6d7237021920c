"""kruise v1.9.1's ImagePullJob controller (``pkg/controller/imagepulljob``) as one pure pass.

Given the job and the NodeImages of its nodes (``selector.names``, a label ``selector``, the nodes
running ``podSelector``'s pods, or every NodeImage), one pass:

1. a job being deleted, or finished, releases its pull-secret copies and loses its
   ``apps.kruise.io/deletion-protection`` finalizer;
   a finished job is deleted ``completionPolicy.ttlSecondsAfterFinished`` after ``completionTime``;
2. a running job gets the finalizer, then its pull secrets are copied (``syncJobPullSecrets``);
3. the status (``calculateStatus``): per NodeImage whose tag for the image is owned by this job at
   some version, the tag's status of that version: ``Succeeded`` / ``Failed`` / otherwise active;
   a NodeImage without the owned tag (or missing a pull secret) is *not synced*. With
   ``completionPolicy: Always`` and ``activeDeadlineSeconds`` passed since ``startTime`` while
   nodes are left, the job completes with everything unfinished failed, message
   "job exceeds activeDeadlineSeconds"; with ``Always`` it completes once every node finished
   ("job has completed"); else the message is the progress ("job is running, progress 50.0%");
4. the NodeImages not synced get the tag, at most ``parallelism`` (default 1) minus active at
   once: the job added as owner, ``version`` bumped (or the status's version + 1 for a new tag),
   ``createdAt``, ``imagePullPolicy`` and the tag's pull policy (``timeoutSeconds``,
   ``backoffLimit``; ``Always``: ``activeDeadlineSeconds`` and a TTL of the job's TTL, else its
   deadline, else timeout x backoffLimit, plus 300 s and a jitter below 300 s; ``Never``:
   deadline max(1800, timeoutSeconds) and TTL 24 h ± 10 min), the job's sandbox config and the
   references of its pull-secret copies;
5. the status is written when it changed; else, with a deadline, look again when it falls due.

Pull secrets are copied into the daemon's namespace (``kruise-daemon-config``) and the NodeImages
name the copies (:mod:`workers.imagepulljob.secrets`). The jitter kruise draws at random is
derived from the job's UID and the node (same range).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from schemas.kruise.rules.imageref import ImageRefError, name_and_tag
from workers.imagepulljob.secrets import SecretAction, SecretsObserved, plan_secrets
from workers.podmechanics.kube_json import format_time, parse_time

JsonObject = dict[str, Any]

PROTECTION_FINALIZER = "apps.kruise.io/deletion-protection"
DEFAULT_PARALLELISM = 1
MIN_REQUEUE = 1.0
DEFAULT_TTL_FOR_ALWAYS_NODEIMAGE = 300
TTL_FOR_NEVER = 24 * 3600
DEADLINE_FOR_NEVER = 1800
GROUP_VERSION = "apps.kruise.io/v1beta1"


@dataclass(frozen=True)
class Observed:
    job: JsonObject
    node_images: Sequence[JsonObject]
    secrets: SecretsObserved | None = None
    """The daemon's namespace, its Secrets and the job's source Secrets (None: not read)."""


@dataclass(frozen=True)
class NodeImageWrite:
    """A merge patch of one NodeImage (with its read resourceVersion)."""

    name: str
    patch: JsonObject


@dataclass(frozen=True)
class JobPlan:
    finalizers: list[str] | None = None
    """The job's new finalizer list (None: unchanged)."""
    delete: bool = False
    secrets: tuple[SecretAction, ...] = ()
    """The pull-secret copies created, patched or deleted (before everything else)."""
    node_images: tuple[NodeImageWrite, ...] = ()
    status: JsonObject | None = None
    requeue_after: float | None = None
    reason: str = ""
    error: str = ""
    """A job that cannot be worked (bad image): the reason, nothing written."""
    retry: str = ""
    """A pass that cannot go on yet (the daemon's namespace is missing): the reason, nothing written."""


def _meta(obj: JsonObject) -> JsonObject:
    return obj.get("metadata") or {}


def _jitter(uid: str, node: str, bound: int) -> int:
    digest = hashlib.sha256(f"{uid}/{node}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % bound


def owner_ref(job: JsonObject) -> JsonObject:
    meta = _meta(job)
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "ImagePullJob",
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
    }


def tag_pull_policy(job: JsonObject, node: str) -> JsonObject:
    """``getImagePullPolicy``: the pull policy of the tag this job writes into ``node``'s NodeImage."""
    spec = job.get("spec") or {}
    pull = spec.get("pullPolicy") or {}
    completion = spec.get("completionPolicy") or {}
    uid = str(_meta(job).get("uid") or "")
    policy: JsonObject = {}
    if pull.get("backoffLimit") is not None:
        policy["backoffLimit"] = pull["backoffLimit"]
    if pull.get("timeoutSeconds") is not None:
        policy["timeoutSeconds"] = pull["timeoutSeconds"]
    if completion.get("type") == "Never":
        policy["ttlSecondsAfterFinished"] = TTL_FOR_NEVER + _jitter(uid, node, 1200) - 600
        timeout = pull.get("timeoutSeconds")
        policy["activeDeadlineSeconds"] = (
            timeout if timeout is not None and timeout > DEADLINE_FOR_NEVER else DEADLINE_FOR_NEVER
        )
        return policy
    if completion.get("ttlSecondsAfterFinished") is not None:
        ttl = int(completion["ttlSecondsAfterFinished"])
    elif completion.get("activeDeadlineSeconds") is not None:
        ttl = int(completion["activeDeadlineSeconds"])
    else:
        ttl = int(pull.get("timeoutSeconds", 600)) * int(pull.get("backoffLimit", 3))
    policy["ttlSecondsAfterFinished"] = ttl + DEFAULT_TTL_FOR_ALWAYS_NODEIMAGE + _jitter(uid, node, 300)
    if completion.get("activeDeadlineSeconds") is not None:
        policy["activeDeadlineSeconds"] = completion["activeDeadlineSeconds"]
    return policy


def _has_secret(refs: Sequence[JsonObject], secret: JsonObject) -> bool:
    return any(r.get("namespace") == secret["namespace"] and r.get("name") == secret["name"] for r in refs)


def _status_message(status: JsonObject) -> str:
    if status.get("completionTime"):
        return "job has completed"
    if not status.get("desired"):
        return "job is running, no progress"
    done = status.get("succeeded", 0) + status.get("failed", 0)
    return f"job is running, progress {100.0 * done / status['desired']:.1f}%"


def calculate_status(
    job: JsonObject, node_images: Sequence[JsonObject], now: float, secrets: Sequence[JsonObject] = ()
) -> tuple[JsonObject, list[str]]:
    """``calculateStatus``: the new status and the NodeImages not synced yet (sorted); ``secrets``:
    the pull-secret references every NodeImage of the job must hold."""
    spec = job.get("spec") or {}
    old = job.get("status") or {}
    stamp = format_time(_utc(now))
    start = old.get("startTime") or stamp
    status: JsonObject = {"startTime": start, "desired": len(node_images)}
    image, tag = name_and_tag(str(spec.get("image") or ""))
    uid = _meta(job).get("uid")
    pulling: list[str] = []
    succeeded: list[str] = []
    failed: list[str] = []
    not_synced: set[str] = set()
    for node_image in node_images:
        name = str(_meta(node_image).get("name"))
        version = -1
        image_spec = ((node_image.get("spec") or {}).get("images") or {}).get(image)
        if image_spec is not None:
            if not all(_has_secret(image_spec.get("pullSecrets") or (), s) for s in secrets):
                not_synced.add(name)
            for tag_spec in image_spec.get("tags") or ():
                if tag_spec.get("tag") != tag:
                    continue
                if not any(ref.get("uid") == uid for ref in tag_spec.get("ownerReferences") or ()):
                    break
                version = int(tag_spec.get("version", 0))
        if version < 0:
            not_synced.add(name)
            continue
        image_status = ((node_image.get("status") or {}).get("imageStatuses") or {}).get(image) or {}
        found = False
        for tag_status in image_status.get("tags") or ():
            if tag_status.get("tag") != tag:
                continue
            if int(tag_status.get("version", 0)) != version:
                break
            phase = tag_status.get("phase")
            (succeeded if phase == "Succeeded" else failed if phase == "Failed" else pulling).append(name)
            found = True
            break
        if not found:
            pulling.append(name)
    completion = spec.get("completionPolicy") or {}
    always = completion.get("type", "Always") != "Never"
    deadline = completion.get("activeDeadlineSeconds")
    if always and deadline is not None and status["desired"] != len(succeeded) + len(failed):
        started = parse_time(start)
        if started is not None and float(deadline) <= now - started.timestamp():
            failed_all = failed + pulling + sorted(not_synced)
            status.update(
                completionTime=stamp,
                succeeded=len(succeeded),
                failed=len(failed_all),
                failedNodes=failed_all,
                message="job exceeds activeDeadlineSeconds",
            )
            return status, []
    status.update(active=len(pulling), succeeded=len(succeeded), failed=len(failed))
    if failed:
        status["failedNodes"] = sorted(failed)
    if always and status["desired"] - status["succeeded"] - status["failed"] == 0:
        status["completionTime"] = stamp
    status["message"] = _status_message(status)
    return status, sorted(not_synced)


def _utc(now: float) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(now, dt.UTC)


def _parallelism(job: JsonObject) -> int:
    value = (job.get("spec") or {}).get("parallelism")
    if value is None:
        return DEFAULT_PARALLELISM
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def sync_node_image(
    job: JsonObject, node_image: JsonObject, now: float, secrets: Sequence[JsonObject] = ()
) -> JsonObject | None:
    """The merge patch that gives ``node_image`` this job's tag and ``secrets`` (None: already there)."""
    spec = job.get("spec") or {}
    image, tag = name_and_tag(str(spec.get("image") or ""))
    name = str(_meta(node_image).get("name"))
    owner = owner_ref(job)
    stamp = format_time(_utc(now))
    image_spec = dict(((node_image.get("spec") or {}).get("images") or {}).get(image) or {})
    image_spec["sandboxConfig"] = spec.get("sandboxConfig")  # None: removed (merge patch null)
    tags = [dict(t) for t in image_spec.get("tags") or ()]
    pull_secrets = list(image_spec.get("pullSecrets") or ())
    found = False
    for tag_spec in tags:
        if tag_spec.get("tag") != tag:
            continue
        owners = list(tag_spec.get("ownerReferences") or ())
        if any(o.get("uid") == owner["uid"] for o in owners):
            missing = [s for s in secrets if not _has_secret(pull_secrets, s)]
            if not missing:
                return None
            pull_secrets.extend(missing)
            found = True
            break
        tag_spec["version"] = int(tag_spec.get("version", 0)) + 1
        tag_spec["ownerReferences"] = [*owners, owner]
        tag_spec["createdAt"] = stamp
        tag_spec["imagePullPolicy"] = spec.get("imagePullPolicy", "IfNotPresent")
        found = True
        break
    pull_secrets.extend(s for s in secrets if not _has_secret(pull_secrets, s))
    if not found:
        status_tags = (((node_image.get("status") or {}).get("imageStatuses") or {}).get(image) or {}).get(
            "tags"
        )
        version = next((int(t.get("version", 0)) for t in status_tags or () if t.get("tag") == tag), -1)
        tags.append(
            {
                "tag": tag,
                "version": version + 1,
                "pullPolicy": tag_pull_policy(job, name),
                "ownerReferences": [owner],
                "createdAt": stamp,
                "imagePullPolicy": spec.get("imagePullPolicy", "IfNotPresent"),
            }
        )
    tags.sort(key=lambda t: str(t.get("tag")))
    image_spec["tags"] = tags
    if pull_secrets:
        image_spec["pullSecrets"] = pull_secrets
    return {
        "metadata": {"resourceVersion": _meta(node_image).get("resourceVersion")},
        "spec": {"images": {image: image_spec}},
    }


def _set(status: JsonObject) -> JsonObject:
    return {key: value for key, value in status.items() if value not in (None, 0, "", [], {})}


def same_status(new: JsonObject, old: JsonObject) -> bool:
    """Equal once unset and zero fields are dropped (the API server may store either form)."""
    return _set(new) == _set(old)


def plan(obs: Observed, now: float) -> JobPlan:
    """One pass of kruise's ImagePullJob ``Reconcile``."""
    job = obs.job
    meta = _meta(job)
    finalizers = list(meta.get("finalizers") or ())
    status = job.get("status") or {}
    without = [f for f in finalizers if f != PROTECTION_FINALIZER]
    finishing = bool(meta.get("deletionTimestamp")) or bool(status.get("completionTime"))
    if finishing and without != finalizers:
        # ``finalize``: release the job's pull-secret copies, then drop the protection finalizer
        released = plan_secrets(job, obs.secrets)
        if released.error:
            return JobPlan(retry=released.error)
        reason = "job being deleted" if meta.get("deletionTimestamp") else "job finished: finalizer removed"
        return JobPlan(finalizers=without, secrets=released.actions, reason=reason)
    if meta.get("deletionTimestamp"):
        return JobPlan(reason="job being deleted")
    if status.get("completionTime"):
        ttl = ((job.get("spec") or {}).get("completionPolicy") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return JobPlan(reason="job finished")
        done = parse_time(status["completionTime"])
        left = float(ttl) - (now - done.timestamp()) if done is not None else 0.0
        if left <= 0:
            return JobPlan(delete=True, reason="deleting ImagePullJob for ttlSecondsAfterFinished")
        return JobPlan(requeue_after=left, reason="finished, waiting for ttlSecondsAfterFinished")
    if PROTECTION_FINALIZER not in finalizers:
        return JobPlan(finalizers=[*finalizers, PROTECTION_FINALIZER], reason="protection finalizer added")
    synced = plan_secrets(job, obs.secrets)
    if synced.error:
        return JobPlan(retry=synced.error)
    try:
        new_status, not_synced = calculate_status(job, obs.node_images, now, synced.refs)
    except ImageRefError as err:
        return JobPlan(error=f"invalid image {(job.get('spec') or {}).get('image')}: {err}")
    writes: list[NodeImageWrite] = []
    room = _parallelism(job) - int(new_status.get("active", 0))
    by_name = {str(_meta(n).get("name")): n for n in obs.node_images}
    for name in not_synced[: max(room, 0)]:
        patch = sync_node_image(job, by_name[name], now, synced.refs)
        if patch is not None:
            writes.append(NodeImageWrite(name, patch))
    if not same_status(new_status, status):
        return JobPlan(
            secrets=synced.actions,
            node_images=tuple(writes),
            status=new_status,
            reason=new_status.get("message", ""),
        )
    completion = (job.get("spec") or {}).get("completionPolicy") or {}
    deadline = completion.get("activeDeadlineSeconds")
    if completion.get("type", "Always") != "Never" and deadline is not None:
        started = parse_time(new_status.get("startTime"))
        left = float(deadline) - (now - started.timestamp()) if started is not None else 0.0
        return JobPlan(
            secrets=synced.actions,
            node_images=tuple(writes),
            requeue_after=max(left, MIN_REQUEUE),
            reason="waiting for the deadline",
        )
    return JobPlan(secrets=synced.actions, node_images=tuple(writes), reason="in sync")
