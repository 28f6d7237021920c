"""Pod CREATE mutation: the ``KruisePodReady`` readiness gate (kruise ``injectPodReadinessGate``).

A new pod whose controller owner reference is in group ``apps.kruise.io`` gets
``spec.readinessGates: [{conditionType: KruisePodReady}]`` (once); Flotilla's workers set that
condition for their pods. With the ``KruisePodReadinessGate`` feature gate kruise gates every pod,
because kruise-manager's pod-readiness controller then marks each gated pod ``KruisePodReady``
True; Flotilla has no such controller for pods of other owners (a gated Deployment pod would never
turn Ready), so it gates kruise workloads' pods only, gate or not. Nothing is done when the
``PodWebhook`` gate is off (kruise then serves no pod webhook at all). Pure: request in, patch out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flotilla.runtime.features import Feature
from webhook.dispatch import AdmissionConfig, Facts, Route, RouteKey
from webhook.review import AdmissionRequest, Verdict, allowed, denied, patched

KRUISE_POD_READY = "KruisePodReady"
KRUISE_GROUP = "apps.kruise.io"


def owned_by_kruise(pod: Mapping[str, Any]) -> bool:
    """kruise ``IsPodOwnedByKruise``: the controller owner's apiVersion is in ``apps.kruise.io``."""
    metadata = pod.get("metadata")
    owners = metadata.get("ownerReferences") if isinstance(metadata, dict) else None
    for owner in owners if isinstance(owners, list) else ():
        if isinstance(owner, dict) and owner.get("controller") is True:
            api_version = str(owner.get("apiVersion", ""))
            group = api_version.split("/", 1)[0] if "/" in api_version else ""
            return group == KRUISE_GROUP
    return False


def readiness_gate_patch(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The JSON patch adding the gate ([] when the pod has it already)."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        raise ValueError("spec must be an object")
    gates = spec.get("readinessGates")
    gate = {"conditionType": KRUISE_POD_READY}
    if gates is None:
        return [{"op": "add", "path": "/spec/readinessGates", "value": [gate]}]
    if not isinstance(gates, list):
        raise ValueError("spec.readinessGates must be a list")
    if any(isinstance(g, dict) and g.get("conditionType") == KRUISE_POD_READY for g in gates):
        return []
    return [{"op": "add", "path": "/spec/readinessGates/-", "value": gate}]


def inject_readiness_gate(request: AdmissionRequest, config: AdmissionConfig, _facts: Facts) -> Verdict:
    pod = request.object
    if pod is None:
        return denied(400, "pod CREATE without request.object")
    if not config.gates[Feature.POD_WEBHOOK]:
        return allowed()
    if not owned_by_kruise(pod):  # with KruisePodReadinessGate too: see the module's docstring
        return allowed()
    try:
        return patched(readiness_gate_patch(pod))
    except ValueError as err:
        return denied(400, f"cannot decode Pod: {err}")


ROUTES: Mapping[RouteKey, Route] = {("", "Pod", "CREATE"): Route(inject_readiness_gate)}
