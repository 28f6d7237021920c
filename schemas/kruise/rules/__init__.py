"""One rule set per kruise kind: kruise's defaults and validation, written once.

kruise-manager's webhook defaults (``SetDefaults*``, ``apis/apps/defaults``) and validates
(``pkg/webhook/<kind>/validating``) every kruise object. Flotilla runs the same rules in three
places, all from here: the admission webhook (``default`` then ``validate``; it turns the defaulted
copy into a JSON patch and refuses with :func:`aggregate_message`), the workers before they plan
(an invalid spec gets a condition and an Event, and nothing is written), and the CRD generator
(the ``default:`` values and CEL rules in ``schemas/kruise/*.py`` carry kruise's values and
messages; the tests compare them with these functions).

Objects are plain JSON mappings (``apiVersion``, ``kind``, ``metadata``, ``spec``) as the API
server sends them; ``old`` is the stored object on an update, ``None`` on a create. Every function
is pure. Checks kruise makes against the API (``podsToDelete`` pods must exist and belong to the
CloneSet) take what :func:`needs` asks for as :class:`Facts`; without facts they are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.kruise.rules import (
    advancedcronjob,
    broadcastjob,
    cloneset,
    containerrecreaterequest,
    imagepull,
    podunavailablebudget,
    sidecarset,
    statefulset,
    uniteddeployment,
)
from schemas.kruise.rules.errors import ErrorType, FieldError, aggregate_message

JsonObject = Mapping[str, Any]


@dataclass(frozen=True)
class Needs:
    """What a validation needs from the API server beyond the object itself."""

    pods: tuple[str, ...] = ()
    """Names of pods (in the object's namespace) to read."""
    pubs: bool = False
    """Every PodUnavailableBudget of the object's namespace (kruise's PUB conflict check)."""
    storage_classes: tuple[str, ...] = ()
    """Names of StorageClasses to read (``""``: the default class); only with the gate
    ``StatefulSetAutoResizePVCGate`` on, as kruise checks them only then."""

    @property
    def nothing(self) -> bool:
        return not self.pods and not self.pubs and not self.storage_classes


@dataclass(frozen=True)
class Facts:
    """What the caller read for :class:`Needs`."""

    pods: Mapping[str, JsonObject | None] = field(default_factory=dict)
    """Pod by name; ``None`` for a pod that was not found."""
    pubs: Sequence[JsonObject] | None = None
    """The PodUnavailableBudgets of the object's namespace (None: not read)."""
    storage_classes: Mapping[str, JsonObject | None] | None = None
    """StorageClass by name (``""``: the default one; ``None``: not found); ``None``: not read."""
    nodes: Mapping[str, JsonObject | None] | None = None
    """Node by name (``None``: not found), those :func:`node_needs` named; ``None``: not read."""


@dataclass(frozen=True)
class RuleSet:
    """The rules of one kind."""

    kind: str
    default: Callable[[JsonObject, JsonObject | None], dict[str, Any]]
    validate: Callable[[JsonObject, JsonObject | None], list[FieldError]]
    needs: Callable[[JsonObject, JsonObject | None], Needs] = lambda obj, old: Needs()
    validate_facts: Callable[[JsonObject, JsonObject | None, Facts], list[FieldError]] = (
        lambda obj, old, facts: []
    )
    node_needs: Callable[
        [JsonObject, JsonObject | None, Mapping[str, JsonObject | None]], tuple[str, ...]
    ] = lambda obj, old, pods: ()
    """The Nodes to read once the pods of :attr:`needs` were read (a CRR's pod's Node)."""
    inject: Callable[[JsonObject, Facts], dict[str, Any]] | None = None
    """What the mutating webhook adds from the facts once the object passed (a CRR's pod details)."""
    mutating_only: bool = False
    """kruise checks the kind in its mutating webhook and registers no validating one (the checks
    apply to the object as sent, before :attr:`inject` fills in read-only fields)."""


def _cloneset_needs(obj: JsonObject, old: JsonObject | None) -> Needs:
    return Needs(pods=cloneset.new_pods_to_delete(obj, old))


def _cloneset_facts(obj: JsonObject, old: JsonObject | None, facts: Facts) -> list[FieldError]:
    return cloneset.validate_pods_to_delete(obj, old, facts.pods)


def _pub_needs(obj: JsonObject, old: JsonObject | None) -> Needs:
    return Needs(pubs=True)


def _pub_facts(obj: JsonObject, old: JsonObject | None, facts: Facts) -> list[FieldError]:
    return podunavailablebudget.validate_conflict(obj, facts.pubs) if facts.pubs is not None else []


def _crr_needs(obj: JsonObject, old: JsonObject | None) -> Needs:
    return Needs(pods=containerrecreaterequest.needs_pod(obj, old))


def _crr_facts(obj: JsonObject, old: JsonObject | None, facts: Facts) -> list[FieldError]:
    return containerrecreaterequest.validate_pod(obj, old, facts.pods, facts.nodes)


def _crr_inject(obj: JsonObject, facts: Facts) -> dict[str, Any]:
    names = containerrecreaterequest.needs_pod(obj, None)
    pod = facts.pods.get(names[0]) if names else None
    if pod is None:
        return dict(obj)
    node_name = _dict_get(pod, "spec", "nodeName")
    node = (facts.nodes or {}).get(node_name) if node_name else None
    return containerrecreaterequest.inject(obj, pod, node)


def _dict_get(obj: JsonObject, *path: str) -> str:
    value: Any = obj
    for member in path:
        value = value.get(member) if isinstance(value, Mapping) else None
    return str(value) if isinstance(value, str) else ""


def _statefulset_needs(obj: JsonObject, old: JsonObject | None) -> Needs:
    return Needs(storage_classes=statefulset.resize_storage_classes(obj, old))


def _statefulset_facts(obj: JsonObject, old: JsonObject | None, facts: Facts) -> list[FieldError]:
    # kruise checks the claim templates only once the rest passed, and only with the gate on
    if facts.storage_classes is None or statefulset.validate_statefulset(obj, old):
        return []
    return statefulset.validate_claim_resize(obj, old, facts.storage_classes)


RULES: Mapping[str, RuleSet] = {
    rule.kind: rule
    for rule in (
        RuleSet(
            "CloneSet",
            cloneset.default_cloneset,
            cloneset.validate_cloneset,
            _cloneset_needs,
            _cloneset_facts,
        ),
        RuleSet(
            "StatefulSet",
            statefulset.default_statefulset,
            statefulset.validate_statefulset,
            _statefulset_needs,
            _statefulset_facts,
        ),
        RuleSet("BroadcastJob", broadcastjob.default_broadcastjob, broadcastjob.validate_broadcastjob),
        RuleSet(
            "AdvancedCronJob",
            advancedcronjob.default_advancedcronjob,
            advancedcronjob.validate_advancedcronjob,
        ),
        RuleSet(
            "PodUnavailableBudget",
            podunavailablebudget.default_pub,
            podunavailablebudget.validate_pub,
            _pub_needs,
            _pub_facts,
        ),
        RuleSet("SidecarSet", sidecarset.default_sidecarset, sidecarset.validate_sidecarset),
        RuleSet(
            "ContainerRecreateRequest",
            containerrecreaterequest.default_crr,
            containerrecreaterequest.validate_crr,
            _crr_needs,
            _crr_facts,
            node_needs=containerrecreaterequest.needs_node,
            inject=_crr_inject,
            mutating_only=True,
        ),
        RuleSet("ImagePullJob", imagepull.default_imagepulljob, imagepull.validate_imagepulljob),
        RuleSet("ImageListPullJob", imagepull.default_imagelistpulljob, imagepull.validate_imagelistpulljob),
        RuleSet("NodeImage", imagepull.default_nodeimage, imagepull.validate_nodeimage),
        RuleSet(
            "UnitedDeployment",
            uniteddeployment.default_uniteddeployment,
            uniteddeployment.validate_uniteddeployment,
        ),
    )
}


def kinds() -> frozenset[str]:
    """The kinds (``apps.kruise.io`` / ``policy.kruise.io``) with a rule set here."""
    return frozenset(RULES)


def _rules(kind: str) -> RuleSet:
    try:
        return RULES[kind]
    except KeyError:
        raise KeyError(f"no rules for kind {kind!r}; kinds with rules: {sorted(RULES)}") from None


def default(kind: str, obj: JsonObject, old: JsonObject | None = None) -> dict[str, Any]:
    """A defaulted copy of ``obj`` (kruise's mutating webhook); ``obj`` is not changed."""
    return _rules(kind).default(obj, old)


def rule_set(kind: str) -> RuleSet:
    """The rule set of ``kind`` (KeyError naming the kinds there are)."""
    return _rules(kind)


def needs(kind: str, obj: JsonObject, old: JsonObject | None = None) -> Needs:
    """What :func:`validate` wants read from the API for this object (often nothing)."""
    return _rules(kind).needs(obj, old)


def node_needs(
    kind: str, obj: JsonObject, old: JsonObject | None, pods: Mapping[str, JsonObject | None]
) -> tuple[str, ...]:
    """The Nodes :func:`validate` wants read once the pods :func:`needs` named were read."""
    return _rules(kind).node_needs(obj, old, pods)


def validate(
    kind: str, obj: JsonObject, old: JsonObject | None = None, facts: Facts | None = None
) -> list[FieldError]:
    """kruise's validation of ``obj`` (a create when ``old`` is ``None``, else an update), in kruise's
    order. Validate the defaulted object, as kruise does (mutating webhooks run first)."""
    rules = _rules(kind)
    errors = rules.validate(obj, old)
    if facts is not None:
        errors.extend(rules.validate_facts(obj, old, facts))
    return errors


__all__ = [
    "ErrorType",
    "Facts",
    "FieldError",
    "Needs",
    "RuleSet",
    "aggregate_message",
    "default",
    "kinds",
    "needs",
    "node_needs",
    "rule_set",
    "validate",
]
