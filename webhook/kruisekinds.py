"""Defaulting and validation of the kruise kinds, from the one rule set (:mod:`schemas.kruise.rules`).

kruise's mutating webhook (``SetDefaults*``) becomes a JSON patch replacing each top-level member
the defaulted copy changed; kruise's validating webhook refuses with 422 and kruise's aggregated
message (``field.ErrorList.ToAggregate``). Checks that read the API (a CloneSet's ``podsToDelete``
pods) get their pods through ``gather``. One route per kind the rule set covers, CREATE and UPDATE.
"""

from __future__ import annotations

from collections.abc import Mapping

from flotilla.runtime.features import Feature
from schemas.kruise import rules
from webhook.dispatch import NO_FACTS, AdmissionConfig, Cluster, Facts, Route, RouteKey
from webhook.review import AdmissionRequest, Verdict, allowed, denied, patched

#: The API group of each kind (everything else of kruise's is apps.kruise.io).
_GROUPS = {"PodUnavailableBudget": "policy.kruise.io"}
#: Kinds kruise validates but registers no defaulting webhook for.
_NOT_DEFAULTED = frozenset({"PodUnavailableBudget"})


def default_object(request: AdmissionRequest, _config: AdmissionConfig, _facts: Facts) -> Verdict:
    obj = request.object
    if obj is None:
        return denied(400, f"{request.operation} of {request.kind} without request.object")
    defaulted = rules.default(request.kind, obj, request.old_object)
    operations = [
        {"op": "add", "path": f"/{member}", "value": value}
        for member, value in defaulted.items()
        if obj.get(member) != value
    ]
    return patched(operations)


async def gather_pods(request: AdmissionRequest, config: AdmissionConfig, cluster: Cluster) -> Facts:
    obj = request.object
    if obj is None:
        return NO_FACTS
    needs = rules.needs(request.kind, obj, request.old_object)
    classes = needs.storage_classes if config.gates[Feature.STATEFUL_SET_AUTO_RESIZE_PVC_GATE] else ()
    if not needs.pods and not classes:
        return NO_FACTS
    return Facts(
        pods={name: await cluster.read_pod(request.namespace, name) for name in needs.pods},
        storage_classes={name: await cluster.read_storage_class(name) for name in classes}
        if classes
        else None,
    )


def validate_object(request: AdmissionRequest, _config: AdmissionConfig, facts: Facts) -> Verdict:
    obj = request.object
    if obj is None:
        return denied(400, f"{request.operation} of {request.kind} without request.object")
    rule_facts = (
        rules.Facts(pods=facts.pods, storage_classes=facts.storage_classes)
        if facts.pods is not None
        else None
    )
    errors = rules.validate(request.kind, obj, request.old_object, rule_facts)
    return denied(422, rules.aggregate_message(errors)) if errors else allowed()


def _routes(route: Route, kinds: frozenset[str]) -> Mapping[RouteKey, Route]:
    return {
        (_GROUPS.get(kind, "apps.kruise.io"), kind, operation): route
        for kind in sorted(kinds)
        for operation in ("CREATE", "UPDATE")
    }


MUTATING: Mapping[RouteKey, Route] = _routes(Route(default_object), rules.kinds() - _NOT_DEFAULTED)
VALIDATING: Mapping[RouteKey, Route] = _routes(Route(validate_object, gather_pods), rules.kinds())
