"""Image pre-download for an Advanced StatefulSet's in-place update (kruise ``doPreDownload``).

kruise v1.9.1 ``statefulset_predownload_image.go``: each pass, after the revisions are decided
and before any pod is touched, the set asks for the ImagePullJobs of its update revision, or
deletes its jobs once the revisions agree again (gate ``PreDownloadImageForInPlaceUpdate``,
off with ``KruiseDaemon`` off). The rules it shares with CloneSet are
``workers.podmechanics.predownload``; the set's own are here: pre-download is ignored (the
revision marked ``apps.kruise.io/image-predownload-ignored``) under ``OnDelete`` and under
podUpdatePolicy ``ReCreate`` (the default), its partition is a plain ordinal count and its
maxUnavailable defaults to 1; the jobs are controlled by the set (``apps.kruise.io/v1beta1``
StatefulSet).

The steps go into the plan (:func:`add_steps`) at their place, each marked best effort
(``builder.BestEffort``): ``act`` runs them through :func:`run_best_effort`, which logs a failure,
sends the Event kruise sends for it and goes on; an ImagePullJob that already exists is done
(deterministic name, no Event). ``worker.observe`` reads the jobs (:func:`image_pull_jobs`) only
when they can be deleted this pass: a revision says jobs were created for it and the status's
revisions agree; and, as the stray LISTs (``reads.strays_due``), not again once a LIST found none
of the set's jobs left while nothing that could make one changed (:func:`jobs_due`): the mark stays
on the revision until history pruning drops it, and kruise's check (``DeleteJobsForWorkload``)
reads its informer cache, which costs it no request.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from flotilla.runtime.errors import AlreadyExists, KubeError, NotFound
from flotilla.runtime.kube import JsonObject as KubeJson
from flotilla.runtime.kube import KubeClient, Resource
from schemas.bus.envelope import Envelope, EventType
from schemas.kruise.base import resolve_int_or_percent
from schemas.kruise.statefulset import StatefulSet
from workers.podmechanics import predownload as shared
from workers.podmechanics.kube_json import JsonObject, controller_ref, labels_of, mapping, name_of, uid_of
from workers.podmechanics.podwrites import EventRecord
from workers.podmechanics.revisions import RevisionDecision
from workers.runtime import actions as runtime
from workers.runtime.event_correlation import LruCache
from workers.runtime.observe import StateReader
from workers.statefulset.builder import CONTROLLER_REVISIONS, BestEffort, PlanBuilder
from workers.statefulset.identity import set_reference

IMAGE_PULL_JOBS = Resource("apps.kruise.io", "v1beta1", "imagepulljobs", "ImagePullJob")

log = logging.getLogger("flotilla.worker.statefulset.predownload")


def workload(sts: StatefulSet, raw: JsonObject) -> shared.Workload:
    """The set as the owner of its pre-download jobs."""
    annotations = {str(k): str(v) for k, v in dict(sts.metadata.get("annotations") or {}).items()}
    return shared.Workload(
        owner=set_reference(name_of(raw), uid_of(raw), controller=True),
        namespace=str(sts.metadata.get("namespace", "")),
        annotations=annotations,
        replicas=sts.spec.replicas,
        template=sts.spec.template,
        selector=sts.spec.selector.to_wire(),
        status_update_revision=sts.status.update_revision,
        updated_ready_replicas=sts.status.updated_ready_replicas,
    )


def ignored_reason(sts: StatefulSet, current: JsonObject, update: JsonObject) -> str | None:
    """Why pre-download does not apply to this update (None: it does), in kruise's order."""
    strategy = sts.spec.update_strategy
    if strategy.type == "OnDelete":
        return "update type is OnDelete"
    rolling = strategy.rolling_update
    if rolling.pod_update_policy == "ReCreate":
        return "pod update policy is ReCreate"
    replicas = sts.spec.replicas
    too_few = shared.replicas_reason(replicas)
    if too_few is not None:
        return too_few
    try:
        max_unavailable = resolve_int_or_percent(rolling.max_unavailable, replicas, round_up=False)
    except ValueError:
        max_unavailable = 0  # kruise ignores GetValueFromIntOrPercent's error
    return shared.one_batch_reason(replicas, rolling.partition, max_unavailable) or shared.in_place_reason(
        current, update
    )


def plan_predownload(
    sts: StatefulSet, raw: JsonObject, revisions: RevisionDecision, jobs: Sequence[JsonObject]
) -> tuple[shared.Step, ...]:
    """The pre-download steps of one pass (gate on; the caller checks it)."""
    current, update = revisions.current, revisions.update
    return shared.plan_predownload(
        workload(sts, raw), current, update, jobs, lambda: ignored_reason(sts, current, update)
    )


def _event(out: PlanBuilder, record: EventRecord | None) -> runtime.EmitEvent | None:
    return out.event(record.type, record.reason, record.message) if record is not None else None


def add_steps(out: PlanBuilder, steps: Sequence[shared.Step]) -> None:
    """The steps as the plan's runtime actions, each best effort."""
    for step in steps:
        match step:
            case shared.CreateImagePullJob(job, success, failure):
                action: runtime.Action = runtime.CreateObject(IMAGE_PULL_JOBS, out.namespace, dict(job))
                note = f"create ImagePullJob {name_of(job)}"
                effort = BestEffort(note, _event(out, success), _event(out, failure), exists_ok=True)
            case shared.MarkRevision(revision, label, why):
                # a JSON merge patch, as CloneSet's (``workers.podmechanics.predownload.MarkRevision``)
                patch = {"metadata": {"labels": {label: "true"}}}
                action = runtime.PatchObject(CONTROLLER_REVISIONS, out.namespace, revision, patch, "merge")
                effort = BestEffort(f"mark revision {revision} {label} ({why})")
            case shared.DeleteImagePullJob(job, uid):
                action = runtime.DeleteObject(IMAGE_PULL_JOBS, out.namespace, job, uid)
                effort = BestEffort(f"delete ImagePullJob {job}")
        out.best_effort(action, effort)


async def run_best_effort(
    api: KubeClient, action: runtime.Action, effort: BestEffort, field_manager: str
) -> list[runtime.EmitEvent]:
    """Run one pre-download action; the Events to send (after the plan's writes, as its others)."""
    try:
        await runtime.execute_action(api, action, field_manager)
    except AlreadyExists:
        if not effort.exists_ok:
            log.warning("StatefulSet pre-download: %s failed: already exists", effort.note)
        return []
    except NotFound:
        if not isinstance(action, runtime.DeleteObject):  # a job already gone is deleted
            log.warning("StatefulSet pre-download: %s failed: not found", effort.note)
        return []
    except KubeError as err:
        log.warning("StatefulSet pre-download: %s failed: %s", effort.note, err)
        failure = effort.failure
        if failure is None:
            return []
        return [dataclasses.replace(failure, message=failure.message.replace("{error}", str(err)))]
    log.info("StatefulSet pre-download: %s: done", effort.note)
    return [effort.success] if effort.success is not None else []


def _pre_downloaded(revisions: Sequence[JsonObject]) -> frozenset[str]:
    """The revisions that say jobs were created for them."""
    return frozenset(name_of(r) for r in revisions if shared.CREATED_LABEL in labels_of(r))


#: Seconds after which a set's jobs are listed again though a LIST found none left (per process):
#: how late, at most, a job whose delete was lost (another replica's pass) is deleted. The
#: watcher's resync period, as ``reads.STRAY_RESYNC``.
JOBS_RESYNC = 300.0


@dataclass(frozen=True)
class JobsGone:
    """A LIST of a set's ImagePullJobs found none of them, in the state ``state`` (the set's uid
    and generation, its status's revision, the revisions marked as having jobs), at ``at``
    (``time.monotonic``)."""

    state: tuple[str, str, str, frozenset[str]]
    at: float


#: Per ``(namespace, name)``, in this process: the set's last LIST that found its jobs gone.
JOBS_GONE: LruCache[tuple[str, str], JobsGone] = LruCache()


def jobs_due(
    last: JobsGone | None, state: tuple[str, str, str, frozenset[str]], trigger: Envelope | None, at: float
) -> bool:
    """Whether the pass lists the set's jobs: unless a LIST found them gone in this very
    ``state`` (a job is only made for a new revision, which a new generation and a new mark
    show), less than :data:`JOBS_RESYNC` ago, and the trigger is not the watcher's resync."""
    if last is None or last.state != state:
        return True
    if trigger is not None and trigger.event_type == EventType.RESYNC:
        return True
    return at >= last.at + JOBS_RESYNC


async def image_pull_jobs(
    read: StateReader,
    namespace: str,
    selector: str,
    raw: JsonObject,
    revisions: Sequence[KubeJson],
    trigger: Envelope | None = None,
    at: float = 0.0,
) -> list[KubeJson]:
    """The ImagePullJobs the set's pass may delete: read only when a revision says jobs were
    created for it and the status's revisions agree (kruise deletes when they do), and
    :func:`jobs_due`, by the set's selector (the jobs carry the template's labels); none when the
    kind is not served. ``trigger``: the trigger the reconcile answers; ``at``: ``time.monotonic``."""
    status = mapping(raw, "status")
    current = str(status.get("currentRevision") or "")
    marked = _pre_downloaded(revisions)
    if not current or current != status.get("updateRevision") or not marked:
        return []
    ref = (namespace, name_of(raw))
    uid = uid_of(raw)
    state = (uid, str(mapping(raw, "metadata").get("generation", "")), current, marked)
    if not jobs_due(JOBS_GONE.get(ref), state, trigger, at):
        return []
    try:
        jobs = await read.list(IMAGE_PULL_JOBS, namespace, label_selector=selector)
    except NotFound:
        jobs = []
    if any((controller_ref(j) or {}).get("uid") == uid for j in jobs):
        JOBS_GONE.forget(ref)  # this pass deletes them; the next one looks again
    else:
        JOBS_GONE.put(ref, JobsGone(state, at))
    return jobs
