"""Image pre-download for in-place update, for any workload: the ImagePullJobs a rollout asks for.

kruise has the same code twice, ``cloneset_predownload_image.go`` and Advanced StatefulSet's
``statefulset_predownload_image.go`` (with ``doPreDownload``), around one shared
``imagejob/utilfunction`` (``CreateJobForWorkload``, ``DeleteJobsForWorkload``); here it is once.
What the two kinds share, as a pure function of the pass (:func:`plan_predownload`):

- when: while the update revision differs from the current one, once
  ``apps.kruise.io/image-predownload-min-updated-ready-pods`` (int or percent of replicas, rounded
  up) updated pods are ready (``status.updatedReadyReplicas``, 0 when the status names another
  update revision), and only once per update revision (its ``apps.kruise.io/pre-predownload-created``
  or ``apps.kruise.io/image-predownload-ignored`` label); once the revisions agree again, the
  ImagePullJobs the workload controls are deleted;
- whether: not with 3 replicas or fewer, not when every pod updates in one batch (partition 0 and
  maxUnavailable >= replicas), not when the revisions cannot update in place
  (:func:`in_place_reason`); the kind's own strategy rule comes first (CloneSet ``ReCreate``,
  StatefulSet ``OnDelete`` or podUpdatePolicy ``ReCreate``): then the revision is marked ignored;
- which images: each container of the update revision that is new or has another image
  (:func:`changed_images`), one job each;
- which nodes: the job's ``podSelector`` is the workload's selector plus
  ``controller-revision-hash NotIn [<update revision>, <its hash>]``: the nodes of the pods still
  to be updated (kruise does not narrow it by the partition);
- the job's shape (:func:`image_pull_job`): named ``<update revision>-<container>``, the
  template's labels plus the revision's hash label, controlled by the workload, parallelism
  (``image-predownload-parallelism``, default 1) and pull timeout
  (``image-predownload-timeout-seconds``, default 300) from the workload's annotations, backoff 1,
  completion ``Always`` with a 600 s TTL, the template's labels and annotations as sandbox config,
  the template's pull secrets.

The steps are data (:class:`CreateImagePullJob`, :class:`MarkRevision`,
:class:`DeleteImagePullJob`); each worker runs them best effort (kruise only logs their failures)
in its own shell. Used by ``workers.cloneset.predownload`` and ``workers.statefulset.predownload``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from schemas.kruise.base import resolve_int_or_percent
from workers.podmechanics.inplace import in_place_spec
from workers.podmechanics.kube_json import (
    JsonDict,
    JsonObject,
    controller_ref,
    labels_of,
    name_of,
    objects,
    string_map,
    text,
    uid_of,
)
from workers.podmechanics.podwrites import EventRecord, normal
from workers.podmechanics.revisions import HASH_LABEL, template_of

PARALLELISM_ANNOTATION = "apps.kruise.io/image-predownload-parallelism"
TIMEOUT_SECONDS_ANNOTATION = "apps.kruise.io/image-predownload-timeout-seconds"
MIN_UPDATED_READY_PODS_ANNOTATION = "apps.kruise.io/image-predownload-min-updated-ready-pods"
CREATED_LABEL = "apps.kruise.io/pre-predownload-created"
"""kruise's ``ImagePreDownloadCreatedKey`` (sic: ``pre-predownload``)."""
IGNORED_LABEL = "apps.kruise.io/image-predownload-ignored"
POD_REVISION_LABEL = "controller-revision-hash"
IMAGE_PULL_JOB_API_VERSION = "apps.kruise.io/v1beta1"

MINIMUM_REPLICAS_TO_PRE_DOWNLOAD = 3
"""kruise ``minimumReplicasToPreDownloadImage``: with this many replicas or fewer, no job."""
DEFAULT_TIMEOUT_SECONDS = 300
DEFAULT_PARALLELISM = 1
BACKOFF_LIMIT = 1
TTL_SECONDS_AFTER_FINISHED = 600

_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_INT32 = 2**31


@dataclass(frozen=True)
class CreateImagePullJob:
    """Create an ImagePullJob to pre-download an image. Best effort, as kruise: AlreadyExists
    means done (the name is deterministic, no Event); another failure emits ``failure_event``
    (``{error}``: the API error) and the plan goes on."""

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
    """Delete an ImagePullJob the workload controls (its revisions agree again). Best effort."""

    name: str
    uid: str


Step = CreateImagePullJob | MarkRevision | DeleteImagePullJob


@dataclass(frozen=True)
class Workload:
    """What pre-download reads of the workload whose rollout it serves."""

    owner: JsonDict
    """The controller ownerReference the jobs get (its ``uid`` finds the jobs to delete)."""
    namespace: str
    annotations: Mapping[str, str]
    replicas: int
    template: JsonObject
    """The workload's ``spec.template`` now (labels, annotations, pull secrets of the jobs)."""
    selector: JsonObject
    """The workload's ``spec.selector`` (wire form)."""
    status_update_revision: str | None
    updated_ready_replicas: int


def _go_int(value: str, bits: int) -> int | None:
    """``strconv.ParseInt(value, 10, bits)``: a decimal integer in range, else None."""
    if not _INTEGER.match(value):
        return None
    number = int(value)
    return number if -(2 ** (bits - 1)) <= number < 2 ** (bits - 1) else None


def _as_int32(number: int) -> int:
    """Go's ``int32(number)`` (``intstr.FromInt`` truncates)."""
    return (number + _INT32) % (2 * _INT32) - _INT32


def timeout_seconds(annotations: Mapping[str, str]) -> int:
    raw = annotations.get(TIMEOUT_SECONDS_ANNOTATION)
    parsed = _go_int(raw, 32) if raw is not None else None
    return DEFAULT_TIMEOUT_SECONDS if parsed is None else parsed


def parallelism(annotations: Mapping[str, str]) -> int:
    raw = annotations.get(PARALLELISM_ANNOTATION)
    parsed = _go_int(raw, 64) if raw is not None else None
    return DEFAULT_PARALLELISM if parsed is None else _as_int32(parsed)


def min_updated_ready_pods(annotations: Mapping[str, str], replicas: int) -> int:
    """The annotation as a count of ``replicas`` (percent rounds up); 0 when absent or malformed."""
    raw = annotations.get(MIN_UPDATED_READY_PODS_ANNOTATION)
    if raw is None:
        return 0
    number = _go_int(raw, 64)
    if number is not None:
        return number
    try:
        return resolve_int_or_percent(raw, replicas, round_up=True)
    except ValueError:
        return 0  # kruise logs the error and goes on with 0


def changed_images(current: JsonObject, update: JsonObject) -> dict[str, str]:
    """Container name -> new image, for containers new in ``update`` or with another image."""
    old = {text(c, "name"): text(c, "image") for c in objects(current, "spec", "containers")}
    changed: dict[str, str] = {}
    for container in objects(update, "spec", "containers"):
        name, image = text(container, "name"), text(container, "image")
        if old.get(name) != image:
            changed[name] = image
    return changed


def replicas_reason(replicas: int) -> str | None:
    """Too few replicas to pre-download for (kruise ``minimumReplicasToPreDownloadImage``)."""
    if replicas <= MINIMUM_REPLICAS_TO_PRE_DOWNLOAD:
        return f"replicas {replicas} <= {MINIMUM_REPLICAS_TO_PRE_DOWNLOAD}"
    return None


def one_batch_reason(replicas: int, partition: int, max_unavailable: int) -> str | None:
    """Every pod updates in the first batch: nothing to pull ahead of."""
    if partition == 0 and max_unavailable >= replicas:
        return "all pods update in one batch"
    return None


def in_place_reason(current: JsonObject, update: JsonObject) -> str | None:
    """The revisions cannot update in place (kruise ``CanUpdateInPlace``)."""
    if in_place_spec(template_of(current), template_of(update), name_of(update), 0) is None:
        return "in-place update is not possible"
    return None


def image_pull_job(workload: Workload, update: JsonObject, container: str, image: str) -> JsonDict:
    """The ImagePullJob kruise's ``CreateJobForWorkload`` creates for one changed container."""
    template = workload.template
    hash_value = labels_of(update).get(HASH_LABEL, "")
    labels = {**string_map(template, "metadata", "labels"), HASH_LABEL: hash_value}
    selector = dict(workload.selector)
    expressions = [*objects(selector, "matchExpressions")]
    expressions.append(
        {"key": POD_REVISION_LABEL, "operator": "NotIn", "values": [name_of(update), hash_value]}
    )
    pod_selector: JsonDict = {**selector, "matchExpressions": expressions}
    pull_secrets = [text(s, "name") for s in objects(template, "spec", "imagePullSecrets")]
    sandbox: JsonDict = {"labels": dict(labels)}
    template_annotations = dict(string_map(template, "metadata", "annotations"))
    if template_annotations:  # omitempty, as kruise's JSON
        sandbox["annotations"] = template_annotations
    spec: JsonDict = {
        "image": image,
        "podSelector": pod_selector,
        "parallelism": parallelism(workload.annotations),
        "pullPolicy": {
            "backoffLimit": BACKOFF_LIMIT,
            "timeoutSeconds": timeout_seconds(workload.annotations),
        },
        "completionPolicy": {"type": "Always", "ttlSecondsAfterFinished": TTL_SECONDS_AFTER_FINISHED},
        "sandboxConfig": sandbox,
    }
    if pull_secrets:
        spec["pullSecrets"] = pull_secrets
    return {
        "apiVersion": IMAGE_PULL_JOB_API_VERSION,
        "kind": "ImagePullJob",
        "metadata": {
            "name": f"{name_of(update)}-{container}",
            "namespace": workload.namespace,
            "labels": labels,
            "ownerReferences": [dict(workload.owner)],
        },
        "spec": spec,
    }


def plan_predownload(
    workload: Workload,
    current: JsonObject,
    update: JsonObject,
    jobs: Sequence[JsonObject],
    ignored: Callable[[], str | None],
) -> tuple[Step, ...]:
    """The pre-download steps of one pass (gate on; the caller checks it).

    ``current`` / ``update``: the pass's revisions (``update`` possibly created in this pass);
    ``jobs``: ImagePullJobs observed in the namespace (only those the workload controls are
    deleted); ``ignored``: why pre-download does not apply to this update, None when it does
    (the kind's rules then :func:`replicas_reason`, :func:`one_batch_reason`,
    :func:`in_place_reason`, in kruise's order); a ValueError from it (an illegal partition)
    skips the pass's pre-download without a mark, as kruise returns the error.
    """
    if name_of(current) == name_of(update):
        uid = str(workload.owner.get("uid", ""))
        owned = [j for j in jobs if (controller_ref(j) or {}).get("uid") == uid]
        return tuple(DeleteImagePullJob(name_of(j), uid_of(j)) for j in owned)
    updated_ready = (
        workload.updated_ready_replicas if workload.status_update_revision == name_of(update) else 0
    )
    if min_updated_ready_pods(workload.annotations, workload.replicas) > updated_ready:
        return ()
    marks = labels_of(update)
    if CREATED_LABEL in marks or IGNORED_LABEL in marks:
        return ()
    try:
        reason = ignored()
    except ValueError:
        return ()
    if reason is not None:
        return (MarkRevision(name_of(update), IGNORED_LABEL, reason),)
    steps: list[Step] = []
    for container, image in changed_images(template_of(current), template_of(update)).items():
        job = image_pull_job(workload, update, container, image)
        job_name = name_of(job)
        created = normal("CreatedImagePullJob", f"created ImagePullJob {job_name} for image: {image}")
        failed = normal("FailedCreateImagePullJob", f"failed to create ImagePullJob {job_name}: {{error}}")
        steps.append(CreateImagePullJob(job, success_event=created, failure_event=failed))
    steps.append(MarkRevision(name_of(update), CREATED_LABEL, f"{len(steps)} ImagePullJob(s)"))
    return tuple(steps)
