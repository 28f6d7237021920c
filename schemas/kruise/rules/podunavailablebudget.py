"""PodUnavailableBudget's rules (``policy.kruise.io``): kruise's validation
(``pkg/webhook/podunavailablebudget/validating``); kruise has no defaulting webhook for it.

Checked, with kruise's messages: the protect-operation and total-replicas annotations, exactly one of
``selector`` / ``targetRef`` (a valid, non-empty selector; a complete targetRef with a parsable
apiVersion), exactly one of ``maxUnavailable`` / ``minAvailable`` (a non-negative int or ``N%`` up
to 100%), and on an update that selector and targetRef did not change; given the namespace's other
PUBs (:func:`validate_conflict`, the ``pubs`` fact), that no other one has the same target (group,
kind, name) or a selector that loosely overlaps (kruise's ``IsSelectorLooseOverlap``: the same keys,
each pair of requirements able to match one value), so a pod is never covered by two PUBs.
kruise answers a refusal with HTTP 400; Flotilla answers 422 with the same text. Pure; dispatched by
``rules``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from schemas.kruise.rules import meta
from schemas.kruise.rules.errors import ErrorType, FieldError, GoValue, go_quote, invalid, required
from schemas.kruise.rules.podspec import pruned_empty

PROTECT_OPERATIONS_ANNOTATION = "kruise.io/pub-protect-operations"
PROTECT_TOTAL_REPLICAS_ANNOTATION = "pub.kruise.io/protect-total-replicas"
OPERATIONS = ("UPDATE", "DELETE", "EVICT", "RESIZE")
NO_TARGET = "no selector or targetRef defined in PodUnavailableBudget"
BOTH_TARGETS = "selector and targetRef are mutually exclusive"
EMPTY_TARGET = "empty TargetReference is not valid for PodUnavailableBudget."
EMPTY_SELECTOR = "empty selector is not valid for PodUnavailableBudget."
NO_BUDGET = "no maxUnavailable or minAvailable defined in PodUnavailableBudget"
BOTH_BUDGETS = "maxUnavailable and minAvailable are mutually exclusive"
TARGET_CHANGED = "selector and targetRef cannot be modified"
CONFLICT = "is in conflict with other PodUnavailableBudget"

JsonDict = dict[str, Any]


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def default_pub(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> JsonDict:
    """kruise registers no defaulting for PodUnavailableBudget: the object as sent."""
    return copy.deepcopy(dict(obj))


def _target_ref(ref: Mapping[str, Any]) -> GoValue:
    fields = ", ".join(
        f"{k[0].upper()}{k[1:]}:{go_quote(str(ref.get(k) or ''))}" for k in ("apiVersion", "kind", "name")
    )
    return GoValue(f"v1alpha1.TargetReference{{{fields.replace('ApiVersion', 'APIVersion')}}}")


def _group_version_error(api_version: str) -> str | None:
    """``schema.ParseGroupVersion``: empty or ``v``/``g/v``; more than one ``/`` is an error."""
    if api_version.count("/") > 1:
        return f"unexpected GroupVersion string: {api_version}"
    return None


def _internal(path: str, detail: str) -> FieldError:
    return FieldError(ErrorType.INTERNAL, path, detail, "")


def validate_pub(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[FieldError]:
    """kruise's ``validatingPodUnavailableBudgetFn`` without the namespace-wide conflict check."""
    errors: list[FieldError] = []
    annotations = _dict(_dict(obj.get("metadata")).get("annotations"))
    if PROTECT_OPERATIONS_ANNOTATION in annotations:
        for operation in str(annotations[PROTECT_OPERATIONS_ANNOTATION]).split(","):
            if operation not in OPERATIONS:
                errors.append(
                    _internal("metadata", f"annotation[{PROTECT_OPERATIONS_ANNOTATION}] is invalid")
                )
    if PROTECT_TOTAL_REPLICAS_ANNOTATION in annotations:
        text = str(annotations[PROTECT_TOTAL_REPLICAS_ANNOTATION])
        if not re.fullmatch(r"[+-]?[0-9]+", text) or not -(2**31) <= int(text) < 2**31:
            errors.append(
                _internal("metadata", f"annotation[{PROTECT_TOTAL_REPLICAS_ANNOTATION}] is invalid")
            )
    spec = _dict(obj.get("spec"))
    selector, ref = spec.get("selector"), spec.get("targetRef")
    if selector is None and ref is None:
        errors.append(required("spec.selector, targetRef", NO_TARGET))
    elif selector is not None and ref is not None:
        errors.append(required("spec.selector, targetRef", BOTH_TARGETS))
    elif ref is not None:
        ref = _dict(ref)
        if not ref.get("apiVersion") or not ref.get("name") or not ref.get("kind"):
            errors.append(invalid("spec.TargetReference", _target_ref(ref), EMPTY_TARGET))
        if (problem := _group_version_error(str(ref.get("apiVersion") or ""))) is not None:
            errors.append(invalid("spec.TargetReference", _target_ref(ref), problem))
    else:
        selector = _dict(selector)
        errors.extend(meta.validate_label_selector(selector, "spec.selector"))
        if meta.selector_is_empty(selector):
            errors.append(invalid("spec.selector", meta.go_selector(selector), EMPTY_SELECTOR))
        if meta.selector_as_selector_error(selector) is not None:
            errors.append(invalid("spec.selector", meta.go_selector(selector), ""))
    max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
    if max_unavailable is None and min_available is None:
        errors.append(required("spec.maxUnavailable, minAvailable", NO_BUDGET))
    elif max_unavailable is not None and min_available is not None:
        errors.append(required("spec.maxUnavailable, minAvailable", BOTH_BUDGETS))
    else:
        name, value = (
            ("maxUnavailable", max_unavailable)
            if max_unavailable is not None
            else ("minAvailable", min_available)
        )
        errors.extend(meta.positive_int_or_percent(value, f"spec.{name}"))
        errors.extend(meta.not_more_than_100_percent(value, f"spec.{name}"))
    if old is not None:
        old_spec = _dict(old.get("spec"))
        if any(not _deep_equal(spec.get(k), old_spec.get(k)) for k in ("selector", "targetRef")):
            errors.append(required("spec.selector, targetRef", TARGET_CHANGED))
    return errors


def _deep_equal(a: object, b: object) -> bool:
    """``reflect.DeepEqual`` of two decoded values, near enough: empty and absent members alike."""
    return pruned_empty(a) == pruned_empty(b)


def _requirements(selector: Mapping[str, Any]) -> dict[str, tuple[str, list[str]]]:
    """kruise ``convertSelectorToMatchExpressions``: key -> (operator, values); matchLabels win."""
    out: dict[str, tuple[str, list[str]]] = {}
    for expr in (_dict(e) for e in selector.get("matchExpressions") or ()):
        out[str(expr.get("key"))] = (str(expr.get("operator")), [str(v) for v in expr.get("values") or ()])
    for key, value in _dict(selector.get("matchLabels")).items():
        out[str(key)] = ("In", [str(value)])
    return out


def _requirement_overlap(one: tuple[str, Sequence[str]], two: tuple[str, Sequence[str]]) -> bool:
    """kruise ``isMatchExpOverlap`` (not symmetric; kruise asks both ways)."""
    (op1, values1), (op2, values2) = one, two
    if op1 == "In":
        return (
            op2 == "Exists"
            or (op2 == "In" and bool(set(values1) & set(values2)))
            or (op2 == "NotIn" and not set(values1) <= set(values2))
        )
    if op1 == "Exists":
        return op2 in ("In", "NotIn", "Exists")
    if op1 == "NotIn":
        if op2 in ("Exists", "DoesNotExist", "NotIn"):
            return True
        return op2 == "In" and not set(values2) <= set(values1)
    if op1 == "DoesNotExist":
        return op2 in ("DoesNotExist", "NotIn")
    return False


def selectors_loosely_overlap(one: Mapping[str, Any], two: Mapping[str, Any]) -> bool:
    """kruise ``util.IsSelectorLooseOverlap``."""
    first, second = _requirements(one), _requirements(two)
    if set(first) != set(second):
        return False
    return all(
        _requirement_overlap(first[k], second[k]) and _requirement_overlap(second[k], first[k]) for k in first
    )


def _group(api_version: object) -> str:
    text = str(api_version or "")
    return text.partition("/")[0] if "/" in text else ""


def validate_conflict(obj: Mapping[str, Any], others: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """kruise's ``validatePubConflict``: the first other PUB of the namespace with the same target,
    or (both by selector) a loosely overlapping selector, refuses ``obj``."""
    name = _dict(obj.get("metadata")).get("name")
    spec = _dict(obj.get("spec"))
    ref, selector = spec.get("targetRef"), spec.get("selector")
    for other in others:
        other_name = _dict(other.get("metadata")).get("name")
        if other_name == name:
            continue
        other_spec = _dict(other.get("spec"))
        other_ref, other_selector = other_spec.get("targetRef"), other_spec.get("selector")
        if ref is not None and other_ref is not None:
            a, b = _dict(ref), _dict(other_ref)
            same = (_group(a.get("apiVersion")), a.get("kind"), a.get("name")) == (
                _group(b.get("apiVersion")),
                b.get("kind"),
                b.get("name"),
            )
            if same:
                message = f"pub.spec.targetReference {CONFLICT} {other_name}"
                return [invalid("spec.targetReference", _target_ref(a), message)]
        elif (
            selector is not None
            and other_selector is not None
            and selectors_loosely_overlap(_dict(selector), _dict(other_selector))
        ):
            message = f"pub.spec.selector {CONFLICT} {other_name}"
            return [invalid("spec.selector", meta.go_selector(_dict(selector)), message)]
    return []
