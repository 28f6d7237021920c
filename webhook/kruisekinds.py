"""Defaulting and validation of the kruise kinds, from the one rule set (:mod:`schemas.kruise.rules`).

kruise's mutating webhook (``SetDefaults*``) becomes a JSON patch replacing each top-level member
the defaulted copy changed; kruise's validating webhook refuses with kruise's aggregated message
(``field.ErrorList.ToAggregate``) and the HTTP code that kind's kruise handler answers
(:func:`refusal_of`: 422 for CloneSet, Advanced StatefulSet, UnitedDeployment and AdvancedCronJob,
500 for BroadcastJob, 400 for PodUnavailableBudget and the image kinds, 403 for an update of a
ContainerRecreateRequest). Checks that read the API (a CloneSet's ``podsToDelete``
pods) get their pods through ``gather``. One route per kind the rule set covers, CREATE and UPDATE.
A kind kruise checks in its mutating webhook only (ContainerRecreateRequest) gets one mutating
route that defaults, checks the object as sent, and then fills in what it read (its pod, then the
pod's Node). The kinds of kruise's daemon (ContainerRecreateRequest, ImagePullJob,
ImageListPullJob, NodeImage) are refused with kruise's 403 while the ``KruiseDaemon`` gate (and
``ImagePullJobGate`` for ImagePullJob and ImageListPullJob) is off; a PodUnavailableBudget with
kruise's 400 while both PodUnavailableBudget gates are.
"""

from __future__ import annotations

from collections.abc import Mapping

from flotilla.runtime.features import Feature
from schemas.kruise import rules
from webhook.dispatch import NO_FACTS, AdmissionConfig, Cluster, Facts, Route, RouteKey
from webhook.review import AdmissionRequest, Verdict, allowed, denied, forbidden, patched

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


#: The code kruise's validating handler of a kind answers its field errors with,
#: ``admission.Errored(<code>, allErrs.ToAggregate())`` (pkg/webhook/<kind>/validating/*_handler.go;
#: the line numbers are tests/unit/webhook/test_webhook_refusal_codes.py's).
_ERROR_CODES: Mapping[str, int] = {
    "CloneSet": 422,
    "StatefulSet": 422,
    "UnitedDeployment": 422,
    "AdvancedCronJob": 422,
    "BroadcastJob": 500,  # validatingBroadcastJobFn returns the aggregate as an error
    "PodUnavailableBudget": 400,
    "ImagePullJob": 400,
    "ImageListPullJob": 400,
    "NodeImage": 400,
    "ContainerRecreateRequest": 400,  # a create's checks; an update's are 403 (refusal)
    "SidecarSet": 500,  # validatingSidecarSetFn returns the aggregate as an error (webhook.sidecarset)
}
#: kruise's PodUnavailableBudget handler refuses every PUB while neither PUB gate is on.
_PUB_GATES = (Feature.POD_UNAVAILABLE_BUDGET_DELETE_GATE, Feature.POD_UNAVAILABLE_BUDGET_UPDATE_GATE)


def _gate_refusal(kind: str, config: AdmissionConfig) -> Verdict | None:
    for gate in _GATES.get(kind, ()):
        if not config.gates[gate]:
            return denied(403, f"feature-gate {gate.value} is not enabled")
    if kind == "PodUnavailableBudget" and not any(config.gates[gate] for gate in _PUB_GATES):
        return denied(
            400,
            "feature PodUnavailableBudget is invalid, please open via feature-gate("
            f"{_PUB_GATES[0].value}, {_PUB_GATES[1].value})",
        )
    return None


def refusal_of(request: AdmissionRequest, errors: list[rules.FieldError]) -> Verdict:
    """kruise's answer to ``errors`` (not empty) of the request's kind: its code and message shape.

    The exceptions to the kind's one code: an ImagePullJob update that changes ``spec.pullSecrets``
    is ``admission.Denied`` (403, reason Forbidden), and every check of a ContainerRecreateRequest
    update is ``Errored(http.StatusForbidden, ...)``."""
    message = rules.aggregate_message(errors)
    if request.operation == "UPDATE":
        if request.kind == "ImagePullJob" and errors[0].field == "spec.pullSecrets":
            return forbidden(message)
        if request.kind == "ContainerRecreateRequest":
            return denied(403, message)
    return denied(_ERROR_CODES[request.kind], message)


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
    return refusal_of(request, errors) if errors else allowed()


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
        return refusal_of(request, errors)
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
