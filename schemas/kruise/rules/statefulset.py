"""Advanced StatefulSet's rules: kruise's defaults (``SetDefaultsStatefulSet``) and validation
(``pkg/webhook/statefulset/validating``), for ``apps.kruise.io`` v1beta1 and v1alpha1 alike (kruise
converts a v1alpha1 object to v1beta1 before it defaults or validates; the fields these rules read
have the same names and meanings in both versions).

:func:`default_statefulset` fills what kruise's mutating webhook fills with its default feature gates
(replicas 1, revisionHistoryLimit 10, podManagementPolicy OrderedReady, updateStrategy RollingUpdate
with partition 0 / maxUnavailable 1 / podUpdatePolicy ReCreate / minReadySeconds 0, the PVC retention
policy Retain/Retain (StatefulSetAutoDeletePVC is on by default), and the core/v1 pod defaults of the
template when it is new or changed). :func:`validate_statefulset` is kruise's ``validateStatefulSet``
plus, on an update, ``ValidateStatefulSetUpdate`` and the InPlaceOnly template check, with kruise's
messages. Not checked: object metadata (the API server validates it for every custom resource), the
core pod template (the API server validates each pod created from it) and the volume-claim resize
rules behind the StatefulSetAutoResizePVCGate gate (off by default in kruise). Where kruise prints a
pointer-holding struct as the bad value (``%#v`` shows addresses), the text elides its fields.
Pure; dispatched by ``rules``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from schemas.kruise.base import Cel
from schemas.kruise.rules import meta
from schemas.kruise.rules.cloneset import default_claim_template, priority_strategy_error
from schemas.kruise.rules.errors import (
    ErrorType,
    FieldError,
    GoValue,
    PlainError,
    forbidden,
    go_quote,
    int_or_string,
    invalid,
    not_supported,
    required,
    string_map,
)
from schemas.kruise.rules.jsondiff import create_patch
from schemas.kruise.rules.podspec import default_pod_template, pruned_empty

POD_MANAGEMENT_POLICIES = ("OrderedReady", "Parallel")
POD_UPDATE_POLICIES = ("ReCreate", "InPlaceIfPossible", "InPlaceOnly")
RETENTION_POLICIES = ("Retain", "Delete")
MAX_MIN_READY_SECONDS = 300
IN_PLACE_UPDATE_READY = "InPlaceUpdateReady"
EMPTY_SELECTOR = "empty selector is invalid for statefulset"
POD_MANAGEMENT_POLICY = "must be 'OrderedReady' or 'Parallel'"
UPDATE_STRATEGY_TYPE = "must be 'RollingUpdate' or 'OnDelete'"
ROLLING_UPDATE_ONLY = "only allowed for updateStrategy 'RollingUpdate'"
POD_UPDATE_POLICY = "must be 'ReCreate', InPlaceIfPossible or 'InPlaceOnly'"
MIN_READY_TOO_LONG = "must be no more than 300 seconds"
UNORDERED_NEEDS_PARALLEL = "unorderedUpdate can only work with Parallel PodManagementPolicyType"
MAX_UNAVAILABLE_BELOW_ONE = "should not be less than 1"
MAX_UNAVAILABLE_NEEDS_PARALLEL = "can only work with Parallel PodManagementPolicyType"
ACTIVE_DEADLINE_FORBIDDEN = "activeDeadlineSeconds in StatefulSet is not Supported"
SPEC_UPDATE_FORBIDDEN = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
    "'reserveOrdinals', 'lifecycle', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy', "
    "`volumeClaimTemplates`, `VolumeClaimUpdateStrategy` and 'updateStrategy' are forbidden"
)
#: The spec fields ``ValidateStatefulSetUpdate`` copies from the old object before comparing.
MUTABLE_SPEC_FIELDS = frozenset(
    {
        "replicas",
        "template",
        "updateStrategy",
        "persistentVolumeClaimRetentionPolicy",
        "scaleStrategy",
        "volumeClaimTemplates",
        "volumeClaimUpdateStrategy",
        "reserveOrdinals",
        "lifecycle",
        "revisionHistoryLimit",
        "ordinals",
    }
)
_PERCENT = re.compile(r"^[0-9]+%$")
_PERCENT_MSG = meta.regex_error(
    "a valid percent string must be a numeric string followed by an ending '%'", "[0-9]+%", "1%", "93%"
)
_RANGE = re.compile(r"^\d+-\d+$")
_IN_PLACE_PATCH = re.compile("/containers/([0-9]+)/image")

JsonDict = dict[str, Any]


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def default_statefulset(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> JsonDict:
    """The StatefulSet as kruise's mutating webhook stores it (default feature gates)."""
    out: JsonDict = copy.deepcopy(dict(obj))
    spec: JsonDict = out.setdefault("spec", {})
    if not spec.get("podManagementPolicy"):
        spec["podManagementPolicy"] = "OrderedReady"
    strategy: JsonDict = spec.setdefault("updateStrategy", {})
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if not isinstance(rolling, dict):
            rolling = strategy["rollingUpdate"] = {}
        for key, value in (("partition", 0), ("maxUnavailable", 1), ("minReadySeconds", 0)):
            if rolling.get(key) is None:
                rolling[key] = value
        if not rolling.get("podUpdatePolicy"):
            rolling["podUpdatePolicy"] = "ReCreate"
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if not isinstance(retention, dict):
        retention = spec["persistentVolumeClaimRetentionPolicy"] = {}
    for key in ("whenDeleted", "whenScaled"):
        if not retention.get(key):
            retention[key] = "Retain"
    spec.setdefault("volumeClaimUpdateStrategy", {})  # a struct: Go always writes it
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    old_template = _dict(old.get("spec")).get("template") if old is not None else None
    if old is None or pruned_empty(old_template) != pruned_empty(spec.get("template")):
        template = spec.get("template")
        if isinstance(template, Mapping):
            spec["template"] = default_pod_template(template)
        claims = spec.get("volumeClaimTemplates")
        if isinstance(claims, list):
            spec["volumeClaimTemplates"] = [default_claim_template(c) for c in claims]
    return out


# -- Go's %#v of the values kruise reports -------------------------------------------------------


def _go_int_or_string(value: object) -> str:
    rendered = int_or_string(value)
    return rendered.text if rendered is not None else "intstr.IntOrString{}"


def _go_ordinals(values: Sequence[object]) -> GoValue:
    return GoValue("[]intstr.IntOrString{" + ", ".join(_go_int_or_string(v) for v in values) + "}")


def _go_readiness_gates(gates: object) -> GoValue:
    if not isinstance(gates, list) or not gates:
        return GoValue("[]v1.PodReadinessGate(nil)")
    items = ", ".join(
        f"v1.PodReadinessGate{{ConditionType:{go_quote(str(_dict(g).get('conditionType') or ''))}}}"
        for g in gates
    )
    return GoValue(f"[]v1.PodReadinessGate{{{items}}}")


def _go_update_strategy(strategy: Mapping[str, Any]) -> GoValue:
    rolling = (
        "(*v1beta1.RollingUpdateStatefulSetStrategy)(nil)"
        if strategy.get("rollingUpdate") is None
        else "(*v1beta1.RollingUpdateStatefulSetStrategy){...}"
    )
    kind = go_quote(str(strategy.get("type") or ""))
    return GoValue(f"v1beta1.StatefulSetUpdateStrategy{{Type:{kind}, RollingUpdate:{rolling}}}")


# -- validateStatefulSetSpec ----------------------------------------------------------------------


def _go_atoi_error(text: str) -> str:
    return f"strconv.Atoi: parsing {go_quote(text)}: invalid syntax"


def _parse_range_error(text: str) -> str | None:
    """``apiutil.ParseRange``'s error for ``"a-b"`` (None when it parses)."""
    parts = text.split("-")
    if len(parts) != 2:
        return f"invalid range {text}"
    for part in parts:
        if not re.fullmatch(r"[+-]?[0-9]+", part):
            return _go_atoi_error(part)
    if int(parts[0]) > int(parts[1]):
        return f"invalid range {text}"
    return None


def _reserve_ordinals(spec: Mapping[str, Any]) -> list[FieldError]:
    values = spec.get("reserveOrdinals")
    if not isinstance(values, list):
        return []
    errors: list[FieldError] = []
    shown = _go_ordinals(values)
    for i, value in enumerate(values):
        if isinstance(value, str):
            if not _RANGE.match(value):
                errors.append(invalid("spec", shown, f"{i} th reserve ordinal is not a valid range: {value}"))
            if (problem := _parse_range_error(value)) is not None:
                detail = f"{i} th reserve ordinal is invalid: {value}, err = {problem}"
                errors.append(invalid("spec", shown, detail))
        elif isinstance(value, int) and value < 0:
            errors.append(invalid("spec", shown, f"{i} th reserve ordinal is negative: {value}"))
    return errors


def _value_from_int_or_percent_error(value: object) -> str | None:
    """``intstr.GetValueFromIntOrPercent``'s error (every ``%`` removed, then ``strconv.Atoi``)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return "invalid value for IntOrString: invalid type: neither int nor percentage"
    if isinstance(value, str):
        digits = value.replace("%", "")
        if not re.fullmatch(r"[+-]?[0-9]+", digits):
            return f"invalid value for IntOrString: invalid value {go_quote(value)}: {_go_atoi_error(digits)}"
    return None


def _scaled_of_one(value: object) -> int:
    if isinstance(value, int):
        return value
    number = int(str(value).replace("%", ""))
    return -(-number // 100)  # ceil(number * 1 / 100)


def _max_unavailable(value: object, spec: Mapping[str, Any], path: str) -> list[FieldError]:
    """``validateMaxUnavailableField``: a non-negative int or a ``N%``, at least 1, and anything but
    the int 1 only with Parallel pod management."""
    errors: list[FieldError] = []
    shown = int_or_string(value)
    if isinstance(value, str):
        if not _PERCENT.match(value):
            errors.append(invalid(path, shown, _PERCENT_MSG))
    elif isinstance(value, int) and not isinstance(value, bool):
        errors.extend(meta.nonnegative(value, path))
    if (problem := _value_from_int_or_percent_error(value)) is not None:
        errors.append(invalid(path, 0, f"getValueFromIntOrPercent error: {problem}"))
    elif (scaled := _scaled_of_one(value)) < 1:
        errors.append(invalid(path, scaled, MAX_UNAVAILABLE_BELOW_ONE))
    if spec.get("podManagementPolicy") != "Parallel" and not (
        isinstance(value, int) and not isinstance(value, bool) and value == 1
    ):
        errors.append(invalid(path, shown, MAX_UNAVAILABLE_NEEDS_PARALLEL))
    return errors


def _pod_update_policy(spec: Mapping[str, Any], rolling: Mapping[str, Any]) -> list[FieldError]:
    policy = rolling.get("podUpdatePolicy") or ""
    path = "spec.updateStrategy.rollingUpdate.podUpdatePolicy"
    if policy == "":
        return [required(path)]
    if policy == "ReCreate":
        return []
    if policy in ("InPlaceIfPossible", "InPlaceOnly"):
        gates = _dict(_dict(spec.get("template")).get("spec")).get("readinessGates")
        if not any(_dict(g).get("conditionType") == IN_PLACE_UPDATE_READY for g in gates or ()):
            detail = f"must contains {IN_PLACE_UPDATE_READY} when podUpdatePolicy is {policy}"
            return [invalid("spec.template.spec.readinessGates", _go_readiness_gates(gates), detail)]
        return []
    return [invalid(path, str(policy), POD_UPDATE_POLICY)]


def _rolling_update(spec: Mapping[str, Any], rolling: Mapping[str, Any]) -> list[FieldError]:
    path = "spec.updateStrategy.rollingUpdate"
    errors: list[FieldError] = []
    partition = rolling.get("partition")
    errors.extend(meta.nonnegative(partition if isinstance(partition, int) else 0, f"{path}.partition"))
    min_ready = rolling.get("minReadySeconds")
    min_ready = min_ready if isinstance(min_ready, int) else 0
    errors.extend(meta.nonnegative(min_ready, f"{path}.minReadySeconds"))
    if min_ready > MAX_MIN_READY_SECONDS:
        errors.append(invalid(f"{path}.minReadySeconds", min_ready, MIN_READY_TOO_LONG))
    if rolling.get("maxUnavailable") is None:
        errors.append(required(f"{path}.maxUnavailable"))
    else:
        errors.extend(_max_unavailable(rolling["maxUnavailable"], spec, f"{path}.maxUnavailable"))
    errors.extend(_pod_update_policy(spec, rolling))
    unordered = rolling.get("unorderedUpdate")
    if unordered is not None:
        if spec.get("podManagementPolicy") != "Parallel":
            errors.append(required(f"{path}.unorderedUpdate", UNORDERED_NEEDS_PARALLEL))
        if (problem := priority_strategy_error(_dict(unordered).get("priorityStrategy"))) is not None:
            errors.append(required(f"{path}.unorderedUpdate.priorityStrategy", problem))
    return errors


def _update_strategy(spec: Mapping[str, Any]) -> list[FieldError]:
    strategy = _dict(spec.get("updateStrategy"))
    kind = strategy.get("type") or ""
    if kind == "":
        return [required("spec.updateStrategy")]
    if kind == "OnDelete":
        if strategy.get("rollingUpdate") is not None:
            shown = GoValue("v1beta1.RollingUpdateStatefulSetStrategy{...}")
            return [invalid("spec.updateStrategy.rollingUpdate", shown, ROLLING_UPDATE_ONLY)]
        return []
    if kind == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        return _rolling_update(spec, rolling) if isinstance(rolling, Mapping) else []
    return [invalid("spec.updateStrategy", _go_update_strategy(strategy), UPDATE_STRATEGY_TYPE)]


def _retention(policy: object) -> list[FieldError]:
    """``ValidatePersistentVolumeClaimRetentionPolicy``."""
    if not isinstance(policy, Mapping):
        return []
    path = "spec.persistentVolumeClaimRetentionPolicy"
    return [
        not_supported(f"{path}.{key}", str(policy.get(key) or ""), RETENTION_POLICIES)
        for key in ("whenDeleted", "whenScaled")
        if policy.get(key) not in RETENTION_POLICIES
    ]


def _selector(spec: Mapping[str, Any]) -> list[FieldError]:
    """``validateSpecSelector`` (the template part: ``ValidatePodTemplateSpecForStatefulSet``)."""
    errors: list[FieldError] = []
    selector = spec.get("selector")
    errors.extend(meta.workload_selector_errors(selector, "spec.selector", EMPTY_SELECTOR))
    if isinstance(selector, Mapping) and meta.selector_as_selector_error(selector) is not None:
        return errors
    template = _dict(spec.get("template"))
    metadata = _dict(template.get("metadata"))
    labels = metadata.get("labels")
    if (
        isinstance(selector, Mapping)
        and not meta.selector_is_empty(selector)
        and not meta.selector_matches(selector, _dict(labels))
    ):
        shown = string_map(labels)
        errors.append(invalid("spec.template.metadata.labels", shown, meta.SELECTOR_MISMATCH))
    errors.extend(meta.validate_labels(labels, "spec.template.labels"))
    path = "spec.template.annotations"
    for key in _dict(metadata.get("annotations")):
        errors.extend(invalid(path, str(key), m) for m in meta.qualified_name_errors(str(key).lower()))
    return errors


def _spec_errors(spec: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    policy = spec.get("podManagementPolicy") or ""
    if policy == "":
        errors.append(required("spec.podManagementPolicy"))
    elif policy not in POD_MANAGEMENT_POLICIES:
        errors.append(invalid("spec.podManagementPolicy", str(policy), POD_MANAGEMENT_POLICY))
    errors.extend(_reserve_ordinals(spec))
    scale_max = _dict(spec.get("scaleStrategy")).get("maxUnavailable")
    if scale_max is not None:
        errors.extend(_max_unavailable(scale_max, spec, "spec.scaleStrategy.maxUnavailable"))
    errors.extend(_update_strategy(spec))
    errors.extend(_retention(spec.get("persistentVolumeClaimRetentionPolicy")))
    replicas = spec.get("replicas")
    errors.extend(meta.nonnegative(replicas if isinstance(replicas, int) else 0, "spec.replicas"))
    errors.extend(_selector(spec))
    pod_spec = _dict(_dict(spec.get("template")).get("spec"))
    restart = pod_spec.get("restartPolicy") or ""
    if restart not in ("", "Always"):
        errors.append(not_supported("spec.template.spec.restartPolicy", str(restart), ("Always",)))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        errors.append(forbidden("spec.template.spec.activeDeadlineSeconds", ACTIVE_DEADLINE_FORBIDDEN))
    return errors


def _update_errors(spec: Mapping[str, Any], old_spec: Mapping[str, Any]) -> list[FieldError]:
    """``ValidateStatefulSetUpdate``: only the listed fields may change; replicas and the retention
    policy are checked again (kruise reports them twice on an update, as here)."""
    errors: list[FieldError] = []
    fixed = {k: pruned_empty(v) for k, v in spec.items() if k not in MUTABLE_SPEC_FIELDS}
    old_fixed = {k: pruned_empty(v) for k, v in old_spec.items() if k not in MUTABLE_SPEC_FIELDS}
    if {k: v for k, v in fixed.items() if v is not None} != {
        k: v for k, v in old_fixed.items() if v is not None
    }:
        errors.append(forbidden("spec", SPEC_UPDATE_FORBIDDEN))
    replicas = spec.get("replicas")
    errors.extend(meta.nonnegative(replicas if isinstance(replicas, int) else 0, "spec.replicas"))
    errors.extend(_retention(spec.get("persistentVolumeClaimRetentionPolicy")))
    return errors


def in_place_only_error(old_spec: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """kruise's refusal of an InPlaceOnly template change that is not an image change (the whole
    message: kruise answers it alone, not as a field error)."""
    rolling = _dict(_dict(spec.get("updateStrategy")).get("rollingUpdate"))
    if rolling.get("podUpdatePolicy") != "InPlaceOnly":
        return None
    old_pod = _dict(pruned_empty(_dict(_dict(old_spec.get("template")).get("spec"))))
    new_pod = _dict(pruned_empty(_dict(_dict(spec.get("template")).get("spec"))))
    for op in create_patch(old_pod, new_pod):
        if op.op != "replace" or not _IN_PLACE_PATCH.search(op.path):
            return (
                f"invalid template modified with InPlaceOnly strategy: {op.op} {op.path}, "
                "currently only image update is allowed for InPlaceOnly"
            )
    return None


def validate_statefulset(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[FieldError]:
    """kruise's validation of a create (``validateStatefulSet``) or an update (that, then
    ``ValidateStatefulSetUpdate``; an InPlaceOnly non-image template change is refused only when the
    rest passed, as kruise checks it last)."""
    spec = _dict(obj.get("spec"))
    errors = _spec_errors(spec)
    if old is None:
        return errors
    old_spec = _dict(old.get("spec"))
    errors.extend(_update_errors(spec, old_spec))
    if not errors and (problem := in_place_only_error(old_spec, spec)) is not None:
        errors.append(PlainError(ErrorType.INVALID, "spec.template", problem))
    return errors


#: ``volumeClaimUpdateStrategy`` types under which kruise checks a template change (gate
#: ``StatefulSetAutoResizePVCGate``): every type but unset and ``OnPVCDelete``.
_UNCHECKED_CLAIM_UPDATES = ("", "OnPVCDelete")
#: The storage class an unnamed claim template gets (``Needs`` / ``Facts`` key): the default one.
DEFAULT_STORAGE_CLASS_KEY = ""


def _claim_templates(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [_dict(t) for t in spec.get("volumeClaimTemplates") or []]


def storage_quantity(value: object) -> Decimal | str:
    """A storage size as kubernetes' ``resource.Quantity`` compares it (``1Gi`` equals ``1024Mi``,
    ``parse_quantity``); absent is zero (``ResourceList.Storage()``); unparsable stays its text."""
    if value is None:
        return Decimal(0)
    try:
        return Decimal(parse_quantity(value))  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, InvalidOperation):
        return str(value)


def storage_at_least(value: object, floor: object) -> bool:
    """``Quantity.Cmp(floor) >= 0`` for two storage sizes (unparsable ones: equal text only)."""
    left, right = storage_quantity(value), storage_quantity(floor)
    if isinstance(left, Decimal) and isinstance(right, Decimal):
        return left >= right
    return left == right


def claim_storage(claim: Mapping[str, Any], *path: str) -> object:
    """The ``storage`` entry under ``path`` of a PVC or claim template (None when absent)."""
    found: object = claim
    for key in path:
        found = _dict(found).get(key)
    return _dict(found).get("storage")


def _claim_storage(template: Mapping[str, Any], kind: str) -> Decimal | str:
    return storage_quantity(claim_storage(template, "spec", "resources", kind))


def claim_compatible_without_size(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """``IsClaimCompatibleWithoutSize``: same storage class (when both name one), same access modes."""
    old_spec, new_spec = _dict(old.get("spec")), _dict(new.get("spec"))
    old_class, new_class = old_spec.get("storageClassName"), new_spec.get("storageClassName")
    if old_class is not None and new_class is not None and old_class != new_class:
        return False
    return list(old_spec.get("accessModes") or []) == list(new_spec.get("accessModes") or [])


def _claim_resized(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """``isPVCResize``: the storage request or limit changed, compared as quantities (``1Gi`` ->
    ``1024Mi`` is no resize)."""
    return any(_claim_storage(old, kind) != _claim_storage(new, kind) for kind in ("requests", "limits"))


def _resized_claims(
    obj: Mapping[str, Any], old: Mapping[str, Any] | None
) -> tuple[list[FieldError], list[tuple[str, Mapping[str, Any]]]]:
    """``ValidateVolumeClaimTemplateUpdate`` up to the storage-class lookups: its first error, or
    the resized templates (with the key of the storage class each needs)."""
    if old is None:
        return [], []
    spec, old_spec = _dict(obj.get("spec")), _dict(old.get("spec"))
    strategy = _dict(spec.get("volumeClaimUpdateStrategy")).get("type") or ""
    if strategy in _UNCHECKED_CLAIM_UPDATES:
        return [], []
    templates, old_templates = _claim_templates(spec), _claim_templates(old_spec)
    if len(templates) != len(old_templates):
        detail = "volumeClaimTemplate can not be added or deleted when OnRollingUpdate"
        return [invalid("spec.volumeClaimTemplates", "", detail)], []
    by_name = {str(_dict(t.get("metadata")).get("name", "")): t for t in old_templates}
    resized: list[tuple[str, Mapping[str, Any]]] = []
    for template in templates:
        name = str(_dict(template.get("metadata")).get("name", ""))
        path = f"spec.volumeClaimTemplates[{name}]"
        previous = by_name.get(name)
        if previous is None:
            return [forbidden(f"{path}.name", "volumeClaimTemplate name can not be modified")], []
        compatible = claim_compatible_without_size(previous, template)
        if compatible and not _claim_resized(previous, template):
            continue
        if not compatible:
            detail = "volumeClaimTemplate can not be modified when OnRollingUpdate"
            return [invalid(path, "", detail)], []
        storage_class = _dict(template.get("spec")).get("storageClassName")
        resized.append((DEFAULT_STORAGE_CLASS_KEY if storage_class is None else str(storage_class), template))
    return [], resized


def resize_storage_classes(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The storage classes (:data:`DEFAULT_STORAGE_CLASS_KEY`: the default one) the resized claim
    templates of an update name, for :func:`validate_claim_resize` (read only with the gate on)."""
    errors, resized = _resized_claims(obj, old)
    return () if errors else tuple(dict.fromkeys(key for key, _ in resized))


def validate_claim_resize(
    obj: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    classes: Mapping[str, Mapping[str, Any] | None],
) -> list[FieldError]:
    """``ValidateVolumeClaimTemplateUpdate`` (gate ``StatefulSetAutoResizePVCGate``): a template
    change under an OnRollingUpdate claim strategy may only resize, and only on a storage class
    that allows expansion. ``classes``: what was read for :func:`resize_storage_classes` (None:
    not found; for the default key: no default class, and then nothing is checked)."""
    errors, resized = _resized_claims(obj, old)
    if errors:
        return errors
    for key, template in resized:
        name = str(_dict(template.get("metadata")).get("name", ""))
        path = f"spec.volumeClaimTemplates[{name}].spec"
        storage_class = classes.get(key)
        if storage_class is None:
            if key == DEFAULT_STORAGE_CLASS_KEY:
                continue
            return [invalid(f"{path}.storageClassName", key, "can not get sc")]
        if storage_class.get("allowVolumeExpansion") is False:
            class_name = _dict(storage_class.get("metadata")).get("name", key)
            detail = f"storage class {class_name} does not support volume expansion"
            return [forbidden(f"{path}.resources.requests.storage", detail)]
    return []


# -- the rules CEL can express, for the CRD (schemas/kruise/statefulset.py attaches them) ---------
# An absent field passes: the CRD's defaults fill the ones kruise defaults first (podManagementPolicy
# OrderedReady, updateStrategy type RollingUpdate, maxUnavailable 1), and where the spec is an
# undefaulted template (UnitedDeployment's statefulSetTemplate) the defaults come later.


def _max_unavailable_cel(value: str, present: str) -> tuple[Cel, ...]:
    """``validateMaxUnavailableField``'s two cross-field refusals of ``value`` (CEL on the spec)."""
    not_parallel = "has(self.podManagementPolicy) && self.podManagementPolicy != 'Parallel'"
    return (
        Cel(
            f"!({present}) || !({not_parallel}) || (type({value}) == int ? {value} == 1 : false)",
            MAX_UNAVAILABLE_NEEDS_PARALLEL,
            field_path=value.removeprefix("self"),
        ),
        Cel(
            f"!({present}) || (type({value}) == int ? {value} >= 1"
            f" : (!{value}.matches('^[0-9]+%$') || int({value}.substring(0, size({value}) - 1)) > 0))",
            MAX_UNAVAILABLE_BELOW_ONE,
            field_path=value.removeprefix("self"),
        ),
    )


_ROLLING = "self.updateStrategy.rollingUpdate"
_HAS_ROLLING = "has(self.updateStrategy) && has(self.updateStrategy.rollingUpdate)"
_ON_DELETE = "has(self.updateStrategy.type) && self.updateStrategy.type == 'OnDelete'"

#: Rules on ``spec``: kruise's ``validateStatefulSetSpec`` parts that compare fields.
SPEC_CEL = (
    Cel(
        f"!({_HAS_ROLLING}) || !({_ON_DELETE})",
        ROLLING_UPDATE_ONLY,
        field_path=".updateStrategy.rollingUpdate",
    ),
    *_max_unavailable_cel(
        f"{_ROLLING}.maxUnavailable",
        f"{_HAS_ROLLING} && !({_ON_DELETE}) && has({_ROLLING}.maxUnavailable)",
    ),
    *_max_unavailable_cel(
        "self.scaleStrategy.maxUnavailable",
        "has(self.scaleStrategy) && has(self.scaleStrategy.maxUnavailable)",
    ),
    Cel(
        f"!({_HAS_ROLLING}) || ({_ON_DELETE}) || !has({_ROLLING}.unorderedUpdate)"
        " || !has(self.podManagementPolicy) || self.podManagementPolicy == 'Parallel'",
        UNORDERED_NEEDS_PARALLEL,
        field_path=".updateStrategy.rollingUpdate.unorderedUpdate",
    ),
)

#: Rules on ``spec.template`` (``validateRestartPolicy``, ``validateActiveDeadlineSeconds``).
TEMPLATE_CEL = (
    Cel(
        "!has(self.spec) || !has(self.spec.restartPolicy) || self.spec.restartPolicy in ['', 'Always']",
        'supported values: "Always"',
        field_path=".spec.restartPolicy",
    ),
    Cel(
        "!has(self.spec) || !has(self.spec.activeDeadlineSeconds)",
        ACTIVE_DEADLINE_FORBIDDEN,
        field_path=".spec.activeDeadlineSeconds",
    ),
)
TEMPLATE_TYPED = ("metadata.labels", "spec.restartPolicy=string", "spec.activeDeadlineSeconds=integer")
#: ``rollingUpdate.minReadySeconds``: ``ValidateNonnegativeField`` and kruise's 300 s ceiling.
MIN_READY_SECONDS_CEL = (
    Cel("self >= 0", meta.NEGATIVE_MSG),
    Cel(f"self <= {MAX_MIN_READY_SECONDS}", MIN_READY_TOO_LONG),
)
