"""The AdvancedCronJob worker shell, registered with the runtime as worker type ``advancedcronjob``.

``observe`` reads the cron job (``apps.kruise.io/v1beta1``) and the children of its template's
kind in its namespace (batch/v1 Jobs, run by kube-controller-manager, or BroadcastJobs, run by
the BroadcastJob worker), keeping those whose controller is an AdvancedCronJob of this name.
``act`` writes the status first (kruise's order), deletes children with background propagation
(a Job's pods go with it), then creates the run's child; a child of that name already there is
the same run (its name is the schedule time), so AlreadyExists is success. The next start time
comes back as ``requeue_after``: a durable JetStream schedule that holds no delivery slot.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import orjson
from pydantic import ValidationError

from flotilla.runtime.errors import AlreadyExists, NotFound
from flotilla.runtime.kube import KubeClient, Resource
from schemas.bus.envelope import KeyParts
from schemas.kruise.advancedcronjob import AdvancedCronJob
from workers.advancedcronjob.observed import ObservedCronJob, template_kind
from workers.advancedcronjob.planner import CronPlan, DeleteChild
from workers.advancedcronjob.planner import plan as plan_cron
from workers.runtime import actions as runtime
from workers.runtime.contract import Plan, TerminalError, WorkerType
from workers.runtime.observe import StateReader
from workers.runtime.snapshot import KeyedSnapshot, NoConfig
from workers.runtime.specrefusal import refusal_plan

ADVANCED_CRON_JOBS = Resource("apps.kruise.io", "v1beta1", "advancedcronjobs", "AdvancedCronJob")
JOBS = Resource("batch", "v1", "jobs", "Job")
BROADCAST_JOBS = Resource("apps.kruise.io", "v1beta1", "broadcastjobs", "BroadcastJob")
FIELD_MANAGER = "flotilla-advancedcronjob"

log = logging.getLogger("flotilla.worker.advancedcronjob")


CronSnapshot = KeyedSnapshot[ObservedCronJob]
Config = NoConfig


@dataclass(frozen=True)
class CronWorkerPlan(Plan):
    decided: CronPlan | None = None
    observed: ObservedCronJob | None = None


def _controlled_by(child: dict[str, object], name: str) -> bool:
    meta = child.get("metadata")
    refs = meta.get("ownerReferences") if isinstance(meta, dict) else None
    for ref in refs if isinstance(refs, list) else ():
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref.get("kind") == "AdvancedCronJob" and ref.get("name") == name
    return False


def child_resource(kind: str) -> Resource:
    return JOBS if kind == "Job" else BROADCAST_JOBS


async def observe(read: StateReader, key: KeyParts) -> CronSnapshot:
    raw = await read.get(ADVANCED_CRON_JOBS, key.namespace, key.name)
    if raw is None:
        return CronSnapshot(key.namespace, key.name, None)
    try:
        cron = AdvancedCronJob.from_wire(raw)
    except ValidationError as err:
        raise TerminalError(f"AdvancedCronJob {key.namespace}/{key.name} cannot be read: {err}") from err
    kind = template_kind(cron)
    children: list[dict[str, object]] = []
    if kind != "ImageListPullJob":
        listed = await read.list(child_resource(kind), key.namespace)
        resource = child_resource(kind)
        children = [
            {"apiVersion": resource.api_version, "kind": kind, **c}
            for c in listed
            if _controlled_by(c, key.name)
        ]
    return CronSnapshot(key.namespace, key.name, ObservedCronJob(raw, cron, tuple(children)))


def plan(snapshot: CronSnapshot, _config: Config, now: float) -> Plan:
    if snapshot.observed is None:
        return CronWorkerPlan(reason="AdvancedCronJob is gone")
    raw = snapshot.observed.raw
    refused = refusal_plan("AdvancedCronJob", ADVANCED_CRON_JOBS, raw, now, has_conditions=False)
    if refused is not None:
        return refused
    decided = plan_cron(snapshot.observed, now)
    return CronWorkerPlan(
        actions=_actions(snapshot.observed, decided),
        requeue_after=decided.requeue_after,
        reason=decided.reason,
        decided=decided,
        observed=snapshot.observed,
    )


def _actions(observed: ObservedCronJob, decided: CronPlan) -> tuple[runtime.Action, ...]:
    """The runtime's view of the plan (counted and logged); ``act`` performs it."""
    resource = child_resource(observed.kind)
    out: list[runtime.Action] = []
    if decided.status is not None:
        body = {**observed.raw, "status": decided.status}
        out.append(runtime.UpdateStatus(ADVANCED_CRON_JOBS, observed.namespace, observed.name, body))
    out.extend(
        runtime.DeleteObject(resource, observed.namespace, d.name, d.uid) for d in decided.delete_children
    )
    if decided.create_child is not None:
        out.append(runtime.CreateObject(resource, observed.namespace, decided.create_child))
    return tuple(out)


async def _delete_background(api: KubeClient, resource: Resource, namespace: str, child: DeleteChild) -> None:
    options = {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": "Background",
        "preconditions": {"uid": child.uid},
    }
    with contextlib.suppress(NotFound):
        await api.request(
            "DELETE",
            resource.path(namespace, child.name),
            body=orjson.dumps(options),
            content_type="application/json",
        )
    log.info("deleted %s %s/%s (%s)", resource.kind, namespace, child.name, child.why)


async def act(api: KubeClient, _snapshot: CronSnapshot, plan: Plan) -> None:
    if not isinstance(plan, CronWorkerPlan) or plan.decided is None or plan.observed is None:
        await runtime.execute_plan(api, plan.actions, FIELD_MANAGER)
        return
    decided, observed = plan.decided, plan.observed
    resource = child_resource(observed.kind)
    if decided.status is not None:
        body = {**observed.raw, "status": decided.status}
        await api.replace(ADVANCED_CRON_JOBS.path(observed.namespace, observed.name, "status"), body)
    for child in decided.delete_children:
        await _delete_background(api, resource, observed.namespace, child)
    if decided.create_child is not None:
        with contextlib.suppress(AlreadyExists):
            await api.create(
                resource.path(observed.namespace), decided.create_child, {"fieldManager": FIELD_MANAGER}
            )
            log.info("created %s %s", resource.kind, decided.create_child["metadata"]["name"])


WORKER: WorkerType[CronSnapshot, Config] = WorkerType(
    name="advancedcronjob",
    kind="AdvancedCronJob",
    resource=ADVANCED_CRON_JOBS,
    observe=observe,
    plan=plan,
    config=Config(),
    act=act,
    has_status=True,
    field_manager=FIELD_MANAGER,
)
