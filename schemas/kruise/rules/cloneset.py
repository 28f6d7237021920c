"""CloneSet's rules: kruise's defaults (``SetDefaultsCloneSet``) and validation
(``pkg/webhook/cloneset/validating``).

:func:`default_cloneset` fills what kruise's mutating webhook fills (replicas 1, revisionHistoryLimit
10, updateStrategy type ReCreate / partition 0 / maxUnavailable 20% / maxSurge 0, an empty
``inPlaceUpdateStrategy`` for the InPlace* types, and the core/v1 pod defaults of the template when it
is new or changed, :mod:`schemas.kruise.rules.podspec`). :func:`validate_cloneset` is kruise's
``validateCloneSet`` / ``validateCloneSetUpdate`` with its messages, except what needs the API
(``podsToDelete`` pods must exist, run and belong to the CloneSet: :func:`validate_pods_to_delete`
takes them as data) and the core pod template validation (``ValidatePodTemplateSpec``; the API
server applies it to every pod created from the template). Pure; dispatched by ``rules``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from schemas.kruise.base import Cel
from schemas.kruise.rules import cel, meta
from schemas.kruise.rules.errors import (
    FieldError,
    forbidden,
    int_or_string,
    invalid,
    not_supported,
    required,
    string_map,
)
from schemas.kruise.rules.jsondiff import create_patch
from schemas.kruise.rules.podspec import default_pod_template, pruned_empty

DEFAULT_MAX_UNAVAILABLE = "20%"
UPDATE_TYPES = ("ReCreate", "InPlaceIfPossible", "InPlaceOnly")
MAX_INT32 = 2**31 - 1
#: The spec fields an update may change (``validateCloneSetUpdate``); any other change is refused.
MUTABLE_SPEC_FIELDS = frozenset(
    {
        "replicas",
        "template",
        "scaleStrategy",
        "updateStrategy",
        "minReadySeconds",
        "lifecycle",
        "revisionHistoryLimit",
        "volumeClaimTemplates",
        "progressDeadlineSeconds",
    }
)
SELECTOR_MISMATCH = meta.SELECTOR_MISMATCH
EMPTY_SELECTOR = "empty selector is invalid for cloneset"
RESTART_POLICY_SUPPORTED = ("Always",)
ACTIVE_DEADLINE_FORBIDDEN = "activeDeadlineSeconds in cloneset is not Supported"
BOTH_LESS_THAN_ONE = "maxUnavailable and maxSurge should not both be less than 1"
IN_PLACE_ONLY_SURGE = "can not use maxSurge with strategy type InPlaceOnly"
PROGRESS_DEADLINE = "must be greater than minReadySeconds"
UPDATE_TYPE = "must be 'ReCreate', InPlaceIfPossible or 'InPlaceOnly'"
SPEC_UPDATE_FORBIDDEN = (
    "updates to cloneset spec for fields other than 'replicas', 'template', 'lifecycle', 'scaleStrategy', "
    "'updateStrategy', 'minReadySeconds', 'progressDeadlineSeconds', 'volumeClaimTemplates' and "
    "'revisionHistoryLimit' are forbidden"
)

JsonDict = dict[str, Any]


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def default_cloneset(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> JsonDict:
    """The CloneSet as kruise's mutating webhook stores it (feature gate TemplateNoDefaults off)."""
    out: JsonDict = copy.deepcopy(dict(obj))
    spec: JsonDict = out.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("scaleStrategy", {})  # a struct: Go always writes it
    old_template = _dict(old.get("spec")).get("template") if old is not None else None
    if old is None or pruned_empty(old_template) != pruned_empty(spec.get("template")):
        template = spec.get("template")
        if isinstance(template, Mapping):
            spec["template"] = default_pod_template(template)
        claims = spec.get("volumeClaimTemplates")
        if isinstance(claims, list):
            spec["volumeClaimTemplates"] = [default_claim_template(c) for c in claims]
    strategy: JsonDict = spec.setdefault("updateStrategy", {})
    kind = strategy.get("type") or ""
    if kind == "":
        strategy["type"] = "ReCreate"
    elif kind in ("InPlaceIfPossible", "InPlaceOnly") and strategy.get("inPlaceUpdateStrategy") is None:
        strategy["inPlaceUpdateStrategy"] = {}
    for key, value in (("partition", 0), ("maxUnavailable", DEFAULT_MAX_UNAVAILABLE), ("maxSurge", 0)):
        if strategy.get(key) is None:
            strategy[key] = value
    return out


def default_claim_template(claim: object) -> object:
    """``SetDefaults_PersistentVolumeClaim`` (status phase Pending), in Go's encoding."""
    if not isinstance(claim, Mapping):
        return claim
    out: JsonDict = copy.deepcopy(dict(claim))
    metadata: JsonDict = out.setdefault("metadata", {})
    metadata.setdefault("creationTimestamp", None)
    status: JsonDict = out.setdefault("status", {})
    status.setdefault("phase", "Pending")
    return out


def _scaled(value: object, replicas: int, path: str, name: str, errors: list[FieldError]) -> int:
    try:
        return meta.scaled_value(value, replicas, round_up=True)
    except meta.IntOrPercentError as err:
        errors.append(invalid(path, str(value), f"failed GetScaledValueFromIntOrPercent for {name}: {err}"))
        return 0


def _update_strategy(strategy: Mapping[str, Any], replicas: int, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    kind = strategy.get("type") or ""
    if kind not in UPDATE_TYPES:
        errors.append(invalid(f"{path}.type", str(kind), UPDATE_TYPE))
    partition = _scaled(strategy.get("partition"), replicas, f"{path}.partition", "partition", errors)
    errors.extend(meta.nonnegative(partition, f"{path}.partition"))
    if (problem := priority_strategy_error(strategy.get("priorityStrategy"))) is not None:
        errors.append(required(f"{path}.priorityStrategy", problem))
    if (problem := scatter_strategy_error(strategy.get("scatterStrategy"))) is not None:
        errors.append(required(f"{path}.scatterStrategy", problem))
    max_unavailable = 0
    if strategy.get("maxUnavailable") is not None:
        value = strategy["maxUnavailable"]
        max_unavailable = _scaled(value, replicas, f"{path}.maxUnavailable", "maxUnavailable", errors)
    max_surge = 0
    if strategy.get("maxSurge") is not None:
        value = strategy["maxSurge"]
        max_surge = _scaled(value, replicas, f"{path}.maxSurge", "maxSurge", errors)
        if kind == "InPlaceOnly" and max_surge > 0:
            errors.append(invalid(f"{path}.maxSurge", str(value), IN_PLACE_ONLY_SURGE))
    if replicas > 0 and max_unavailable < 1 and max_surge < 1:
        errors.append(
            invalid(
                f"{path}.maxUnavailable",
                int_or_string(strategy.get("maxUnavailable")),
                BOTH_LESS_THAN_ONE,
            )
        )
    return errors


def priority_strategy_error(strategy: object) -> str | None:
    """``UpdatePriorityStrategy.FieldsValidation`` (apps/pub)."""
    if not isinstance(strategy, Mapping):
        return None
    weights, orders = strategy.get("weightPriority") or [], strategy.get("orderPriority") or []
    if weights and orders:
        return "only one of weightPriority and orderPriority can be used"
    for term in weights:
        term = _dict(term)
        weight = term.get("weight", 0)
        if not isinstance(weight, int) or weight < 0 or weight > 100:
            return "weight must be valid number in the range 1-100"
        selector = _dict(term.get("matchSelector"))
        if meta.selector_is_empty(selector):
            return "selector can not be empty"
        if (problem := meta.selector_as_selector_error(selector)) is not None:
            return f"invalid selector {problem}"
    for term in orders:
        if not _dict(term).get("orderedKey"):
            return "order key can not be empty"
    return None


def scatter_strategy_error(strategy: object) -> str | None:
    """``UpdateScatterStrategy.FieldsValidation`` (apps/v1alpha1)."""
    seen: set[tuple[str, str]] = set()
    for term in strategy if isinstance(strategy, list) else ():
        term = _dict(term)
        key, value = str(term.get("key") or ""), str(term.get("value") or "")
        if not key:
            return "key should not be empty"
        if (key, value) in seen:
            return f"duplicated key={key} value={value}"
        seen.add((key, value))
    return None


def _spec_errors(spec: Mapping[str, Any], old_spec: Mapping[str, Any] | None) -> list[FieldError]:
    errors: list[FieldError] = []
    replicas = spec.get("replicas", 1)
    replicas = replicas if isinstance(replicas, int) else 0
    errors.extend(meta.nonnegative(replicas, "spec.replicas"))
    selector = spec.get("selector")
    errors.extend(meta.workload_selector_errors(selector, "spec.selector", EMPTY_SELECTOR))
    template = _dict(spec.get("template"))
    labels = _dict(template.get("metadata")).get("labels")
    convertible = isinstance(selector, Mapping) and meta.selector_as_selector_error(selector) is None
    if (
        isinstance(selector, Mapping)
        and convertible
        and not meta.selector_is_empty(selector)
        and not meta.selector_matches(selector, _dict(labels))
    ):
        errors.append(
            invalid(
                "spec.template.metadata.labels",
                string_map(labels),
                SELECTOR_MISMATCH,
            )
        )
    if convertible:
        errors.extend(_template_metadata_errors(_dict(template.get("metadata"))))
    pod_spec = _dict(template.get("spec"))
    restart = pod_spec.get("restartPolicy") or ""
    if restart not in ("", "Always"):
        errors.append(
            not_supported("spec.template.spec.restartPolicy", str(restart), RESTART_POLICY_SUPPORTED)
        )
    if pod_spec.get("activeDeadlineSeconds") is not None:
        errors.append(
            forbidden(
                "spec.template.spec.activeDeadlineSeconds",
                ACTIVE_DEADLINE_FORBIDDEN,
            )
        )
    errors.extend(_scale_strategy(_dict(spec.get("scaleStrategy")), "spec.scaleStrategy"))
    errors.extend(_update_strategy(_dict(spec.get("updateStrategy")), replicas, "spec.updateStrategy"))
    deadline = spec.get("progressDeadlineSeconds")
    if isinstance(deadline, int):
        errors.extend(meta.nonnegative(deadline, "spec.progressDeadlineSeconds"))
        min_ready = spec.get("minReadySeconds") or 0
        if deadline != MAX_INT32 and deadline <= min_ready:
            errors.append(invalid("spec.progressDeadlineSeconds", deadline, PROGRESS_DEADLINE))
    return errors


def _template_metadata_errors(metadata: Mapping[str, Any]) -> list[FieldError]:
    """The metadata part of ``ValidatePodTemplateSpec`` (labels, annotation keys; its paths are
    ``spec.template.labels`` / ``.annotations``); the rest of the core pod validation is the API
    server's when it creates each pod."""
    errors = meta.validate_labels(metadata.get("labels"), "spec.template.labels")
    path = "spec.template.annotations"
    for key in _dict(metadata.get("annotations")):
        errors.extend(invalid(path, str(key), m) for m in meta.qualified_name_errors(str(key).lower()))
    return errors


def _scale_strategy(strategy: Mapping[str, Any], path: str) -> list[FieldError]:
    names = [str(n) for n in strategy.get("podsToDelete") or ()]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        listed = " ".join(duplicated)
        return [invalid(f"{path}.podsToDelete", names, f"duplicated items [{listed}]")]
    return []


def new_pods_to_delete(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The ``podsToDelete`` names an update adds (kruise looks each one up), sorted."""
    names = set(_dict(_dict(obj.get("spec")).get("scaleStrategy")).get("podsToDelete") or ())
    if old is not None:
        names -= set(_dict(_dict(old.get("spec")).get("scaleStrategy")).get("podsToDelete") or ())
    return tuple(sorted(str(n) for n in names))


def validate_pods_to_delete(
    obj: Mapping[str, Any], old: Mapping[str, Any] | None, pods: Mapping[str, Mapping[str, Any] | None]
) -> list[FieldError]:
    """kruise's ``podsToDelete`` lookups: each newly listed pod (``pods[name]``, ``None`` when the
    lookup found nothing) must exist, not be terminating, and be controlled by this CloneSet."""
    errors: list[FieldError] = []
    path = "spec.scaleStrategy.podsToDelete"
    uid = _dict(obj.get("metadata")).get("uid")
    for name in new_pods_to_delete(obj, old):
        pod = pods.get(name)
        if pod is None:
            detail = f'find pod {name} failed: pods "{name}" not found'
            errors.append(invalid(path, name, detail))
            continue
        meta_ = _dict(pod.get("metadata"))
        owner = next((r for r in meta_.get("ownerReferences") or () if _dict(r).get("controller")), None)
        if meta_.get("deletionTimestamp") is not None:
            errors.append(invalid(path, name, f"find pod {name} already terminating"))
        elif owner is None or _dict(owner).get("uid") != uid:
            errors.append(invalid(path, name, f"find pod {name} owner is not this CloneSet"))
    return errors


def _in_place_only_error(old_spec: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """``clonesetcore.ValidateCloneSetUpdate``: InPlaceOnly allows only image changes."""
    if _dict(spec.get("updateStrategy")).get("type") != "InPlaceOnly":
        return None
    old_pod = pruned_empty(_dict(_dict(old_spec.get("template")).get("spec")))
    new_pod = pruned_empty(_dict(_dict(spec.get("template")).get("spec")))
    for op in create_patch(_dict(old_pod), _dict(new_pod)):
        parts = op.path.split("/")
        is_image = len(parts) == 4 and parts[1] == "containers" and parts[2].isdigit() and parts[3] == "image"
        if op.op != "replace" or not is_image:
            return f"only allowed to update images in spec for InPlaceOnly, but found {op.op} {op.path}"
    return None


def validate_cloneset(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[FieldError]:
    """kruise's ``validateCloneSet`` (create) or ``validateCloneSetUpdate`` (update), in kruise's order."""
    spec = _dict(obj.get("spec"))
    errors: list[FieldError] = []
    if old is not None:
        old_spec = _dict(old.get("spec"))
        fixed = {k: pruned_empty(v) for k, v in spec.items() if k not in MUTABLE_SPEC_FIELDS}
        old_fixed = {k: pruned_empty(v) for k, v in old_spec.items() if k not in MUTABLE_SPEC_FIELDS}
        if {k: v for k, v in fixed.items() if v is not None} != {
            k: v for k, v in old_fixed.items() if v is not None
        }:
            errors.append(forbidden("spec", SPEC_UPDATE_FORBIDDEN))
        if (problem := _in_place_only_error(old_spec, spec)) is not None:
            errors.append(forbidden("spec", problem))
    errors.extend(_spec_errors(spec, _dict(old.get("spec")) if old is not None else None))
    return errors


# -- the same rules as CEL, for the CRD (schemas/kruise/cloneset.py attaches them) ---------------

_REPLICAS = "(has(self.replicas) ? self.replicas : 1)"


def _strategy_field(name: str) -> str:
    return f"self.updateStrategy.{name}"


def _has_strategy_field(name: str) -> str:
    return f"(has(self.updateStrategy) && has(self.updateStrategy.{name}))"


#: Rules on ``spec`` (cross-field: they need replicas and the strategy together, or the old spec).
#: An absent field passes: the CRD's defaults fill it first (20% maxUnavailable passes), and where
#: the spec is an undefaulted template (UnitedDeployment's cloneSetTemplate) the defaults come later.
SPEC_CEL = (
    Cel(
        f"{_REPLICAS} <= 0 || !{_has_strategy_field('maxUnavailable')}"
        f" || !{cel.scaled_at_most_zero(_strategy_field('maxUnavailable'), _REPLICAS)}"
        f" || ({_has_strategy_field('maxSurge')}"
        f" && !{cel.scaled_at_most_zero(_strategy_field('maxSurge'), _REPLICAS)})",
        BOTH_LESS_THAN_ONE,
        field_path=".updateStrategy.maxUnavailable",
    ),
    Cel(
        f"!{_has_strategy_field('type')} || self.updateStrategy.type != 'InPlaceOnly'"
        f" || !{_has_strategy_field('maxSurge')}"
        f" || {cel.scaled_at_most_zero(_strategy_field('maxSurge'), _REPLICAS)}",
        IN_PLACE_ONLY_SURGE,
        field_path=".updateStrategy.maxSurge",
    ),
    Cel(
        f"!{_has_strategy_field('partition')}"
        f" || {cel.scaled_not_negative(_strategy_field('partition'), _REPLICAS)}",
        meta.NEGATIVE_MSG,
        field_path=".updateStrategy.partition",
    ),
    Cel(
        "!has(self.progressDeadlineSeconds) || self.progressDeadlineSeconds == 2147483647"
        " || self.progressDeadlineSeconds > (has(self.minReadySeconds) ? self.minReadySeconds : 0)",
        PROGRESS_DEADLINE,
        field_path=".progressDeadlineSeconds",
    ),
    Cel("self.selector == oldSelf.selector", SPEC_UPDATE_FORBIDDEN),
)

#: Rules on ``spec.template`` (its ``spec.restartPolicy`` and ``spec.activeDeadlineSeconds`` are typed).
TEMPLATE_CEL = (
    Cel(
        "!has(self.spec) || !has(self.spec.restartPolicy) || self.spec.restartPolicy in ['', 'Always']",
        "supported values: " + ", ".join(f'"{v}"' for v in RESTART_POLICY_SUPPORTED),
        field_path=".spec.restartPolicy",
    ),
    Cel(
        "!has(self.spec) || !has(self.spec.activeDeadlineSeconds)",
        ACTIVE_DEADLINE_FORBIDDEN,
        field_path=".spec.activeDeadlineSeconds",
    ),
)
TEMPLATE_TYPED = ("metadata.labels", "spec.restartPolicy=string", "spec.activeDeadlineSeconds=integer")
PARTITION_CEL = cel.int_or_percent_rules("partition")
MAX_UNAVAILABLE_CEL = cel.int_or_percent_rules("maxUnavailable")
MAX_SURGE_CEL = cel.int_or_percent_rules("maxSurge")
