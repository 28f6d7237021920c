"""A pod that cannot be scheduled stays ``PreparingNormal`` (kruise e2e "creates with unschedulable
scheduler").

kruise creates every pod ``PreparingNormal`` and moves it to ``Normal`` only once it is bound to a
node (no ``preNormal`` hook); a pod whose scheduler nobody runs stays Pending and PreparingNormal.
Once the template names no scheduler, the recreated pod is scheduled, turns Normal and available.
"""

from __future__ import annotations

import asyncio
import time

from tests.integration.cloneset.conftest import Stack
from tests.integration.cloneset.test_cloneset_stack import eventually, manifest, pods, status_is
from workers.cloneset.lowering import CLONESETS

STATE = "lifecycle.apps.kruise.io/state"


async def test_unschedulable_pod_stays_preparing_normal_until_scheduled(
    cloneset_stack: Stack,
) -> None:
    stack = cloneset_stack
    body = manifest(stack.namespace, 1)
    body["spec"]["template"]["spec"]["schedulerName"] = "unschedulable"
    await stack.api.create(CLONESETS.path(stack.namespace), body)
    await eventually(lambda: status_is(stack, replicas=1), 60, "1 pod created")

    seen: set[tuple[str, str]] = set()
    until = time.monotonic() + 8  # kruise's spec checks 10 s, every second
    while time.monotonic() < until:
        for pod in await pods(stack):
            seen.add((pod["status"].get("phase", ""), pod["metadata"]["labels"].get(STATE, "")))
        await asyncio.sleep(0.5)
    assert seen == {("Pending", "PreparingNormal")}, f"(phase, lifecycle state) seen: {sorted(seen)}"
    assert await status_is(stack, replicas=1, readyReplicas=0, availableReplicas=0)

    await stack.api.patch(
        CLONESETS.path(stack.namespace, "web"),
        [{"op": "remove", "path": "/spec/template/spec/schedulerName"}],
        "json",
    )
    await eventually(lambda: status_is(stack, readyReplicas=1, availableReplicas=1, updatedReplicas=1), 90,
                     "the recreated pod is scheduled, ready and available")  # fmt: skip

    async def normal() -> bool:
        found = await pods(stack)
        return len(found) == 1 and found[0]["metadata"]["labels"].get(STATE) == "Normal"

    await eventually(normal, 30, "the scheduled pod is Normal")
