"""Executing an Advanced StatefulSet plan: the worker's ``act``.

Writes run in plan order, the set's status patch last, then the plan's Events (kruise's recorder
sends Events asynchronously, so its status write follows its pod writes at once; Flotilla's
status patch no longer waits for an Event request per pod); the first failure stops the plan, after its
Warning Event (kruise's ``FailedCreate`` / ``FailedDelete`` / ``FailedUpdate`` with the API
error) is emitted and the set's status the planner attached to that action for its failure
(kruise's ``FailedCreatePod`` / ``FailedUpdatePod`` condition, ``failurestatus``) is written
unless the set's status (``snapshot``) already says so,
and the error is re-raised for the runtime's result contract (Conflict:
re-plan from fresh state; other: backoff, dead letter). A best-effort action (image pre-download,
``predownload.run_best_effort``) logs its failure and the plan goes on. A pod already gone counts as deleted;
a PVC that already exists is kept (it is the ordinal's PVC, created by an earlier pass).
Called by the runtime through ``WORKER``.
"""

from __future__ import annotations

import contextlib
import dataclasses

from flotilla.runtime.errors import AlreadyExists, KubeError, NotFound
from flotilla.runtime.kube import KubeClient
from workers.podmechanics.kube_json import JsonObject, mapping
from workers.runtime import actions as runtime
from workers.runtime.contract import Plan
from workers.statefulset.builder import PVCS, STATEFULSETS, BestEffort, StatefulSetPlan
from workers.statefulset.failurestatus import filled, news
from workers.statefulset.observed import ObservedStatefulSet
from workers.statefulset.predownload import run_best_effort

FIELD_MANAGER = "flotilla-statefulset"


async def _emit_failure(api: KubeClient, event: runtime.EmitEvent, error: str) -> None:
    with contextlib.suppress(KubeError):
        failed = dataclasses.replace(event, message=event.message.replace("{error}", error))
        await runtime.execute_action(api, failed, FIELD_MANAGER)


async def _report_failure(
    api: KubeClient,
    events: list[runtime.EmitEvent],
    status: runtime.PatchObject | None,
    stored: JsonObject,
    error: str,
) -> None:
    for event in events:
        await _emit_failure(api, event, error)
    if status is not None and news(written := filled(status, error), stored):
        with contextlib.suppress(KubeError):
            await runtime.execute_action(api, written, FIELD_MANAGER)


async def act(api: KubeClient, snapshot: object, plan: Plan) -> None:
    stored: JsonObject = mapping(snapshot.raw, "status") if isinstance(snapshot, ObservedStatefulSet) else {}
    failures: dict[int, list[runtime.EmitEvent]] = {}
    statuses: dict[int, runtime.PatchObject] = {}
    best_effort: dict[int, BestEffort] = {}
    if isinstance(plan, StatefulSetPlan):
        for index, event in plan.failure_events:
            failures.setdefault(index, []).append(event)
        statuses = dict(plan.failure_status)
        best_effort = dict(plan.best_effort)
    indexed = list(enumerate(plan.actions))
    # the set's own status goes last; a pod's status patch (InPlaceUpdateReady False before its
    # in-place update, with the pod's resourceVersion) keeps its place in the plan
    status = [
        (i, a)
        for i, a in indexed
        if isinstance(a, runtime.PatchObject) and a.subresource == "status" and a.resource == STATEFULSETS
    ]
    ordered = [(i, a) for i, a in indexed if (i, a) not in status] + status
    # Events go after the writes, as kruise's recorder sends them (asynchronously): the set's
    # status then follows its pod writes by one request, not by one per Event
    events: list[runtime.EmitEvent] = []
    for index, action in ordered:
        if isinstance(action, runtime.EmitEvent):
            events.append(action)
            continue
        if index in best_effort:  # image pre-download: its failure does not stop the plan
            events.extend(await run_best_effort(api, action, best_effort[index], FIELD_MANAGER))
            continue
        try:
            await runtime.execute_action(api, action, FIELD_MANAGER)
        except NotFound:
            if isinstance(action, runtime.DeleteObject):
                continue
            await _emit_all(api, events)
            raise
        except AlreadyExists as err:
            if isinstance(action, runtime.CreateObject) and action.resource == PVCS:
                continue
            # kruise sinks AlreadyExists on a pod create without an Event, but its pass fails
            await _report_failure(api, [], statuses.get(index), stored, str(err))
            await _emit_all(api, events)
            raise
        except KubeError as err:
            await _report_failure(api, failures.get(index, []), statuses.get(index), stored, str(err))
            await _emit_all(api, events)
            raise
    await _emit_all(api, events)


async def _emit_all(api: KubeClient, events: list[runtime.EmitEvent]) -> None:
    """The Events of the writes that were made (best effort, like kruise's recorder)."""
    for event in events:
        with contextlib.suppress(KubeError):
            await runtime.execute_action(api, event, FIELD_MANAGER)
