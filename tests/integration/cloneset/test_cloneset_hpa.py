"""A HorizontalPodAutoscaler (kube-controller-manager's controller) scaling a CloneSet end to end.

There is no metrics server, so the HPA cannot compute a metric; it still clamps the target's
``/scale`` replicas into [minReplicas, maxReplicas] before it reads metrics. The CloneSet's
scale subresource (spec.replicas, status.replicas, status.labelSelector) is all it sees.

kube-controller-manager runs ``--controllers=*`` (the HPA controller included) with the default
``--horizontal-pod-autoscaler-sync-period=15s``: each HPA is processed at most every 15 s, so
this test waits through about three syncs (~45 s).
"""

from __future__ import annotations

import time

from flotilla.runtime.kube import EVENTS
from tests.integration.cloneset.conftest import Stack
from tests.integration.cloneset.test_cloneset_stack import cloneset, eventually, manifest, pods, status_is
from tests.support.hpa import HPAS, condition, hpa, metrics_attempted
from workers.cloneset.lowering import CLONESETS


async def test_hpa_scales_the_cloneset_through_its_scale_subresource(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    body = manifest(stack.namespace, 1)
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "100m"}}
    await stack.api.create(CLONESETS.path(stack.namespace), body)
    await eventually(lambda: status_is(stack, readyReplicas=1, labelSelector="app=web"), 90, "1 ready")
    hpa_path = HPAS.format(ns=stack.namespace) + "/web"
    started = time.monotonic()
    target = {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": "web"}
    await stack.api.create(HPAS.format(ns=stack.namespace), hpa(stack.namespace, target, 3, 5))

    await eventually(
        lambda: status_is(stack, replicas=3, readyReplicas=3, availableReplicas=3),
        60,
        "scaled to minReplicas 3",
    )
    assert (await cloneset(stack))["spec"]["replicas"] == 3
    assert len(await pods(stack)) == 3
    to_three = time.monotonic() - started

    # The next sync finds 3 replicas within [3, 5] and goes on to the metrics: it reads the
    # selector from /scale (status.labelSelector) to find the pods, then fails for want of a
    # metrics API. Without a selector the reason would be InvalidSelector (Event SelectorRequired).
    async def tried_metrics() -> bool:
        return metrics_attempted(await stack.api.get(hpa_path), 3)

    await eventually(tried_metrics, 45, "HPA read the selector and tried the metrics")
    scaler = await stack.api.get(hpa_path)
    assert condition(scaler, "AbleToScale")["status"] == "True"
    assert condition(scaler, "ScalingActive")["status"] == "False"
    assert scaler["status"]["desiredReplicas"] == 3
    events = (await stack.api.get(EVENTS.path(stack.namespace))).get("items", [])
    hpa_reasons = {e["reason"] for e in events if e["involvedObject"]["kind"] == "HorizontalPodAutoscaler"}
    assert "SuccessfulRescale" in hpa_reasons
    assert "SelectorRequired" not in hpa_reasons

    started = time.monotonic()
    await stack.api.patch(hpa_path, {"spec": {"minReplicas": 1, "maxReplicas": 2}}, "merge")

    async def scaled_to_two() -> bool:
        spec_replicas = (await cloneset(stack))["spec"]["replicas"]
        return spec_replicas == 2 and await status_is(stack, replicas=2, readyReplicas=2)

    await eventually(scaled_to_two, 60, "scaled down to maxReplicas 2")
    to_two = time.monotonic() - started
    scaler = await stack.api.get(hpa_path)
    assert scaler["status"]["desiredReplicas"] == 2
    print(f"HPA: 1 -> 3 ready in {to_three:.0f}s, 3 -> 2 in {to_two:.0f}s")
