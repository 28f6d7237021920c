"""The watcher's CloneSet pod-update filter on (``--cloneset-event-filter=on``, kruise's
``CloneSetEventHandlerOptimization`` widened: ``watcher.podupdates``) against the real control
plane and NATS: a CloneSet still scales out, rolls in place, scales in and out again; a pod update
that cannot change the plan (an annotation nobody reads) publishes no trigger while the next
one that can (a label) does, read off the bus itself (a plain NATS subscription to the
CloneSet's reconcile subject) and off the watcher's skip counter."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Mapping

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from flotilla.runtime.kube import PODS
from schemas.bus.envelope import Envelope, decode
from tests.integration.cloneset.conftest import Stack
from tests.integration.cloneset.test_cloneset_stack import eventually, manifest, patch_spec, pods, status_is
from workers.cloneset.lowering import CLONESETS

SKIPPED = 'flotilla_watcher_updates_skipped_total{type="cloneset"}'


@pytest.fixture(scope="module")
def stack_env() -> Mapping[str, str]:
    """The module's watcher runs with the filter on (the chart's ``watcher.clonesetEventFilter``)."""
    return {"FLOTILLA_WATCH_CLONESET_EVENT_FILTER": "on"}


def _skipped(stack: Stack) -> float:
    assert stack.watcher_port, "the stack does not know its watcher's port"
    url = f"http://127.0.0.1:{stack.watcher_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = bytes(response.read()).decode()
    lines = [line for line in text.splitlines() if line.startswith(SKIPPED)]
    return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0


async def test_a_cloneset_rolls_and_scales_with_the_filter_on_and_a_quiet_update_publishes_nothing(
    cloneset_stack: Stack, nats_client: NATS
) -> None:
    stack = cloneset_stack
    triggers: list[Envelope] = []

    async def collect(msg: Msg) -> None:
        triggers.append(decode(msg.data))

    subscription = await nats_client.subscribe(
        f"flotilla.reconcile.cloneset.{stack.namespace}.web", cb=collect
    )
    try:
        strategy = {"type": "InPlaceIfPossible", "maxUnavailable": 1}
        await stack.api.create(
            CLONESETS.path(stack.namespace), manifest(stack.namespace, 3, strategy=strategy)
        )
        await eventually(lambda: status_is(stack, readyReplicas=3, availableReplicas=3), 90, "3 ready")
        before = {p["metadata"]["uid"] for p in await pods(stack)}
        await patch_spec(stack, {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}})
        await eventually(
            lambda: status_is(
                stack, observedGeneration=2, updatedReplicas=3, updatedReadyReplicas=3, readyReplicas=3
            ),
            120,
            "rolled in place",
        )
        after = await pods(stack)
        assert {p["metadata"]["uid"] for p in after} == before
        assert {p["spec"]["containers"][0]["image"] for p in after} == {"nginx:2"}
        assert {p["metadata"]["labels"]["lifecycle.apps.kruise.io/state"] for p in after} == {"Normal"}
        await patch_spec(stack, {"replicas": 1})
        await eventually(lambda: status_is(stack, replicas=1, readyReplicas=1), 90, "scaled in to 1")
        await patch_spec(stack, {"replicas": 4})
        await eventually(
            lambda: status_is(stack, replicas=4, readyReplicas=4, updatedReadyReplicas=4),
            90,
            "scaled out to 4",
        )

        # a quiet update: an annotation the plan never reads, on a pod done updating
        target = (await pods(stack))[0]
        uid, path = target["metadata"]["uid"], PODS.path(stack.namespace, target["metadata"]["name"])
        seen = [await asyncio.to_thread(_skipped, stack)]

        async def settled() -> bool:  # nothing else skipped for a second: the count is ours next
            await asyncio.sleep(1.0)
            seen.append(await asyncio.to_thread(_skipped, stack))
            return seen[-1] == seen[-2]

        await eventually(settled, 60, "the watcher's skip count to settle")
        skipped = seen[-1]
        quiet = await stack.api.patch(path, {"metadata": {"annotations": {"flotilla.dev/note": "quiet"}}})
        quiet_rv = str(quiet["metadata"]["resourceVersion"])

        async def counted() -> bool:
            return await asyncio.to_thread(_skipped, stack) > skipped

        await eventually(counted, 30, "the watcher to skip the annotation's update")
        # then an update that can change the plan: a label (the same pod, after it)
        loud = await stack.api.patch(path, {"metadata": {"labels": {"flotilla.dev/touch": "1"}}})
        loud_rv = str(loud["metadata"]["resourceVersion"])

        async def published() -> bool:
            return any(t.object_uid == uid and t.resource_version == loud_rv for t in triggers)

        await eventually(published, 30, "a trigger for the label's update")
        mine = [t.resource_version for t in triggers if t.object_uid == uid]
        assert quiet_rv not in mine, mine
        assert loud_rv in mine
    finally:
        await subscription.unsubscribe()
