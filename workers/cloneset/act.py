"""Executing a CloneSet plan: the worker's ``act``.

Steps run in order and the first failure stops the plan: a slow-start batch's creations run
concurrently, a run of writes to distinct pods runs concurrently (bounded; one pod's writes in
plan order), every outcome gets its Event (failures carry the API error), and when the API
server refuses a pod write the plan's status is still written, with kruise's FailedScale /
FailedUpdate condition. The error is then re-raised for the runtime's result contract
(a stale observation, ``is_stale_observation``: re-plan, with no Event or condition; other:
backoff, dead letter). Called by the runtime through ``WORKER``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from flotilla.runtime.errors import AlreadyExists, KubeError, NotFound
from flotilla.runtime.kube import KubeClient
from workers.cloneset import actions as steps
from workers.cloneset.lowering import CLONESETS, PVCS, CloneSetPlan, CloneSetSnapshot, event_action, lower
from workers.cloneset.status import FAILED_SCALE, FAILED_UPDATE
from workers.podmechanics.kube_json import format_time, thaw_object
from workers.podunavailablebudget.admission import PubOperation
from workers.podunavailablebudget.admit import admit
from workers.runtime import actions as runtime
from workers.runtime.contract import Plan, is_stale_observation

FIELD_MANAGER = "flotilla-cloneset"
#: Writes to distinct pods in flight at once (one pod's writes always go in plan order).
POD_WRITE_CONCURRENCY = 16

log = logging.getLogger("flotilla.worker.cloneset.act")


def _failure_event(step: steps.Action) -> steps.EventRecord | None:
    return getattr(step, "failure_event", None)


async def _run(api: KubeClient, snapshot: CloneSetSnapshot, step: steps.Action) -> None:
    for action in lower(snapshot, step):
        try:
            await runtime.execute_action(api, action, FIELD_MANAGER)
        except NotFound:
            if isinstance(action, runtime.DeleteObject):
                continue  # already gone
            raise
        except AlreadyExists:
            if isinstance(action, runtime.CreateObject) and action.resource == PVCS:
                continue  # a PVC left by an earlier pod with this id: reuse it
            raise


async def _create_one(api: KubeClient, snapshot: CloneSetSnapshot, new: steps.NewPod) -> None:
    try:
        await _run(api, snapshot, steps.CreatePods((new,)))
    except KubeError as err:
        if new.failure_event is not None:
            await _quiet_event(api, snapshot, new.failure_event, str(err))
        raise


async def _quiet_event(
    api: KubeClient, snapshot: CloneSetSnapshot, record: steps.EventRecord, error: str
) -> None:
    with contextlib.suppress(KubeError):
        await runtime.execute_action(api, event_action(snapshot, record, error), FIELD_MANAGER)


async def _mark_failed(
    api: KubeClient, snapshot: CloneSetSnapshot, plan: CloneSetPlan, step: steps.Action, error: str
) -> None:
    """The plan's status with kruise's FailedScale / FailedUpdate condition, best effort.

    As kruise does, status is written even when a write failed: the counts stay current and the
    condition says what the API server refused. The runtime then retries the key.
    """
    scale = isinstance(step, steps.CreatePods | steps.DeletePod)
    condition: dict[str, object] = {
        "type": FAILED_SCALE if scale else FAILED_UPDATE,
        "status": "True",
        "reason": "ApiError",
        "message": error[:1024],
        "lastTransitionTime": format_time(datetime.now(UTC)),
    }
    planned = [s.status for s in plan.steps if isinstance(s, steps.UpdateStatus)]
    observed = snapshot.observed
    status = thaw_object(planned[0]) if planned else {}
    if "conditions" in status:
        current = status["conditions"] if isinstance(status["conditions"], list) else []
    else:
        current = [c.to_wire() for c in observed.cloneset.status.conditions or ()] if observed else []
    status["conditions"] = [c for c in current if c.get("type") != condition["type"]] + [condition]
    with contextlib.suppress(KubeError):
        await api.patch(
            CLONESETS.path(snapshot.namespace, snapshot.name, "status"),
            {"status": status},
            "merge",
            FIELD_MANAGER,
        )


async def _run_best_effort(api: KubeClient, snapshot: CloneSetSnapshot, step: steps.Action) -> None:
    """A pre-download step: its failure is logged (and has its Event), the plan goes on, as in kruise."""
    where = f"{snapshot.namespace}/{snapshot.name}"
    try:
        await _run(api, snapshot, step)
    except AlreadyExists:
        if not isinstance(step, steps.CreateImagePullJob):
            raise
        log.debug("CloneSet %s: ImagePullJob already exists: %s", where, step)  # deterministic name: done
    except KubeError as err:
        log.warning("CloneSet %s: pre-download step %s failed: %s", where, type(step).__name__, err)
        failure = _failure_event(step)
        if failure is not None:
            await _quiet_event(api, snapshot, failure, str(err))
    else:
        if isinstance(step, steps.MarkRevision):
            log.info("CloneSet %s: revision %s marked %s (%s)", where, step.name, step.label, step.why)


async def _run_step(
    api: KubeClient, snapshot: CloneSetSnapshot, plan: CloneSetPlan, step: steps.Action
) -> None:
    if isinstance(step, steps.BEST_EFFORT):
        await _run_best_effort(api, snapshot, step)
        return
    try:
        if isinstance(step, steps.CreatePods):
            results = await asyncio.gather(
                *(_create_one(api, snapshot, new) for new in step.pods), return_exceptions=True
            )
            _raise_first(results)
        else:
            await _run(api, snapshot, step)
    except KubeError as err:
        if is_stale_observation(err):
            raise  # stale snapshot (409, or the pod is gone): the runtime re-plans, nothing failed
        failure = _failure_event(step)
        if failure is not None:
            await _quiet_event(api, snapshot, failure, str(err))
        if isinstance(step, steps.CreatePods | steps.DeletePod | steps.PatchPod):
            await _mark_failed(api, snapshot, plan, step, str(err))
        raise


def _raise_first(results: Sequence[object]) -> None:
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]


async def _budget_allows(api: KubeClient, snapshot: CloneSetSnapshot, check: steps.CheckBudget) -> bool:
    """Spend the pod's PodUnavailableBudget for an update; refused: its writes wait (the plan requeues)."""
    decision = await admit(api, PubOperation.UPDATE, check.pod, component=FIELD_MANAGER)
    if not decision.allowed:
        log.info(
            "CloneSet %s/%s: update of pod %s waits: %s",
            snapshot.namespace,
            snapshot.name,
            check.name,
            decision.message or "refused by its PodUnavailableBudget",
        )
    return decision.allowed


_POD_STEPS = (steps.PatchPod, steps.DeletePod, steps.CheckBudget)


def _segments(plan_steps: tuple[steps.Action, ...]) -> list[list[steps.Action]]:
    """Runs of consecutive pod steps (PatchPod / DeletePod / CheckBudget) become one segment; other
    steps stand alone."""
    segments: list[list[steps.Action]] = []
    for step in plan_steps:
        pod_write = isinstance(step, _POD_STEPS)
        if pod_write and segments and isinstance(segments[-1][0], _POD_STEPS):
            segments[-1].append(step)
        else:
            segments.append([step])
    return segments


async def _run_pod_writes(
    api: KubeClient, snapshot: CloneSetSnapshot, plan: CloneSetPlan, writes: list[steps.Action]
) -> None:
    """Writes to different pods concurrently (bounded); one pod's writes in plan order, skipped from a
    refused budget check on."""
    chains: dict[str, list[steps.Action]] = {}
    for write in writes:
        if isinstance(write, _POD_STEPS):
            chains.setdefault(write.name, []).append(write)
    gate = asyncio.Semaphore(POD_WRITE_CONCURRENCY)

    async def run_chain(chain: list[steps.Action]) -> None:
        async with gate:
            for step in chain:
                if isinstance(step, steps.CheckBudget):
                    if not await _budget_allows(api, snapshot, step):
                        return
                    continue
                await _run_step(api, snapshot, plan, step)

    _raise_first(await asyncio.gather(*(run_chain(c) for c in chains.values()), return_exceptions=True))


async def act(api: KubeClient, snapshot: CloneSetSnapshot, plan: Plan) -> None:
    """Run the plan's steps in order; stop (and raise) at the first failed step or batch."""
    if not isinstance(plan, CloneSetPlan):
        await runtime.execute_plan(api, plan.actions, FIELD_MANAGER)
        return
    for segment in _segments(plan.steps):
        if len(segment) > 1 or isinstance(segment[0], steps.CheckBudget):
            await _run_pod_writes(api, snapshot, plan, segment)
        else:
            await _run_step(api, snapshot, plan, segment[0])
