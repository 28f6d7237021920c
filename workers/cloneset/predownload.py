"""Image pre-download for in-place update: the ImagePullJobs a CloneSet rollout asks for.

kruise's ``createImagePullJobsForInPlaceUpdate`` and ``DeleteJobsForWorkload``, as a pure
function of the reconcile's observed state (gate ``PreDownloadImageForInPlaceUpdate``, which
``KruiseDaemon`` off turns off). While the update revision differs from the current one, and
once ``apps.kruise.io/image-predownload-min-updated-ready-pods`` updated pods are ready, the
update revision is handled once: either it gets an ImagePullJob per container whose image
changed (named ``<revision>-<container>``, owned by the CloneSet, pulling on the nodes of the
pods not yet at the update revision; parallelism and timeout from the CloneSet's
``image-predownload-parallelism`` / ``image-predownload-timeout-seconds`` annotations) and the
``apps.kruise.io/pre-predownload-created`` label (kruise's spelling), or, when pre-downloading
does not apply (ReCreate strategy, 3 replicas or fewer, all pods in one batch, no in-place
update possible), the ``apps.kruise.io/image-predownload-ignored`` label. Once the revisions
agree again, the CloneSet's ImagePullJobs are deleted. Called by ``planner.plan``; the shell
runs the steps best effort (kruise only logs their failures).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from schemas.kruise.cloneset import CloneSet
from workers.cloneset.actions import (
    Action,
    CreateImagePullJob,
    DeleteImagePullJob,
    MarkRevision,
    normal,
)
from workers.cloneset.limits import partition_replicas, scaled_value
from workers.cloneset.owner import cloneset_uid, controller_reference
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
class PreDownloadInput:
    """What the pass decided that pre-download reads."""

    cloneset: CloneSet
    current: JsonObject
    """The current revision (a ControllerRevision)."""
    update: JsonObject
    """The update revision (possibly created in this pass)."""
    jobs: Sequence[JsonObject]
    """ImagePullJobs observed in the namespace (only those the CloneSet controls are touched)."""


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
        return scaled_value(raw, replicas, round_up=True)
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


def _ignored_reason(cloneset: CloneSet, current: JsonObject, update: JsonObject) -> str | None:
    """Why pre-download does not apply to this update (None: it does)."""
    spec = cloneset.spec
    strategy = spec.update_strategy
    if strategy.type == "ReCreate":
        return "update type is ReCreate"
    replicas = spec.replicas
    if replicas <= MINIMUM_REPLICAS_TO_PRE_DOWNLOAD:
        return f"replicas {replicas} <= {MINIMUM_REPLICAS_TO_PRE_DOWNLOAD}"
    partition = partition_replicas(strategy.partition, replicas)  # ValueError: the caller skips
    try:
        max_unavailable = scaled_value(strategy.max_unavailable, replicas, round_up=False)
    except ValueError:
        max_unavailable = 0
    if partition == 0 and max_unavailable >= replicas:
        return "all pods update in one batch"
    if in_place_spec(template_of(current), template_of(update), name_of(update), 0) is None:
        return "in-place update is not possible"
    return None


def image_pull_job(cloneset: CloneSet, update: JsonObject, container: str, image: str) -> JsonDict:
    """The ImagePullJob kruise's ``CreateJobForWorkload`` creates for one changed container."""
    template = cloneset.spec.template
    annotations = {str(k): str(v) for k, v in dict(cloneset.metadata.get("annotations") or {}).items()}
    hash_value = labels_of(update).get(HASH_LABEL, "")
    labels = {**string_map(template, "metadata", "labels"), HASH_LABEL: hash_value}
    selector = cloneset.spec.selector.to_wire()
    expressions = [*selector.get("matchExpressions", [])]
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
        "parallelism": parallelism(annotations),
        "pullPolicy": {"backoffLimit": BACKOFF_LIMIT, "timeoutSeconds": timeout_seconds(annotations)},
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
            "namespace": str(cloneset.metadata.get("namespace", "")),
            "labels": labels,
            "ownerReferences": [controller_reference(cloneset)],
        },
        "spec": spec,
    }


def plan_predownload(given: PreDownloadInput) -> tuple[Action, ...]:
    """The pre-download steps of one pass (gate on; the caller checks it)."""
    cloneset, current, update = given.cloneset, given.current, given.update
    if name_of(current) == name_of(update):
        uid = cloneset_uid(cloneset)
        owned = [j for j in given.jobs if (controller_ref(j) or {}).get("uid") == uid]
        return tuple(DeleteImagePullJob(name_of(j), uid_of(j)) for j in owned)
    status = cloneset.status
    annotations = {str(k): str(v) for k, v in dict(cloneset.metadata.get("annotations") or {}).items()}
    updated_ready = status.updated_ready_replicas if status.update_revision == name_of(update) else 0
    if min_updated_ready_pods(annotations, cloneset.spec.replicas) > updated_ready:
        return ()
    marks = labels_of(update)
    if CREATED_LABEL in marks or IGNORED_LABEL in marks:
        return ()
    try:
        ignored = _ignored_reason(cloneset, current, update)
    except ValueError:
        return ()  # an illegal partition: kruise returns the error and marks nothing
    if ignored is not None:
        return (MarkRevision(name_of(update), IGNORED_LABEL, ignored),)
    steps: list[Action] = []
    for container, image in changed_images(template_of(current), template_of(update)).items():
        job = image_pull_job(cloneset, update, container, image)
        job_name = name_of(job)
        created = normal("CreatedImagePullJob", f"created ImagePullJob {job_name} for image: {image}")
        failed = normal("FailedCreateImagePullJob", f"failed to create ImagePullJob {job_name}: {{error}}")
        steps.append(CreateImagePullJob(job, success_event=created, failure_event=failed))
    steps.append(MarkRevision(name_of(update), CREATED_LABEL, f"{len(steps)} ImagePullJob(s)"))
    return tuple(steps)
