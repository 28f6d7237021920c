"""The BroadcastJob worker shell, registered with the runtime as worker type ``broadcastjob``.

``observe`` reads the job (``apps.kruise.io/v1beta1``, kruise's storage version), the pods
carrying its labels and every node, concurrently, through the runtime's read port. ``plan``
adapts :func:`workers.broadcastjob.planner.plan` to the runtime contract; ``act`` deletes pods
(concurrently), creates pods in kruise's slow-start batches (1, 2, 4, ... at once; a failed batch
stops the rest) with a ``SuccessfulCreate`` / ``FailedCreate`` Event each, then emits the plan's
Events and writes the status last (PUT with the read resourceVersion: a conflict re-plans).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from pydantic import ValidationError

from flotilla.runtime.errors import KubeError, NotFound
from flotilla.runtime.kube import PODS, KubeClient, Resource
from schemas.bus.envelope import KeyParts
from schemas.kruise.broadcastjob import BroadcastJob
from workers.broadcastjob import jobpods
from workers.broadcastjob.observed import ObservedBroadcastJob
from workers.broadcastjob.planner import CreatePod, JobPlan
from workers.broadcastjob.planner import plan as plan_job
from workers.podmechanics.slowstart import slow_start_batches
from workers.runtime import actions as runtime
from workers.runtime.contract import Plan, TerminalError, WorkerType
from workers.runtime.events import ObjectRef
from workers.runtime.observe import StateReader
from workers.runtime.snapshot import KeyedSnapshot, NoConfig
from workers.runtime.specrefusal import refusal_plan

BROADCASTJOBS = Resource("apps.kruise.io", "v1beta1", "broadcastjobs", "BroadcastJob")
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
FIELD_MANAGER = "flotilla-broadcastjob"
#: kube-controller-manager's ``SlowStartInitialBatchSize``.
SLOW_START_INITIAL_BATCH = 1

log = logging.getLogger("flotilla.worker.broadcastjob")


BroadcastJobSnapshot = KeyedSnapshot[ObservedBroadcastJob]
Config = NoConfig


@dataclass(frozen=True)
class BroadcastJobPlan(Plan):
    """A runtime plan (deletes, Events, status in ``actions``) plus the pods to create."""

    creates: tuple[CreatePod, ...] = ()
    involved: ObjectRef | None = None
    namespace: str = ""


async def observe(read: StateReader, key: KeyParts) -> BroadcastJobSnapshot:
    raw = await read.get(BROADCASTJOBS, key.namespace, key.name)
    if raw is None:
        return BroadcastJobSnapshot(key.namespace, key.name, None)
    try:
        job = BroadcastJob.from_wire(raw)
    except ValidationError as err:
        raise TerminalError(f"BroadcastJob {key.namespace}/{key.name} cannot be read: {err}") from err
    uid = str((raw.get("metadata") or {}).get("uid", ""))
    selector = ",".join(f"{k}={v}" for k, v in jobpods.job_labels(key.name, uid).items())
    pods, nodes = await asyncio.gather(
        read.list(PODS, key.namespace, label_selector=selector), read.list(NODES, "")
    )
    observed = ObservedBroadcastJob(raw, job, tuple(pods), tuple(nodes))
    return BroadcastJobSnapshot(key.namespace, key.name, observed)


def lower(observed: ObservedBroadcastJob, decided: JobPlan) -> BroadcastJobPlan:
    """The planner's decisions as runtime actions (pod creations stay records for ``act``)."""
    ref = ObjectRef.of(observed.raw)
    actions: list[runtime.Action] = [
        runtime.DeleteObject(PODS, observed.namespace, d.name, uid=d.uid) for d in decided.delete_pods
    ]
    if decided.delete_job:
        gone = runtime.DeleteObject(BROADCASTJOBS, observed.namespace, observed.name, uid=observed.uid)
        actions.append(gone)
    actions.extend(runtime.EmitEvent(ref, e.reason, e.message, e.type) for e in decided.events)
    if decided.status is not None:
        body = {**observed.raw, "status": decided.status}
        actions.append(runtime.UpdateStatus(BROADCASTJOBS, observed.namespace, observed.name, body))
    return BroadcastJobPlan(
        tuple(actions), decided.requeue_after, decided.reason, decided.create_pods, ref, observed.namespace
    )


def plan(snapshot: BroadcastJobSnapshot, _config: Config, now: float) -> Plan:
    if snapshot.observed is None:
        return BroadcastJobPlan(reason="BroadcastJob is gone")
    refused = refusal_plan("BroadcastJob", BROADCASTJOBS, snapshot.observed.raw, now, has_conditions=True)
    if refused is not None:
        return refused
    try:
        decided = plan_job(snapshot.observed, now)
    except ValueError as err:
        raise TerminalError(f"BroadcastJob {snapshot.namespace}/{snapshot.name}: {err}") from err
    return lower(snapshot.observed, decided)


async def _event(api: KubeClient, ref: ObjectRef, reason: str, message: str, kind: str = "Normal") -> None:
    with contextlib.suppress(KubeError):
        await runtime.execute_action(api, runtime.EmitEvent(ref, reason, message, kind), FIELD_MANAGER)


async def _create(api: KubeClient, plan: BroadcastJobPlan, create: CreatePod) -> None:
    assert plan.involved is not None
    try:
        params = {"fieldManager": FIELD_MANAGER}
        made = await api.create(PODS.path(plan.namespace), create.body, params=params)
    except KubeError as err:
        await _event(api, plan.involved, "FailedCreate", f"Error creating: {err}", "Warning")
        raise
    name = (made.get("metadata") or {}).get("name", "")
    log.info("created pod %s on node %s", name, create.node)
    await _event(api, plan.involved, "SuccessfulCreate", f"Created pod: {name}")


async def _delete(api: KubeClient, action: runtime.DeleteObject) -> None:
    with contextlib.suppress(NotFound):
        await runtime.execute_action(api, action, FIELD_MANAGER)


def _raise_first(results: list[BaseException | None]) -> None:
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def act(api: KubeClient, _snapshot: BroadcastJobSnapshot, plan: Plan) -> None:
    """Deletes (concurrent), creates (slow start), Events, status last; raise at the first failure."""
    if not isinstance(plan, BroadcastJobPlan):
        await runtime.execute_plan(api, plan.actions, FIELD_MANAGER)
        return
    deletes = [a for a in plan.actions if isinstance(a, runtime.DeleteObject) and a.resource == PODS]
    _raise_first(await asyncio.gather(*(_delete(api, d) for d in deletes), return_exceptions=True))
    for chunk in slow_start_batches(plan.creates, SLOW_START_INITIAL_BATCH):
        _raise_first(await asyncio.gather(*(_create(api, plan, c) for c in chunk), return_exceptions=True))
    rest = tuple(a for a in plan.actions if a not in deletes)
    await runtime.execute_plan(api, rest, FIELD_MANAGER)


WORKER: WorkerType[BroadcastJobSnapshot, Config] = WorkerType(
    name="broadcastjob",
    kind="BroadcastJob",
    resource=BROADCASTJOBS,
    observe=observe,
    plan=plan,
    config=Config(),
    act=act,
    has_status=True,
    field_manager=FIELD_MANAGER,
)
