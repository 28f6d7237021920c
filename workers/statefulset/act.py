"""Executing an Advanced StatefulSet plan: the worker's ``act``.

Actions run in plan order, the set's status patch last; the first failure stops the plan, after its
Warning Event (kruise's ``FailedCreate`` / ``FailedDelete`` / ``FailedUpdate`` with the API
error) is emitted, and the error is re-raised for the runtime's result contract (Conflict:
re-plan from fresh state; other: backoff, dead letter). A pod already gone counts as deleted;
a PVC that already exists is kept (it is the ordinal's PVC, created by an earlier pass).
Called by the runtime through ``WORKER``.
"""

from __future__ import annotations

import contextlib
import dataclasses

from flotilla.runtime.errors import AlreadyExists, KubeError, NotFound
from flotilla.runtime.kube import KubeClient
from workers.runtime import actions as runtime
from workers.runtime.contract import Plan
from workers.statefulset.builder import PVCS, STATEFULSETS, StatefulSetPlan

FIELD_MANAGER = "flotilla-statefulset"


async def _emit_failure(api: KubeClient, event: runtime.EmitEvent, error: str) -> None:
    with contextlib.suppress(KubeError):
        failed = dataclasses.replace(event, message=event.message.replace("{error}", error))
        await runtime.execute_action(api, failed, FIELD_MANAGER)


async def act(api: KubeClient, snapshot: object, plan: Plan) -> None:
    del snapshot
    failures: dict[int, list[runtime.EmitEvent]] = {}
    for index, event in plan.failure_events if isinstance(plan, StatefulSetPlan) else ():
        failures.setdefault(index, []).append(event)
    indexed = list(enumerate(plan.actions))
    # the set's own status goes last; a pod's status patch (InPlaceUpdateReady False before its
    # in-place update, with the pod's resourceVersion) keeps its place in the plan
    status = [
        (i, a)
        for i, a in indexed
        if isinstance(a, runtime.PatchObject) and a.subresource == "status" and a.resource == STATEFULSETS
    ]
    ordered = [(i, a) for i, a in indexed if (i, a) not in status] + status
    for index, action in ordered:
        try:
            await runtime.execute_action(api, action, FIELD_MANAGER)
        except NotFound:
            if isinstance(action, runtime.DeleteObject):
                continue
            raise
        except AlreadyExists as err:
            if isinstance(action, runtime.CreateObject) and action.resource == PVCS:
                continue
            for event in failures.get(index, ()):
                await _emit_failure(api, event, str(err))
            raise
        except KubeError as err:
            for event in failures.get(index, ()):
                await _emit_failure(api, event, str(err))
            raise
