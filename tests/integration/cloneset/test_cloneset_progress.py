"""``spec.progressDeadlineSeconds`` and the Progressing condition on the real control plane.

What kruise v1.9.1's e2e specs wait for (``test/e2e/apps/v1alpha1/cloneset.go``): the condition
reads ``CloneSetAvailable`` once every pod is updated and available, ``CloneSetPaused`` while
paused (and not all updated), ``ProgressDeadlineExceeded`` (status False, message naming the
update revision) when a pod that can never run outlives the deadline — with no other event to
wake the worker, so the worker must come back by itself — and it goes away with the field.
"""

from __future__ import annotations

import asyncio

import pytest

from flotilla.runtime.errors import KubeError
from flotilla.runtime.kube import JsonObject
from tests.integration.cloneset.conftest import Stack
from tests.integration.cloneset.test_cloneset_stack import (
    cloneset,
    eventually,
    manifest,
    patch_spec,
    status_is,
)
from workers.cloneset.lowering import CLONESETS


def _progressing(body: JsonObject) -> dict[str, str] | None:
    """The condition without its times, as kruise's ``GetCloneSetProgressingConditionWithoutTime``."""
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition["type"] == "Progressing":
            return {k: condition.get(k, "") for k in ("status", "reason", "message")}
    return None


async def _condition_is(stack: Stack, expected: dict[str, str] | None) -> bool:
    return _progressing(await cloneset(stack)) == expected


AVAILABLE = {"status": "True", "reason": "CloneSetAvailable", "message": "CloneSet is available"}
UPDATED = {"status": "True", "reason": "CloneSetUpdated", "message": "CloneSet is progressing"}
PAUSED = {"status": "True", "reason": "CloneSetPaused", "message": "CloneSet is paused"}


async def test_available_paused_and_removed_with_the_field(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    body = manifest(stack.namespace, 2)
    body["spec"]["progressDeadlineSeconds"] = 600
    created = await stack.api.create(CLONESETS.path(stack.namespace), body)
    assert created["spec"]["progressDeadlineSeconds"] == 600, "the CRD keeps the field"
    await eventually(lambda: _condition_is(stack, AVAILABLE), 90, "Progressing CloneSetAvailable")
    stored = next(c for c in (await cloneset(stack))["status"]["conditions"] if c["type"] == "Progressing")
    assert stored["lastUpdateTime"]
    assert stored["lastTransitionTime"]

    # "available" is checked first: paused counts only while the CloneSet is not all updated
    await patch_spec(stack, {"updateStrategy": {"paused": True}})
    await asyncio.sleep(2)
    assert await _condition_is(stack, AVAILABLE)
    image = {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}}
    await patch_spec(stack, image)
    await eventually(lambda: _condition_is(stack, PAUSED), 30, "Progressing CloneSetPaused")
    assert await status_is(stack, updatedReplicas=0), "paused: no pod updated"

    await patch_spec(stack, {"updateStrategy": {"paused": False}, "progressDeadlineSeconds": None})
    await eventually(lambda: _condition_is(stack, None), 30, "no Progressing condition without the field")


async def test_deadline_exceeded_then_available_once_the_pod_can_run(cloneset_stack: Stack) -> None:
    """kruise e2e "creates with unschedulable scheduler": deadline 8 s, a scheduler nobody runs."""
    stack = cloneset_stack
    body = manifest(stack.namespace, 1)
    body["spec"]["progressDeadlineSeconds"] = 8
    body["spec"]["template"]["spec"]["schedulerName"] = "unschedulable"
    await stack.api.create(CLONESETS.path(stack.namespace), body)
    await eventually(lambda: _condition_is(stack, UPDATED), 90, "Progressing CloneSetUpdated")
    revision = (await cloneset(stack))["status"]["updateRevision"]
    exceeded = {
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": f"CloneSet revision {revision} has timed out progressing",
    }
    # nothing changes after the pod is created: only the worker's own requeue at the deadline
    await eventually(lambda: _condition_is(stack, exceeded), 30, "ProgressDeadlineExceeded after 8 s")

    await stack.api.patch(
        CLONESETS.path(stack.namespace, "web"),
        [{"op": "remove", "path": "/spec/template/spec/schedulerName"}],
        "json",
    )
    await eventually(lambda: _condition_is(stack, AVAILABLE), 90, "available once the new pod runs")


async def test_invalid_deadline_is_refused(cloneset_stack: Stack) -> None:
    """kruise's webhook: progressDeadlineSeconds must be greater than minReadySeconds (MaxInt32 aside)."""
    stack = cloneset_stack
    body = manifest(stack.namespace, 1)
    body["spec"]["progressDeadlineSeconds"] = 5
    body["spec"]["minReadySeconds"] = 5
    # kruise: field.Invalid(spec.progressDeadlineSeconds, ..., "must be greater than minReadySeconds")
    with pytest.raises(
        KubeError,
        match=r"spec\.progressDeadlineSeconds: Invalid value: .*must be greater than minReadySeconds",
    ):
        await stack.api.create(CLONESETS.path(stack.namespace), body)
    body["spec"]["progressDeadlineSeconds"] = 2147483647
    body["spec"]["minReadySeconds"] = 2147483647
    await stack.api.create(CLONESETS.path(stack.namespace), body)
