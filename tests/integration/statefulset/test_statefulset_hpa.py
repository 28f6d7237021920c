"""A HorizontalPodAutoscaler (kube-controller-manager's controller) scaling an Advanced
StatefulSet through its scale subresource, as kruise's users do.

The HPA sees only ``/scale`` (spec.replicas, status.replicas, status.labelSelector). With no
metrics server it clamps the replicas into [minReplicas, maxReplicas] at its first sync, then
(at the next sync, 15 s later) reads the pods through the selector and fails on the metrics:
that failure reason, not ``InvalidSelector``, shows the selector was there to read.
"""

from __future__ import annotations

from flotilla.runtime.kube import EVENTS
from tests.integration.statefulset.test_statefulset_stack import _converged, manifest
from tests.support.hpa import HPAS, condition, hpa, metrics_attempted
from tests.support.polling import eventually_async
from tests.support.workerstack import Stack
from workers.statefulset.builder import STATEFULSETS


async def test_hpa_scales_the_statefulset_through_its_scale_subresource(sts_stack: Stack) -> None:
    stack = sts_stack
    body = manifest(stack.namespace, 1, podManagementPolicy="Parallel")
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "100m"}}
    await stack.api.create(STATEFULSETS.path(stack.namespace), body)
    await eventually_async(lambda: _converged(stack, {"web-0"}), within=60, interval=0.5, what="web-0 ready")

    target = {"apiVersion": "apps.kruise.io/v1beta1", "kind": "StatefulSet", "name": "web"}
    await stack.api.create(HPAS.format(ns=stack.namespace), hpa(stack.namespace, target, 3, 5))
    names = {"web-0", "web-1", "web-2"}
    await eventually_async(
        lambda: _converged(stack, names), within=60, interval=0.5, what="scaled to minReplicas 3"
    )
    sts = await stack.api.get(STATEFULSETS.path(stack.namespace, "web"))
    assert sts["spec"]["replicas"] == 3
    assert sts["status"]["labelSelector"] == "app=web"

    hpa_path = HPAS.format(ns=stack.namespace) + "/web"

    async def tried_metrics() -> bool:
        return metrics_attempted(await stack.api.get(hpa_path), 3)

    await eventually_async(tried_metrics, within=45, interval=1, what="HPA read the selector, tried metrics")
    scaler = await stack.api.get(hpa_path)
    assert condition(scaler, "AbleToScale")["status"] == "True"
    assert scaler["status"]["desiredReplicas"] == 3
    events = (await stack.api.get(EVENTS.path(stack.namespace))).get("items", [])
    reasons = {e["reason"] for e in events if e["involvedObject"]["kind"] == "HorizontalPodAutoscaler"}
    assert "SuccessfulRescale" in reasons
    assert "SelectorRequired" not in reasons
