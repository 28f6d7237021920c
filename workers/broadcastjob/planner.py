"""The BroadcastJob planner: one reconcile of kruise v1.9.1's BroadcastJob controller, as data.

Pure: ``plan(observed, now)`` reads the job, its pods and every node, and returns a
:class:`JobPlan` (pods to create on which node, pods to delete, the job to delete after its TTL,
Events, the status to write, and when to look again). It walks kruise's ``Reconcile``:

1. a finished job (``Always`` and a True ``Complete``/``Failed`` condition) waits out
   ``ttlSecondsAfterFinished`` and is then deleted;
2. ``startTime`` is set, phase ``running``; pods are counted (active / failed by phase or by
   ``restartLimit`` / succeeded) and every node is judged (:mod:`workers.broadcastjob.nodefit`):
   desired = nodes whose pod still fits plus free nodes a pod would fit; a pod that no longer
   fits its node (cordoned, tainted, relabelled) is deleted and counted failed;
3. phase ``failed`` only refreshes counts; ``paused`` (or failurePolicy ``Pause`` with a failed
   pod) sets phase ``paused``; ``FailFast`` with a failed pod, or ``activeDeadlineSeconds``
   passed, fails the job: its active pods are deleted, condition ``Failed``;
4. otherwise pods are created on free nodes up to ``parallelism`` (int, or percent of desired
   rounded up), and with ``Always`` the job is ``completed`` once every desired node has a
   finished pod.

Two departures, both because a requeue here is durable (kruise's is in memory): the deadline
and TTL timers are returned as ``requeue_after`` on every pass, not only the first; and the
``Continue`` / ``Paused`` Event pair kruise repeats on each pass of a job paused by its failure
policy is emitted only when the phase changes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from workers.broadcastjob import jobpods
from workers.broadcastjob.nodefit import node_name, unfit_reason
from workers.broadcastjob.observed import ObservedBroadcastJob

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class CreatePod:
    node: str
    body: JsonObject


@dataclass(frozen=True)
class DeletePod:
    name: str
    uid: str


@dataclass(frozen=True)
class Event:
    reason: str
    message: str
    type: str = "Normal"


@dataclass(frozen=True)
class JobPlan:
    """What one reconcile decided, in kruise's order: deletes, creates, Events, then the status."""

    delete_pods: tuple[DeletePod, ...] = ()
    create_pods: tuple[CreatePod, ...] = ()
    events: tuple[Event, ...] = ()
    status: JsonObject | None = None
    """The whole new status, or None when it is unchanged."""
    delete_job: bool = False
    requeue_after: float | None = None
    reason: str = ""


def rfc3339(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: object) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


_PERCENT = re.compile(r"^(-?\d+)%$")


def parallelism_of(value: int | str, desired: int) -> int:
    """``GetValueFromIntOrPercent(parallelism, desired, roundUp=true)``."""
    if isinstance(value, int):
        return value
    found = _PERCENT.match(value)
    if found is None:
        raise ValueError(f"invalid parallelism {value!r}: not an integer or a percentage")
    return math.ceil(int(found.group(1)) * desired / 100)


def is_finished(observed: ObservedBroadcastJob) -> bool:
    """``IsJobFinished``: never for ``Never``; else a True Complete or Failed condition."""
    if observed.job.spec.completion_policy.type == "Never":
        return False
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in observed.status.get("conditions") or ()
    )


@dataclass
class _Pass:
    """The mutable working state of one pass (kept inside :func:`plan`)."""

    status: JsonObject
    events: list[Event] = field(default_factory=list)
    deletes: list[DeletePod] = field(default_factory=list)
    creates: list[CreatePod] = field(default_factory=list)

    def warn(self, reason: str, message: str) -> None:
        self.events.append(Event(reason, message, "Warning"))


def _condition(kind: str, message: str, now: str) -> JsonObject:
    return {
        "type": kind,
        "status": "True",
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": kind,
        "message": message,
    }


def _delete(work: _Pass, pods: list[JsonObject] | tuple[JsonObject, ...]) -> int:
    for pod in pods:
        meta = pod.get("metadata") or {}
        work.deletes.append(DeletePod(str(meta.get("name", "")), str(meta.get("uid", ""))))
        work.events.append(Event("SuccessfulDelete", f"Delete pod: {meta.get('name', '')}"))
    return len(pods)


def _finish(work: _Pass, observed: ObservedBroadcastJob, kind: str, message: str, now: float) -> float | None:
    """``finishJob``: the condition, completionTime, and the TTL timer."""
    stamp = rfc3339(now)
    work.status["conditions"] = [*(work.status.get("conditions") or []), _condition(kind, message, stamp)]
    work.status["completionTime"] = stamp
    ttl = observed.job.spec.completion_policy.ttl_seconds_after_finished
    return float(ttl) if ttl is not None else None


def _deadline_left(observed: ObservedBroadcastJob, start: float, now: float) -> float | None:
    policy = observed.job.spec.completion_policy
    if policy.type != "Always" or policy.active_deadline_seconds is None:
        return None
    return start + policy.active_deadline_seconds - now


def plan(observed: ObservedBroadcastJob, now: float) -> JobPlan:
    job, name, namespace = observed.job, observed.name, observed.namespace
    policy = job.spec.completion_policy
    if is_finished(observed):
        ttl = policy.ttl_seconds_after_finished
        done = parse_time(observed.status.get("completionTime"))
        if ttl is None or done is None:
            return JobPlan(reason="finished")
        left = done + ttl - now
        if left <= 0:
            return JobPlan(delete_job=True, reason="ttlSecondsAfterFinished passed: deleting the job")
        return JobPlan(requeue_after=left, reason="finished; waiting for ttlSecondsAfterFinished")

    work = _Pass(status=dict(observed.status))
    start = parse_time(work.status.get("startTime"))
    if start is None:
        work.status["startTime"] = rfc3339(now)
        start = float(int(now))
    if not work.status.get("phase"):
        work.status["phase"] = "running"

    pods = tuple(p for p in observed.pods if jobpods.owned_by(p, observed.uid))
    by_node: dict[str, JsonObject] = {}
    for pod in pods:
        assigned = jobpods.assigned_node(pod)
        if assigned in by_node:
            work.warn(
                "DuplicatePodCreatedOnSameNode",
                f"Duplicated pod {pod['metadata'].get('name', '')} found on same node {assigned}",
            )
        by_node[assigned] = pod
    outcome = jobpods.classify(job.spec.failure_policy.restart_limit, pods)
    active, failed, succeeded = len(outcome.active), len(outcome.failed), len(outcome.succeeded)

    template = jobpods.template_with_labels(job.spec.template, name, observed.uid)
    desired_nodes: dict[str, JsonObject | None] = {}
    free_nodes: list[str] = []
    misfits: list[JsonObject] = []
    for node in observed.nodes:
        node_id = node_name(node)
        existing = by_node.get(node_id)
        if existing is not None:
            if unfit_reason(existing, node) is not None and not jobpods.deleting(existing):
                misfits.append(existing)
                continue
            desired_nodes[node_id] = existing
        elif unfit_reason(jobpods.mock_pod(template, namespace, node_id), node) is None:
            free_nodes.append(node_id)
            desired_nodes[node_id] = None
    desired = len(desired_nodes)
    work.status.update(active=active, failed=failed, succeeded=succeeded, desired=desired)

    deadline_left = _deadline_left(observed, start, now)
    timer = deadline_left if deadline_left is not None and deadline_left > 0 else None
    phase = work.status["phase"]
    if phase == "failed":
        return _done(observed, work, None, "job failed: counts refreshed")
    if job.spec.paused and phase in ("running", "paused"):
        work.status["phase"] = "paused"
        return _done(observed, work, timer, "paused")
    if not job.spec.paused and phase == "paused":
        if failed > 0 and job.spec.failure_policy.type == "Pause":
            return _done(observed, work, timer, "paused by failurePolicy Pause: failed pods remain")
        work.status["phase"] = "running"
        work.events.append(Event("Continue", "continue to process job"))

    job_failed, failure_reason, failure_message = False, "", ""
    if failed > 0:
        if job.spec.failure_policy.type == "Pause":
            work.warn("Paused", "job is paused, due to failed pod")
            work.status["phase"] = "paused"
            return _done(observed, work, timer, "paused: a pod failed (failurePolicy Pause)")
        if job.spec.failure_policy.type == "FailFast":
            job_failed = True
            failure_reason = "failed pod is found"
            failure_message = "failure policy is FailurePolicyTypeFailFast and failed pod is found"
            work.warn(failure_reason, f"{failure_message}: {succeeded} pods succeeded, {failed} pods failed")
    if not job_failed and deadline_left is not None and deadline_left <= 0:
        job_failed, failure_reason = True, "DeadlineExceeded"
        failure_message = f"Job {namespace}/{name} was active longer than specified deadline"

    requeue: float | None = timer
    if job_failed:
        removed = _delete(work, outcome.active)
        failed, active = failed + removed, active - removed
        work.status["phase"] = "failed"
        requeue = _finish(work, observed, "Failed", failure_message, now)
        work.warn(failure_reason, f"{failure_message}: {succeeded} pods succeeded, {failed} pods failed")
        reason = f"job failed: {failure_reason}"
    else:
        removed = _delete(work, misfits)
        failed, active = failed + removed, active - removed
        if not observed.deleting and free_nodes:
            active = _create(work, observed, free_nodes, active, desired)
        reason = f"{len(work.creates)} pods to create, {len(work.deletes)} to delete, desired {desired}"
        if _complete(observed, desired_nodes):
            message = f"Job completed, {succeeded} pods succeeded, {failed} pods failed"
            work.status["phase"] = "completed"
            requeue = _finish(work, observed, "Complete", message, now)
            work.events.append(
                Event(
                    "JobComplete",
                    f"Job {namespace}/{name} is completed, {succeeded} pods succeeded, {failed} pods failed",
                )
            )
            reason = "job completed"
    work.status.update(active=active, failed=failed)
    return _done(observed, work, requeue, reason)


def _create(
    work: _Pass, observed: ObservedBroadcastJob, free_nodes: list[str], active: int, desired: int
) -> int:
    """``reconcilePods``: pods on the first free nodes, up to parallelism."""
    limit = parallelism_of(observed.job.spec.parallelism, desired)
    if active > limit:
        work.warn("TooManyActivePods", "Number of active pods exceed parallelism limit")
        return active
    for node in free_nodes[: max(0, min(limit - active, len(free_nodes)))]:
        work.creates.append(CreatePod(node, jobpods.new_pod(observed.job.spec.template, observed.raw, node)))
    return active + len(work.creates)


def _complete(observed: ObservedBroadcastJob, desired_nodes: dict[str, JsonObject | None]) -> bool:
    """``isJobComplete``: Always, some desired node, and each desired node's pod has finished."""
    if observed.job.spec.completion_policy.type == "Never" or not desired_nodes:
        return False
    return all(pod is not None and not jobpods.is_active(pod) for pod in desired_nodes.values())


def _done(observed: ObservedBroadcastJob, work: _Pass, requeue: float | None, reason: str) -> JobPlan:
    status = work.status if work.status != observed.status else None
    return JobPlan(
        delete_pods=tuple(work.deletes),
        create_pods=tuple(work.creates),
        events=tuple(work.events),
        status=status,
        requeue_after=requeue,
        reason=reason,
    )
