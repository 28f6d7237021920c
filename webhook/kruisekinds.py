"""Defaulting and validation of the kruise kinds, from the one rule set (:mod:`schemas.kruise.rules`).

kruise's mutating webhook (``SetDefaults*``) becomes a JSON patch replacing each top-level member
the defaulted copy changed; kruise's validating webhook refuses with 422 and kruise's aggregated
message (``field.ErrorList.ToAggregate``). Checks that read the API (a CloneSet's ``podsToDelete``
pods) get their pods through ``gather``. One route per kind the rule set covers, CREATE and UPDATE.
A kind kruise checks in its mutating webhook only (ContainerRecreateRequest) gets one mutating
route that defaults, checks the object as sent, and then fills in what it read (its pod, then the
pod's Node). The kinds of kruise's daemon (ContainerRecreateRequest, ImagePullJob,
ImageListPullJob, NodeImage) are refused with kruise's 403 while the ``KruiseDaemon`` gate (and
``ImagePullJobGate`` for ImagePullJob and ImageListPullJob) is off.
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
#: Kinds checked in the mutating call only (kruise registers no validating webhook for them).
_MUTATING_ONLY = frozenset(kind for kind in rules.kinds() if rules.rule_set(kind).mutating_only)
#: The feature gates kruise's handlers of a kind require, in the order it checks them.
_GATES: Mapping[str, tuple[Feature, ...]] = {
    "ContainerRecreateRequest": (Feature.KRUISE_DAEMON,),
    "ImagePullJob": (Feature.KRUISE_DAEMON, Feature.IMAGE_PULL_JOB_GATE),
    "ImageListPullJob": (Feature.KRUISE_DAEMON, Feature.IMAGE_PULL_JOB_GATE),
    "NodeImage": (Feature.KRUISE_DAEMON,),
}


def _gate_refusal(kind: str, config: AdmissionConfig) -> Verdict | None:
    for gate in _GATES.get(kind, ()):
        if not config.gates[gate]:
            return denied(403, f"feature-gate {gate.value} is not enabled")
    return None


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
    if not needs.pods and not needs.pubs and not classes:
        return NO_FACTS
    pods = {name: await cluster.read_pod(request.namespace, name) for name in needs.pods}
    node_names = rules.node_needs(request.kind, obj, request.old_object, pods)
    nodes = {name: await cluster.read_node(name) for name in node_names} if node_names else None
    pubs = list(await cluster.list_pubs(request.namespace)) if needs.pubs else None
    storage_classes = {name: await cluster.read_storage_class(name) for name in classes} if classes else None
    return Facts(pods=pods, pubs=pubs, storage_classes=storage_classes, nodes=nodes)


def validate_object(request: AdmissionRequest, config: AdmissionConfig, facts: Facts) -> Verdict:
    obj = request.object
    if obj is None:
        return denied(400, f"{request.operation} of {request.kind} without request.object")
    if (refusal := _gate_refusal(request.kind, config)) is not None:
        return refusal
    read = facts.pods is not None or facts.pubs is not None or facts.storage_classes is not None
    rule_facts = (
        rules.Facts(
            pods=facts.pods or {}, pubs=facts.pubs, storage_classes=facts.storage_classes, nodes=facts.nodes
        )
        if read
        else None
    )
    errors = rules.validate(request.kind, obj, request.old_object, rule_facts)
    return denied(422, rules.aggregate_message(errors)) if errors else allowed()


def check_and_fill(request: AdmissionRequest, config: AdmissionConfig, facts: Facts) -> Verdict:
    """A mutating-only kind: kruise's checks on the object as sent (defaults applied), then what
    the rule set fills in from the facts, as one patch."""
    obj = request.object
    if obj is None:
        return denied(400, f"{request.operation} of {request.kind} without request.object")
    if (refusal := _gate_refusal(request.kind, config)) is not None:
        return refusal
    defaulted = rules.default(request.kind, obj, request.old_object)
    rule_facts = rules.Facts(pods=facts.pods or {}, pubs=facts.pubs, nodes=facts.nodes)
    errors = rules.validate(request.kind, defaulted, request.old_object, rule_facts)
    if errors:
        return denied(422, rules.aggregate_message(errors))
    inject = rules.rule_set(request.kind).inject
    filled = inject(defaulted, rule_facts) if inject is not None and request.old_object is None else defaulted
    return patched([{"op": "add", "path": f"/{m}", "value": v} for m, v in filled.items() if obj.get(m) != v])


def _routes(route: Route, kinds: frozenset[str]) -> Mapping[RouteKey, Route]:
    return {
        (_GROUPS.get(kind, "apps.kruise.io"), kind, operation): route
        for kind in sorted(kinds)
        for operation in ("CREATE", "UPDATE")
    }


MUTATING: Mapping[RouteKey, Route] = {
    **_routes(Route(default_object), rules.kinds() - _NOT_DEFAULTED - _MUTATING_ONLY),
    **_routes(Route(check_and_fill, gather_pods), _MUTATING_ONLY),
}
VALIDATING: Mapping[RouteKey, Route] = _routes(
    Route(validate_object, gather_pods), rules.kinds() - _MUTATING_ONLY
)
