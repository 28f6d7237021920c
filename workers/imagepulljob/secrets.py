"""kruise v1.9.1's pull-secret copies of an ImagePullJob (``syncJobPullSecrets``), as one pure step.

kruise's daemon may read Secrets only in its own namespace (``kruise-daemon-config``), so the
ImagePullJob controller copies each of a job's ``pullSecrets`` there and the NodeImage names the
copies. One copy serves every job that names the same source Secret:

- a copy carries the annotations ``imagepulljobs.kruise.io/source-key`` (``<namespace>/<name>``
  of its source), ``imagepulljobs.kruise.io/references`` (the ``<namespace>/<name>`` of each job
  using it, sorted, comma-separated) and ``imagepulljobs.kruise.io/mode: batch`` (the NodeImage
  names it with ``mode: batch``), plus the source's labels, annotations, type and data;
- a running job claims, for each source Secret it names, the copy whose references hold it, else
  the first copy of that source by name, else a new copy ``<source>-<6 hex>``; a claimed copy gets
  the job in its references and the source's data (a source changed since is synced);
- a finished or deleted job, or one that no longer names a copy's source, releases it: the job
  leaves its references, and a copy referenced by no job is deleted;
- a job in the daemon's namespace names its own Secrets (no copy); a source Secret that does not
  exist is skipped (kruise logs it).

Where kruise draws the new copy's suffix at random, it is derived here from the job's UID and the
source (same form), so a re-plan after a lost create answers 409 instead of making a second copy.
kruise fails every pass while the daemon's namespace is missing; here only a running job that has
pull secrets to copy does (a job with nothing to copy or release does not depend on it).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

JsonObject = dict[str, Any]

#: kruise's ``util.GetKruiseDaemonConfigNamespace``: the ``KRUISE_DAEMON_CONFIG_NS`` environment
#: variable, else ``kruise-daemon-config``.
DEFAULT_NAMESPACE = "kruise-daemon-config"
SOURCE_KEY = "imagepulljobs.kruise.io/source-key"
REFERENCES = "imagepulljobs.kruise.io/references"
MODE = "imagepulljobs.kruise.io/mode"
MODE_BATCH = "batch"


def daemon_namespace() -> str:
    return os.environ.get("KRUISE_DAEMON_CONFIG_NS") or DEFAULT_NAMESPACE


@dataclass(frozen=True)
class SecretsObserved:
    """What the step reads besides the job."""

    namespace: str
    """The daemon's namespace (where the copies live)."""
    namespace_state: str
    """``Active``, ``Terminating`` or ``Missing``."""
    copies: Sequence[JsonObject]
    """Every Secret in the daemon's namespace."""
    sources: Mapping[str, JsonObject | None]
    """Each pull secret the job names (in its namespace): the Secret, None when it does not exist."""


@dataclass(frozen=True)
class CreateCopy:
    body: JsonObject


@dataclass(frozen=True)
class PatchCopy:
    """A merge patch of one copy, with its read resourceVersion (a change since: 409, re-plan)."""

    name: str
    patch: JsonObject


@dataclass(frozen=True)
class DeleteCopy:
    name: str
    uid: str
    resource_version: str


SecretAction = CreateCopy | PatchCopy | DeleteCopy


@dataclass(frozen=True)
class SecretsPlan:
    actions: tuple[SecretAction, ...] = ()
    refs: tuple[JsonObject, ...] = ()
    """The ``pullSecrets`` entries (``ReferenceObject``) the job's NodeImages must hold."""
    error: str = ""
    """The copies cannot be made (the daemon's namespace is missing or being deleted)."""


def _meta(obj: JsonObject) -> JsonObject:
    return obj.get("metadata") or {}


def _annotations(obj: JsonObject) -> dict[str, str]:
    return dict(_meta(obj).get("annotations") or {})


def _split_key(key: str) -> str | None:
    """``cache.SplitMetaNamespaceKey`` then ``ReferenceObject.String``: the normalized key, None if bad."""
    parts = key.split("/")
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return key if parts[0] else parts[1]
    return None


def references(copy: JsonObject) -> set[str]:
    """``getReferencingJobsFromSecret``: the jobs (``namespace/name``) a copy's annotation lists."""
    raw = _annotations(copy).get(REFERENCES) or ""
    if not raw:
        return set()
    return {key for key in (_split_key(part) for part in raw.split(",")) if key is not None}


def source_of(copy: JsonObject) -> tuple[str, str]:
    """``ParseReferenceObject`` of the source-key annotation: ``(namespace, name)``."""
    raw = _annotations(copy).get(SOURCE_KEY) or ""
    parts = raw.split("/")
    if not raw:
        return "", ""
    if len(parts) == 1:
        return "", parts[0]
    return parts[0], parts[1]


def copy_name(source: str, job_uid: str, namespace: str) -> str:
    digest = hashlib.sha256(f"{job_uid}/{namespace}/{source}".encode()).hexdigest()
    return f"{source}-{digest[:6]}"


def new_copy(source: JsonObject, job_key: str, name: str, namespace: str) -> JsonObject:
    """``generateSyncedSecret``: the source's type, data, labels and annotations, plus the three."""
    meta = _meta(source)
    annotations = dict(meta.get("annotations") or {})
    annotations[REFERENCES] = job_key
    annotations[SOURCE_KEY] = f"{meta.get('namespace')}/{meta.get('name')}"
    annotations[MODE] = MODE_BATCH
    body: JsonObject = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"namespace": namespace, "name": name, "annotations": annotations},
    }
    if meta.get("labels"):
        body["metadata"]["labels"] = dict(meta["labels"])
    for field in ("type", "data", "stringData", "immutable"):
        if source.get(field) is not None:
            body[field] = source[field]
    return body


def _joined(keys: set[str]) -> str:
    return ",".join(sorted(keys))


def _ref(namespace: str, name: str, mode: str = "") -> JsonObject:
    ref = {"namespace": namespace, "name": name}
    if mode:
        ref["mode"] = mode
    return ref


def _release(copy: JsonObject, job_key: str) -> SecretAction:
    """``releaseImagePullJobSecrets`` for one copy: delete it when no job is left, else drop the job."""
    meta = _meta(copy)
    left = references(copy) - {job_key}
    if not left:
        return DeleteCopy(
            str(meta.get("name")), str(meta.get("uid") or ""), str(meta.get("resourceVersion") or "")
        )
    patch = {
        "metadata": {
            "resourceVersion": meta.get("resourceVersion"),
            "annotations": {REFERENCES: _joined(left)},
        }
    }
    return PatchCopy(str(meta.get("name")), patch)


def _claim(copy: JsonObject, source: JsonObject, job_key: str) -> SecretAction | None:
    """The patch that gives a copy the source's data and the job in its references (None: it has both)."""
    meta = _meta(copy)
    value = _joined(references(copy) | {job_key})
    old_data = copy.get("data") or {}
    new_data = source.get("data") or {}
    if old_data == new_data and _annotations(copy).get(REFERENCES) == value:
        return None
    data: JsonObject = {key: new_data.get(key) for key in {*old_data, *new_data}}  # None: removed
    patch = {
        "metadata": {"resourceVersion": meta.get("resourceVersion"), "annotations": {REFERENCES: value}},
        "data": data or None,
    }
    return PatchCopy(str(meta.get("name")), patch)


def plan_secrets(job: JsonObject, observed: SecretsObserved | None) -> SecretsPlan:
    """``syncJobPullSecrets`` (``classifyPullSecretsForJob``, ``releaseImagePullJobSecrets``,
    ``claimImagePullJobSecrets``) for one pass of ``job``."""
    meta = _meta(job)
    running = not meta.get("deletionTimestamp") and not (job.get("status") or {}).get("completionTime")
    names = list(dict.fromkeys(str(n) for n in (job.get("spec") or {}).get("pullSecrets") or ()))
    if running and not names:
        return SecretsPlan()
    job_namespace, job_name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    namespace = observed.namespace if observed is not None else daemon_namespace()
    if job_namespace == namespace:
        return SecretsPlan(refs=tuple(_ref(job_namespace, name) for name in names))
    if observed is None:
        return SecretsPlan(error="the pull secrets were not observed")
    if observed.namespace_state != "Active" and running:
        state = "not found" if observed.namespace_state == "Missing" else "being deleted"
        return SecretsPlan(error=f"failed to sync secrets: namespace({namespace}) is {state}")
    job_key = f"{job_namespace}/{job_name}"
    desired: dict[tuple[str, str], JsonObject | None] = (
        {(job_namespace, name): None for name in names} if running else {}
    )
    released: list[JsonObject] = []
    for copy in sorted(observed.copies, key=lambda c: str(_meta(c).get("name"))):
        if _meta(copy).get("deletionTimestamp"):
            continue
        referring = references(copy)
        if not running:
            if job_key in referring:
                released.append(copy)
            continue
        source = source_of(copy)
        if source in desired:
            if desired[source] is None or job_key in referring:
                desired[source] = copy
            continue
        if job_key in referring:
            released.append(copy)
    actions: list[SecretAction] = [_release(copy, job_key) for copy in released]
    refs: list[JsonObject] = []
    uid = str(meta.get("uid") or "")
    for (source_namespace, source_name), synced in desired.items():
        found = observed.sources.get(source_name)
        if found is None:
            continue
        if synced is None:
            body = new_copy(found, job_key, copy_name(source_name, uid, source_namespace), namespace)
            actions.append(CreateCopy(body))
            refs.append(_ref(namespace, body["metadata"]["name"], MODE_BATCH))
            continue
        refs.append(_ref(namespace, str(_meta(synced).get("name")), _annotations(synced).get(MODE, "")))
        claim = _claim(synced, found, job_key)
        if claim is not None:
            actions.append(claim)
    return SecretsPlan(tuple(actions), tuple(refs))
