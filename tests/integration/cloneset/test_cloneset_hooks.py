"""preNormal hook, in-place grace period and deletion cost on the real control plane.

The preNormal hook holds new pods in ``PreparingNormal`` (not available) until the user's
label appears; ``inPlaceUpdateStrategy.gracePeriodSeconds`` marks the pod not ready first and
changes its image only after the grace period; scale-in deletes the pod with the lowest
``controller.kubernetes.io/pod-deletion-cost`` first.
"""

from __future__ import annotations

import asyncio
import time

from flotilla.runtime.kube import PODS, JsonObject
from tests.integration.cloneset.conftest import Stack
from tests.integration.cloneset.test_cloneset_stack import eventually, manifest, patch_spec, pods, status_is
from workers.cloneset.lowering import CLONESETS

STATE = "lifecycle.apps.kruise.io/state"
GRACE = "apps.kruise.io/inplace-update-grace"


async def _label(stack: Stack, name: str, labels: dict[str, str]) -> None:
    await stack.api.patch(PODS.path(stack.namespace, name), {"metadata": {"labels": labels}}, "merge")


async def test_pre_normal_hook_holds_new_pods_until_the_label_appears(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    body = manifest(stack.namespace, 2)
    body["spec"]["lifecycle"] = {"preNormal": {"labelsHandler": {"example.com/warm": "true"}}}
    await stack.api.create(CLONESETS.path(stack.namespace), body)
    await eventually(lambda: status_is(stack, replicas=2, readyReplicas=2), 90, "2 ready pods")
    held = await pods(stack)
    assert {p["metadata"]["labels"][STATE] for p in held} == {"PreparingNormal"}
    await eventually(lambda: status_is(stack, availableReplicas=0), 30, "none available while held")

    warm = held[0]["metadata"]["name"]
    await _label(stack, warm, {"example.com/warm": "true"})

    async def only_the_warm_pod_is_normal() -> bool:
        states = {p["metadata"]["name"]: p["metadata"]["labels"].get(STATE) for p in await pods(stack)}
        return states[warm] == "Normal" and list(states.values()).count("PreparingNormal") == 1

    await eventually(only_the_warm_pod_is_normal, 30, "the labelled pod moves to Normal")
    await eventually(lambda: status_is(stack, availableReplicas=1), 30, "the warm pod counts as available")


async def test_in_place_grace_period_delays_the_image_change(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    strategy = {
        "type": "InPlaceIfPossible",
        "maxUnavailable": 1,
        "inPlaceUpdateStrategy": {"gracePeriodSeconds": 3},
    }
    await stack.api.create(CLONESETS.path(stack.namespace), manifest(stack.namespace, 1, strategy=strategy))
    await eventually(lambda: status_is(stack, readyReplicas=1), 90, "1 ready")
    [before] = await pods(stack)

    await patch_spec(stack, {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}})
    marked: float | None = None  # when the pod first showed the grace mark (image still old)
    swapped: float | None = None  # when its spec first showed the new image
    deadline = time.monotonic() + 60
    while swapped is None and time.monotonic() < deadline:
        pod = await stack.api.get(PODS.path(stack.namespace, before["metadata"]["name"]))
        now = time.monotonic()
        image = pod["spec"]["containers"][0]["image"]
        if marked is None and GRACE in (pod["metadata"].get("annotations") or {}):
            assert image == "nginx:1", "the grace mark comes before the image change"
            [gate] = [c for c in pod["status"].get("conditions", []) if c["type"] == "InPlaceUpdateReady"]
            assert gate["status"] == "False", "not ready during the grace period"
            marked = now
        if image == "nginx:2":
            swapped = now
        await asyncio.sleep(0.2)
    assert marked is not None, "the pod never showed the grace mark"
    assert swapped is not None, "the image never changed"
    assert swapped - marked >= 2.0, f"image changed {swapped - marked:.1f}s after the grace mark (grace 3s)"
    await eventually(
        lambda: status_is(stack, observedGeneration=2, updatedReplicas=1, updatedReadyReplicas=1),
        60,
        "updated in place",
    )
    [after] = await pods(stack)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert GRACE not in (after["metadata"].get("annotations") or {})


def _ready_since(pod: JsonObject) -> tuple[str, str, str]:
    [ready] = [c for c in pod["status"]["conditions"] if c["type"] == "Ready"]
    meta = pod["metadata"]
    return str(ready["lastTransitionTime"]), str(meta["creationTimestamp"]), str(meta["name"])


async def test_scale_in_deletes_the_lowest_deletion_cost_first(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    await stack.api.create(CLONESETS.path(stack.namespace), manifest(stack.namespace, 3))
    await eventually(lambda: status_is(stack, readyReplicas=3), 90, "3 ready")
    # Without costs the pod Ready last would go first and the one Ready first would stay: give
    # the costs the other way round, so only the costs can explain which pod is left.
    by_ready = sorted(await pods(stack), key=_ready_since)
    cheap, dear = by_ready[0]["metadata"]["name"], by_ready[-1]["metadata"]["name"]
    for name, cost in ((cheap, "-100"), (dear, "100")):
        await stack.api.patch(
            PODS.path(stack.namespace, name),
            {"metadata": {"annotations": {"controller.kubernetes.io/pod-deletion-cost": cost}}},
            "merge",
        )
    await stack.api.patch(CLONESETS.path(stack.namespace, "web"), {"spec": {"replicas": 1}}, "merge")

    async def two_gone() -> bool:
        return len(await pods(stack)) == 1

    await eventually(two_gone, 60, "scaled in to 1")
    assert [p["metadata"]["name"] for p in await pods(stack)] == [dear]
