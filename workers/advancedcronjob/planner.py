"""The AdvancedCronJob planner: one reconcile of kruise v1.9.1's AdvancedCronJob controller, as data.

Pure: ``plan(observed, now)`` takes the cron job, its children (batch/v1 Jobs for
``jobTemplate``, BroadcastJobs for ``broadcastJobTemplate``) and the time, and returns a
:class:`CronPlan`, walking kruise's ``reconcileJob`` / ``reconcileBroadcastJob``:

1. status: ``type``, ``active`` (references to unfinished children), ``lastScheduleTime`` (the
   latest ``apps.kruise.io/scheduled-at`` among the children);
2. history: the oldest finished children beyond ``successfulJobsHistoryLimit`` /
   ``failedJobsHistoryLimit`` (by ``status.startTime``) are deleted;
3. ``paused``: nothing more, no timer;
4. the latest missed start time (since the last schedule, else creation, no further back than
   ``startingDeadlineSeconds``; more than 100 missed is an error) and the next one, which becomes
   ``requeue_after`` (durable in Flotilla, so a restarted worker still fires on time);
5. a missed run past its starting deadline is skipped; ``Forbid`` skips it while a child is
   active; ``Replace`` deletes the active children; then the child ``<name>-<unix time>`` is
   created (a deterministic name: a second attempt of the same run finds it and stops).

kruise writes no Event for any of this; neither does Flotilla.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from workers.advancedcronjob.observed import ObservedCronJob
from workers.advancedcronjob.schedule import ScheduleError, missed_and_next, parse

JsonObject = dict[str, Any]

SCHEDULED_AT = "apps.kruise.io/scheduled-at"
API_VERSION = "apps.kruise.io/v1beta1"


@dataclass(frozen=True)
class DeleteChild:
    name: str
    uid: str
    why: str


@dataclass(frozen=True)
class CronPlan:
    status: JsonObject | None = None
    """The whole new status, or None when unchanged (written first, as kruise does)."""
    delete_children: tuple[DeleteChild, ...] = ()
    create_child: JsonObject | None = None
    requeue_after: float | None = None
    reason: str = ""


def parse_time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def rfc3339_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339(moment: datetime) -> str:
    """Go's ``time.RFC3339`` of a time in its own zone (``Z`` for UTC, else ``+08:00``...)."""
    text = moment.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def finished_as(child: JsonObject) -> str:
    """``Complete``, ``Failed``, or ``""`` while it runs."""
    for c in (child.get("status") or {}).get("conditions") or ():
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return str(c["type"])
    return ""


def _meta(obj: JsonObject) -> JsonObject:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def reference(child: JsonObject) -> JsonObject:
    """``ref.GetReference``: the child as a core/v1 ObjectReference."""
    meta = _meta(child)
    return {
        "kind": child.get("kind"),
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "apiVersion": child.get("apiVersion"),
        "resourceVersion": meta.get("resourceVersion"),
    }


def _started(child: JsonObject) -> tuple[int, str]:
    start = (child.get("status") or {}).get("startTime")
    return (1, str(start)) if start else (0, "")


def _prune(children: list[JsonObject], limit: int | None, why: str) -> list[DeleteChild]:
    if limit is None:
        return []
    ordered = sorted(children, key=_started)
    extra = max(0, len(ordered) - limit)
    return [DeleteChild(str(_meta(c).get("name")), str(_meta(c).get("uid")), why) for c in ordered[:extra]]


def new_child(observed: ObservedCronJob, scheduled: datetime) -> JsonObject:
    """``constructJobForCronJob`` / ``constructBrJobForCronJob``."""
    template = observed.template
    meta = template.get("metadata") or {}
    annotations = {**(meta.get("annotations") or {}), SCHEDULED_AT: rfc3339(scheduled)}
    api_version, kind = (
        ("batch/v1", "Job") if observed.kind == "Job" else ("apps.kruise.io/v1beta1", "BroadcastJob")
    )
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": f"{observed.name}-{int(scheduled.timestamp())}",
            "namespace": observed.namespace,
            "labels": dict(meta.get("labels") or {}),
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "AdvancedCronJob",
                    "name": observed.name,
                    "uid": observed.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def plan(observed: ObservedCronJob, now_ts: float) -> CronPlan:
    spec = observed.cron.spec
    status = dict(observed.status)
    status["type"] = observed.kind
    if observed.kind == "ImageListPullJob":
        changed = status if status != observed.status else None
        return CronPlan(status=changed, reason="imageListPullJobTemplate is not implemented by Flotilla")

    active: list[JsonObject] = []
    failed: list[JsonObject] = []
    succeeded: list[JsonObject] = []
    latest: datetime | None = None
    for child in observed.children:
        outcome = finished_as(child)
        (active if not outcome else failed if outcome == "Failed" else succeeded).append(child)
        scheduled = parse_time((_meta(child).get("annotations") or {}).get(SCHEDULED_AT))
        if scheduled is not None and (latest is None or scheduled > latest):
            latest = scheduled
    if latest is not None:
        status["lastScheduleTime"] = rfc3339_utc(latest)
    else:
        status.pop("lastScheduleTime", None)
    if active:
        status["active"] = [reference(c) for c in active]
    else:
        status.pop("active", None)
    new_status = status if status != observed.status else None
    deletes = [
        *_prune(failed, spec.failed_jobs_history_limit, "failedJobsHistoryLimit"),
        *_prune(succeeded, spec.successful_jobs_history_limit, "successfulJobsHistoryLimit"),
    ]
    counts = f"{len(active)} active, {len(succeeded)} succeeded, {len(failed)} failed"
    if spec.paused:
        return CronPlan(new_status, tuple(deletes), reason=f"paused ({counts})")

    now = datetime.fromtimestamp(now_ts, UTC)
    created = parse_time(_meta(observed.raw).get("creationTimestamp")) or now
    try:
        schedule = parse(spec.schedule, spec.time_zone)
        missed, upcoming = missed_and_next(schedule, now, latest, created, spec.starting_deadline_seconds)
    except ScheduleError as err:
        return CronPlan(new_status, tuple(deletes), reason=f"unable to figure out the schedule: {err}")
    wait = max(0.0, upcoming.timestamp() - now_ts)
    if missed is None:
        return CronPlan(new_status, tuple(deletes), None, wait, f"next run at {rfc3339(upcoming)} ({counts})")
    deadline = spec.starting_deadline_seconds
    if deadline is not None and missed.timestamp() + deadline < now_ts:
        return CronPlan(
            new_status, tuple(deletes), None, wait, f"missed the starting deadline of {rfc3339(missed)}"
        )
    policy = spec.concurrency_policy or "Allow"
    if policy == "Forbid" and active:
        return CronPlan(new_status, tuple(deletes), None, wait, f"Forbid: {len(active)} active, run skipped")
    if policy == "Replace":
        deletes.extend(
            DeleteChild(str(_meta(c).get("name")), str(_meta(c).get("uid")), "Replace") for c in active
        )
    child = new_child(observed, missed)
    return CronPlan(
        new_status, tuple(deletes), child, wait, f"run {rfc3339(missed)}: {child['metadata']['name']}"
    )
