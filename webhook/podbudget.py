"""PodUnavailableBudget: refuse pod DELETE, ``pods/eviction`` and in-place UPDATE that would
break a budget (kruise's ``podUnavailableBudgetValidatingPod``).

The decision and the budget spending are the PUB worker's (:mod:`workers.podunavailablebudget.admission`
decides, :func:`workers.podunavailablebudget.admit.admit` reads the PUB, records the pod in its
status and emits kruise's Event); here the request is classified and, for an eviction, the pod
read. ``gather`` spends (through :meth:`webhook.dispatch.Cluster.spend_pod_budget`), the handler
answers: kruise answers a refusal with ``admission.ValidationResponse(false, reason)``
(pkg/webhook/pod/validating/pod_create_update_handler.go:75-81), a 403 with reason Forbidden and
its message.
"""

from __future__ import annotations

from collections.abc import Mapping

from flotilla.runtime.features import Feature
from webhook.dispatch import NO_FACTS, AdmissionConfig, Cluster, Facts, Route, RouteKey
from webhook.review import AdmissionRequest, Verdict, allowed, forbidden
from workers.podunavailablebudget.admission import classify


async def gather_budget(request: AdmissionRequest, config: AdmissionConfig, cluster: Cluster) -> Facts:
    operation = classify(
        request.operation, request.sub_resource, request.old_object, request.object, config.gates
    )
    if operation is None:
        return NO_FACTS
    pod = request.old_object
    if request.sub_resource == "eviction":
        pod = await cluster.read_pod(request.namespace, request.name)
    if pod is None:
        return NO_FACTS  # nothing to guard (an eviction of a pod already gone)
    in_place = config.gates[Feature.IN_PLACE_POD_VERTICAL_SCALING]
    refusal = await cluster.spend_pod_budget(operation, pod, request.dry_run, in_place)
    return Facts(error=refusal)


def answer_budget(_request: AdmissionRequest, _config: AdmissionConfig, facts: Facts) -> Verdict:
    return forbidden(facts.error) if facts.error else allowed()


_BUDGET = Route(answer_budget, gather_budget)

ROUTES: Mapping[RouteKey, Route] = {
    ("", "Pod", "DELETE"): _BUDGET,
    ("", "Pod", "UPDATE"): _BUDGET,
    ("policy", "Eviction", "CREATE"): _BUDGET,
}
