"""A HorizontalPodAutoscaler aimed at a kruise workload's scale subresource, for the tests that
let kube-controller-manager's HPA controller drive a CloneSet or an Advanced StatefulSet.

There is no metrics server on the test control plane: the HPA still clamps the target's
``/scale`` replicas into [minReplicas, maxReplicas], then reads the pods through
``status.selector`` of ``/scale`` and fails on the metrics (``ScalingActive`` False,
``FailedGetResourceMetric``); without a selector the reason would be ``InvalidSelector``.
"""

from __future__ import annotations

from flotilla.runtime.kube import JsonObject

HPAS = "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers"


def hpa(namespace: str, target: JsonObject, min_replicas: int, max_replicas: int) -> JsonObject:
    """An HPA named like its target (`target`: apiVersion, kind, name) on 50 % CPU."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": target["name"], "namespace": namespace},
        "spec": {
            "scaleTargetRef": target,
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


def condition(hpa: JsonObject, kind: str) -> JsonObject:
    """The HPA's status condition of type `kind`, or {}."""
    for cond in (hpa.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def metrics_attempted(hpa: JsonObject, replicas: int) -> bool:
    """The HPA saw `replicas` through /scale and went on to read the metrics with its selector."""
    active = condition(hpa, "ScalingActive")
    current = (hpa.get("status") or {}).get("currentReplicas")
    return bool(current == replicas and active.get("reason") == "FailedGetResourceMetric")
