"""Checks every kind's rules share: label names and values, label selectors, int-or-percent values.

Each mirrors the apimachinery / kruise function named in its docstring, with the same messages
(``IsQualifiedName``, ``IsValidLabelValue``, ``ValidateLabelSelector``, ``ValidateNonnegativeField``,
kruise's ``util.GetScaledValueFromIntOrPercent``). Pure; called by the per-kind rule modules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from schemas.kruise.rules.errors import (
    FieldError,
    GoValue,
    aggregate_message,
    forbidden,
    go_quote,
    int_or_string,
    invalid,
    required,
    string_map,
)

_QNAME_CHAR = "[A-Za-z0-9]"
_QNAME_EXT = "[-A-Za-z0-9_.]"
QUALIFIED_NAME_FMT = f"({_QNAME_CHAR}{_QNAME_EXT}*)?{_QNAME_CHAR}"
_QUALIFIED_NAME = re.compile(f"^{QUALIFIED_NAME_FMT}$")
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
LABEL_VALUE_FMT = f"({QUALIFIED_NAME_FMT})?"
_LABEL_VALUE = re.compile(f"^{LABEL_VALUE_FMT}$")
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = f"{DNS1123_LABEL_FMT}(\\.{DNS1123_LABEL_FMT})*"
_DNS1123_SUBDOMAIN = re.compile(f"^{DNS1123_SUBDOMAIN_FMT}$")
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
NEGATIVE_MSG = "must be greater than or equal to 0"
#: kruise (CloneSet, DaemonSet, UnitedDeployment) and apps/v1 (StatefulSet) use the same text.
SELECTOR_MISMATCH = "`selector` does not match template `labels`"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """``validation.RegexError`` (its examples are joined as Go joins them: ``'a',  or 'b', ``)."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def dns1123_subdomain_errors(value: str) -> list[str]:
    """``validation.IsDNS1123Subdomain``."""
    errors = []
    if len(value) > 253:
        errors.append(max_len_error(253))
    if not _DNS1123_SUBDOMAIN.match(value):
        errors.append(regex_error(_DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errors


def qualified_name_errors(value: str) -> list[str]:
    """``validation.IsQualifiedName`` (a label key, an annotation key)."""
    errors: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + m for m in dns1123_subdomain_errors(prefix))
    else:
        example = regex_error(_QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        suffix = "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        return [f"a qualified name {example} {suffix}"]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part " + max_len_error(63))
    if not _QUALIFIED_NAME.match(name):
        errors.append(
            "name part "
            + regex_error(_QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def label_value_errors(value: str) -> list[str]:
    """``validation.IsValidLabelValue``."""
    errors = []
    if len(value) > 63:
        errors.append(max_len_error(63))
    if not _LABEL_VALUE.match(value):
        errors.append(regex_error(_LABEL_VALUE_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errors


def validate_labels(labels: object, path: str) -> list[FieldError]:
    """``ValidateLabels``: every key a qualified name, every value a label value."""
    errors: list[FieldError] = []
    if not isinstance(labels, Mapping):
        return errors
    for key, value in labels.items():
        errors.extend(invalid(path, str(key), m) for m in qualified_name_errors(str(key)))
        errors.extend(invalid(path, str(value), m) for m in label_value_errors(str(value)))
    return errors


def validate_label_selector(selector: object, path: str) -> list[FieldError]:
    """``unversionedvalidation.ValidateLabelSelector`` with default options."""
    if not isinstance(selector, Mapping):
        return []
    errors = validate_labels(selector.get("matchLabels"), f"{path}.matchLabels")
    for i, expr in enumerate(selector.get("matchExpressions") or ()):
        where = f"{path}.matchExpressions[{i}]"
        expr = expr if isinstance(expr, Mapping) else {}
        operator, values = expr.get("operator"), list(expr.get("values") or ())
        if operator in ("In", "NotIn"):
            if not values:
                errors.append(
                    required(f"{where}.values", "must be specified when `operator` is 'In' or 'NotIn'")
                )
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                errors.append(
                    forbidden(
                        f"{where}.values",
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            errors.append(invalid(f"{where}.operator", str(operator or ""), "not a valid selector operator"))
        key = str(expr.get("key") or "")
        errors.extend(invalid(f"{where}.key", key, m) for m in qualified_name_errors(key))
        for j, value in enumerate(values):
            errors.extend(
                invalid(f"{where}.values[{j}]", str(value), m) for m in label_value_errors(str(value))
            )
    return errors


def _requirement_error(key: str, operator: str, values: list[str]) -> str | None:
    """``labels.NewRequirement``'s aggregate (apimachinery v0.32, no path options): the key, the
    number of values the operator takes, then each value."""
    errors: list[FieldError] = []
    if key_errors := qualified_name_errors(key):
        errors.append(invalid("key", key, "; ".join(key_errors)))
    # LabelSelectorAsSelector passes append([]string(nil), values...): nil when there are none
    shown: object = values or GoValue("[]string(nil)")
    if operator in ("In", "NotIn") and not values:
        errors.append(invalid("values", shown, "for 'in', 'notin' operators, values set can't be empty"))
    elif operator in ("Exists", "DoesNotExist") and values:
        errors.append(invalid("values", shown, "values set must be empty for exists and does not exist"))
    for index, value in enumerate(values):
        if value_errors := label_value_errors(value):
            errors.append(invalid(f"values[{index}][{key}]", value, "; ".join(value_errors)))
    return aggregate_message(errors) or None


def selector_as_selector_error(selector: object) -> str | None:
    """``metav1.LabelSelectorAsSelector``'s error text (None: it converts): each matchLabels entry
    as an ``=`` requirement, then each expression (an operator it does not know:
    ``"<op>" is not a valid label selector operator``), the first failing requirement's
    ``labels.NewRequirement`` aggregate. Go walks matchLabels in random map order; with several
    bad labels this names the first in key order."""
    if not isinstance(selector, Mapping):
        return None
    labels = selector.get("matchLabels")
    labels = labels if isinstance(labels, Mapping) else {}
    for key, value in sorted((str(k), str(v)) for k, v in labels.items()):
        if (text := _requirement_error(key, "=", [value])) is not None:
            return text
    for expr in selector.get("matchExpressions") or ():
        expr = expr if isinstance(expr, Mapping) else {}
        operator = str(expr.get("operator") or "")
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return f"{go_operator(operator)} is not a valid label selector operator"
        values = [str(v) for v in expr.get("values") or ()]
        if (text := _requirement_error(str(expr.get("key") or ""), operator, values)) is not None:
            return text
    return None


def workload_selector_errors(selector: object, path: str, empty_message: str) -> list[FieldError]:
    """The selector checks kruise's workload webhooks share (CloneSet, Advanced StatefulSet,
    UnitedDeployment): required, a valid label selector, not empty (``empty_message``, worded per
    kind) and convertible by ``metav1.LabelSelectorAsSelector``."""
    if not isinstance(selector, Mapping):
        return [required(path)]
    errors = validate_label_selector(selector, path)
    if selector_is_empty(selector):
        errors.append(invalid(path, go_selector(selector), empty_message))
    if selector_as_selector_error(selector) is not None:
        errors.append(invalid(path, go_selector(selector), ""))
    return errors


def go_operator(operator: object) -> str:
    return go_quote(str(operator))


def selector_is_empty(selector: object) -> bool:
    """No matchLabels and no matchExpressions (``labels.Selector.Empty``): selects everything."""
    if not isinstance(selector, Mapping):
        return True
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def selector_matches(selector: Mapping[str, object], labels: Mapping[str, object]) -> bool:
    """``Selector.Matches`` of a valid selector."""
    match_labels = selector.get("matchLabels")
    if isinstance(match_labels, Mapping):
        for key, value in match_labels.items():
            if labels.get(key) != value:
                return False
    expressions = selector.get("matchExpressions")
    for expr in expressions if isinstance(expressions, list) else ():
        key, operator, values = expr.get("key"), expr.get("operator"), list(expr.get("values") or ())
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def nonnegative(value: int, path: str) -> list[FieldError]:
    """``ValidateNonnegativeField``."""
    return [invalid(path, value, NEGATIVE_MSG)] if value < 0 else []


class IntOrPercentError(ValueError):
    """An int-or-string kruise cannot scale; the text is kruise's
    (``util.GetScaledValueFromIntOrPercent``)."""


def scaled_value(value: object, total: int, *, round_up: bool) -> int:
    """kruise ``util.GetScaledValueFromIntOrPercent``: an int as is, ``"N%"`` of ``total`` (N may be a
    decimal; values above 100% are allowed), anything else an :class:`IntOrPercentError`."""
    if value is None:
        raise IntOrPercentError("nil value for IntOrString")
    if isinstance(value, bool):
        raise IntOrPercentError("invalid type: neither int nor percentage")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise IntOrPercentError("invalid type: neither int nor percentage")
    if not value.endswith("%"):
        raise IntOrPercentError("invalid type: string is not a percentage")
    number = value[:-1]
    try:
        if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", number, re.I):
            raise ValueError(number)
        parsed = float(number)
    except ValueError:
        raise IntOrPercentError(f'strconv.ParseFloat: parsing "{number}": invalid syntax') from None
    scaled = parsed * total / 100
    if math.isnan(scaled) or math.isinf(scaled):
        return -(2**63)
    return int(math.ceil(scaled) if round_up else math.floor(scaled))


def go_selector(selector: Mapping[str, object]) -> GoValue:
    """A dereferenced ``*metav1.LabelSelector``'s ``%#v`` (expressions elided: Go prints their
    pointers' targets field by field, which no user reads)."""
    labels = selector.get("matchLabels")
    expressions = (
        "[]v1.LabelSelectorRequirement(nil)"
        if not selector.get("matchExpressions")
        else "[]v1.LabelSelectorRequirement{...}"
    )
    return GoValue(
        f"v1.LabelSelector{{MatchLabels:{string_map(labels).text}, MatchExpressions:{expressions}}}"
    )


def object_name_errors(name: object, message: str, fmt: str, max_length: int) -> list[FieldError]:
    """kruise's ``validate<Kind>Name`` through ``ValidateObjectMeta`` (``metadata.name``): the name
    must match ``fmt`` (described by ``message``) and be at most ``max_length`` long."""
    text = str(name or "")
    errors: list[FieldError] = []
    if text and not re.search(fmt, text):
        errors.append(invalid("metadata.name", text, regex_error(message, fmt, "example-com")))
    if len(text) > max_length:
        errors.append(invalid("metadata.name", text, max_len_error(max_length)))
    return errors


#: ``validation.IsValidPercent`` (apimachinery): digits then ``%``.
PERCENT_FMT = "[0-9]+%"
PERCENT_MSG = regex_error(
    "a valid percent string must be a numeric string followed by an ending '%'", PERCENT_FMT, "1%", "93%"
)


def positive_int_or_percent(value: object, path: str) -> list[FieldError]:
    """``appsvalidation.ValidatePositiveIntOrPercent`` (the bad value printed as Go's IntOrString)."""
    if isinstance(value, str):
        return [] if re.fullmatch(PERCENT_FMT, value) else [invalid(path, int_or_string(value), PERCENT_MSG)]
    if isinstance(value, int) and not isinstance(value, bool):
        return nonnegative(value, path)
    return [invalid(path, int_or_string(value), "must be an integer or percentage (e.g '5%%')")]


def not_more_than_100_percent(value: object, path: str) -> list[FieldError]:
    """``appsvalidation.IsNotMoreThan100Percent``."""
    if isinstance(value, str) and re.fullmatch(PERCENT_FMT, value) and int(value[:-1]) > 100:
        return [invalid(path, int_or_string(value), "must not be greater than 100%")]
    return []
