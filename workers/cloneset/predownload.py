"""Image pre-download for in-place update: the ImagePullJobs a CloneSet rollout asks for.

kruise's ``createImagePullJobsForInPlaceUpdate`` and ``DeleteJobsForWorkload`` for a CloneSet
(gate ``PreDownloadImageForInPlaceUpdate``, which ``KruiseDaemon`` off turns off). The rules both
kruise workloads share (when, which images, which nodes, the job's shape, the clean-up) are
``workers.podmechanics.predownload``; what is the CloneSet's own is here: its strategy rule
(``ReCreate`` is never pre-downloaded for), its partition (int or percent,
``CalculatePartitionReplicas``; an illegal one skips the pass) and maxUnavailable (default 20%),
its controller reference. Called by ``planner.plan``; the shell runs the steps best effort
(kruise only logs their failures).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from schemas.kruise.cloneset import CloneSet
from workers.cloneset.actions import Action
from workers.cloneset.limits import partition_replicas, scaled_value
from workers.cloneset.owner import controller_reference
from workers.podmechanics import predownload as shared
from workers.podmechanics.kube_json import JsonDict, JsonObject
from workers.podmechanics.predownload import (
    CREATED_LABEL as CREATED_LABEL,  # re-exported
)
from workers.podmechanics.predownload import (
    IGNORED_LABEL as IGNORED_LABEL,  # re-exported
)
from workers.podmechanics.predownload import (
    MIN_UPDATED_READY_PODS_ANNOTATION as MIN_UPDATED_READY_PODS_ANNOTATION,  # re-exported
)
from workers.podmechanics.predownload import (
    PARALLELISM_ANNOTATION as PARALLELISM_ANNOTATION,  # re-exported
)
from workers.podmechanics.predownload import (
    changed_images as changed_images,  # re-exported
)


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


def workload(cloneset: CloneSet) -> shared.Workload:
    """The CloneSet as the owner of its pre-download jobs."""
    annotations = {str(k): str(v) for k, v in dict(cloneset.metadata.get("annotations") or {}).items()}
    status = cloneset.status
    return shared.Workload(
        owner=controller_reference(cloneset),
        namespace=str(cloneset.metadata.get("namespace", "")),
        annotations=annotations,
        replicas=cloneset.spec.replicas,
        template=cloneset.spec.template,
        selector=cloneset.spec.selector.to_wire(),
        status_update_revision=status.update_revision,
        updated_ready_replicas=status.updated_ready_replicas,
    )


def _ignored_reason(cloneset: CloneSet, current: JsonObject, update: JsonObject) -> str | None:
    """Why pre-download does not apply to this update (None: it does); ValueError: an illegal partition."""
    spec = cloneset.spec
    strategy = spec.update_strategy
    if strategy.type == "ReCreate":
        return "update type is ReCreate"
    replicas = spec.replicas
    too_few = shared.replicas_reason(replicas)
    if too_few is not None:
        return too_few
    partition = partition_replicas(strategy.partition, replicas)  # ValueError: the pass skips
    try:
        max_unavailable = scaled_value(strategy.max_unavailable, replicas, round_up=False)
    except ValueError:
        max_unavailable = 0
    return shared.one_batch_reason(replicas, partition, max_unavailable) or shared.in_place_reason(
        current, update
    )


def image_pull_job(cloneset: CloneSet, update: JsonObject, container: str, image: str) -> JsonDict:
    """The ImagePullJob kruise's ``CreateJobForWorkload`` creates for one changed container."""
    return shared.image_pull_job(workload(cloneset), update, container, image)


def plan_predownload(given: PreDownloadInput) -> tuple[Action, ...]:
    """The pre-download steps of one pass (gate on; the caller checks it)."""
    cloneset, current, update = given.cloneset, given.current, given.update
    return shared.plan_predownload(
        workload(cloneset),
        current,
        update,
        given.jobs,
        lambda: _ignored_reason(cloneset, current, update),
    )
