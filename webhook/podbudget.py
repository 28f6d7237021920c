"""PodUnavailableBudget on pod DELETE, ``pods/eviction`` CREATE and pod UPDATE (kruise's validating
pod webhook, ``podUnavailableBudgetValidatingPod``).

``gather`` classifies the request (:func:`workers.podunavailablebudget.admission.classify`: the
feature gates, the ``kruise.io/related-pub`` annotation, whether an update may make the pod
unavailable, RESIZE vs UPDATE), reads the pod for an eviction, and asks the cluster to spend the
budget (:meth:`webhook.dispatch.Cluster.spend_budget`, which is
:func:`workers.podunavailablebudget.admit.admit`: the PUB status PUT with its resourceVersion,
kruise's conflict retry). The handler turns the recorded verdict into the answer, with kruise's
message. Registered as ``vpod.kb.io`` (failure policy: ``webhook.failurePolicy.pods``).
"""

from __future__ import annotations

from collections.abc import Mapping

from flotilla.runtime.features import Feature
from webhook.dispatch import AdmissionConfig, Cluster, Facts, Route, RouteKey
from webhook.review import AdmissionRequest, Verdict, allowed, denied
from workers.podunavailablebudget.admission import classify

#: The answer of a budget refusal (kruise: ``admission.ValidationResponse(false, reason)``).
REFUSED_CODE = 403


async def gather_budget(request: AdmissionRequest, config: AdmissionConfig, cluster: Cluster) -> Facts:
    new_pod = request.object if request.operation == "UPDATE" else None
    operation = classify(request.operation, request.sub_resource, request.old_object, new_pod, config.gates)
    if operation is None:
        return Facts(budget=(True, ""))
    if request.operation == "CREATE":  # the eviction names the pod; decide on the pod as it is
        pod = await cluster.pod(request.namespace, request.name)
        if pod is None:
            return Facts(budget=(True, ""))
    else:
        pod = request.old_object
    if pod is None:
        return Facts(error=f"{request.operation} of pod {request.key} carries no oldObject to decide on")
    decision = await cluster.spend_budget(
        operation, pod, request.dry_run, config.gates[Feature.IN_PLACE_POD_VERTICAL_SCALING]
    )
    return Facts(budget=(decision.allowed, decision.message))


def budget_verdict(request: AdmissionRequest, config: AdmissionConfig, facts: Facts) -> Verdict:
    if facts.error:
        return denied(500, facts.error)
    if facts.budget is None or facts.budget[0]:
        return allowed()
    return denied(REFUSED_CODE, facts.budget[1])


_BUDGET = Route(budget_verdict, gather_budget)

ROUTES: Mapping[RouteKey, Route] = {
    ("", "Pod", "DELETE"): _BUDGET,
    ("", "Pod", "UPDATE"): _BUDGET,
    ("policy", "Eviction", "CREATE"): _BUDGET,
}
