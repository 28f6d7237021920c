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

from flotilla.runtime.kube import EVENTS, JsonObject
from tests.integration.cloneset.conftest import Stack
from tests.integration.cloneset.test_cloneset_stack import cloneset, eventually, manifest, pods, status_is
from workers.cloneset.lowering import CLONESETS

HPAS = "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers"


def _hpa(namespace: str, min_replicas: int, max_replicas: int) -> JsonObject:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": "web"},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                }
            ],
        },
    }


def _condition(hpa: JsonObject, kind: str) -> JsonObject:
    for condition in (hpa.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return {}


async def test_hpa_scales_the_cloneset_through_its_scale_subresource(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    body = manifest(stack.namespace, 1)
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "100m"}}
    await stack.api.create(CLONESETS.path(stack.namespace), body)
    await eventually(lambda: status_is(stack, readyReplicas=1, labelSelector="app=web"), 90, "1 ready")
    hpa_path = HPAS.format(ns=stack.namespace) + "/web"
    started = time.monotonic()
    await stack.api.create(HPAS.format(ns=stack.namespace), _hpa(stack.namespace, 3, 5))

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
    async def metrics_attempted() -> bool:
        hpa = await stack.api.get(hpa_path)
        active = _condition(hpa, "ScalingActive")
        return (hpa.get("status") or {}).get("currentReplicas") == 3 and active.get(
            "reason"
        ) == "FailedGetResourceMetric"

    await eventually(metrics_attempted, 45, "HPA read the selector and tried the metrics")
    hpa = await stack.api.get(hpa_path)
    assert _condition(hpa, "AbleToScale")["status"] == "True"
    assert _condition(hpa, "ScalingActive")["status"] == "False"
    assert hpa["status"]["desiredReplicas"] == 3
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
    hpa = await stack.api.get(hpa_path)
    assert hpa["status"]["desiredReplicas"] == 2
    print(f"HPA: 1 -> 3 ready in {to_three:.0f}s, 3 -> 2 in {to_two:.0f}s")
