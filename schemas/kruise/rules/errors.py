"""Field errors as Kubernetes' ``field.Error`` reports them, and the text a refused user reads.

kruise's validating webhooks collect a ``field.ErrorList`` and answer with
``allErrs.ToAggregate()``; ``kubectl apply`` prints that aggregate's text after
``admission webhook "..." denied the request: ``. :class:`FieldError` renders one error the way
``field.Error.Error()`` does (``<path>: <type text>[: <value>][: <detail>]``) and
:func:`aggregate_message` joins a list the way ``utilerrors.NewAggregate(...).Error()`` does
(one error alone, else ``[a, b]``, duplicates dropped). Bad values are rendered with Go's
``%v``/``%q``/``%#v`` conventions by :func:`go_value` (``map[string]string{"app":"x"}``,
``[]string{"a", "b"}``) so the text matches kruise's. Pure; used by every rule module.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class ErrorType(StrEnum):
    """``field.ErrorType``: the machine-readable cause (``metav1.CauseType``)."""

    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"

    @property
    def text(self) -> str:
        """``ErrorType.String()``: the words the message shows."""
        return _TYPE_TEXT[self]


_TYPE_TEXT = {
    ErrorType.NOT_FOUND: "Not found",
    ErrorType.REQUIRED: "Required value",
    ErrorType.DUPLICATE: "Duplicate value",
    ErrorType.INVALID: "Invalid value",
    ErrorType.NOT_SUPPORTED: "Unsupported value",
    ErrorType.FORBIDDEN: "Forbidden",
    ErrorType.TOO_LONG: "Too long",
    ErrorType.TOO_MANY: "Too many",
    ErrorType.INTERNAL: "Internal error",
}
#: Types whose message never shows the bad value (``field.Error.ErrorBody``).
_VALUELESS = frozenset({ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG, ErrorType.INTERNAL})


@dataclass(frozen=True)
class GoValue:
    """A bad value already rendered as Go prints it (``%#v`` of a struct, say)."""

    text: str


@dataclass(frozen=True)
class FieldError:
    """One validation error: which field, why, and (for some types) the offending value."""

    type: ErrorType
    field: str
    """The field path, as ``field.Path.String()`` writes it (``spec.template.spec.containers[0].image``)."""
    detail: str = ""
    bad_value: object = None
    """The offending value (JSON-like, or a :class:`GoValue`); rendered with :func:`go_value`."""

    def body(self) -> str:
        """``field.Error.ErrorBody()``: the message without the field path."""
        text = self.type.text
        if self.type not in _VALUELESS:
            text += f": {go_value(self.bad_value)}"
        if self.detail:
            text += f": {self.detail}"
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


@dataclass(frozen=True)
class PlainError(FieldError):
    """An error kruise answers as plain text (``fmt.Errorf``, not a ``field.Error``): only ``detail``
    is shown; ``field`` still says which part of the spec it concerns (for a worker's condition)."""

    def __str__(self) -> str:
        return self.detail


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (``strconv.Quote``) for the printable text messages carry."""
    return json.dumps(text, ensure_ascii=False).replace("\\u007f", "\\x7f")


def _go_literal(value: object) -> str:
    """Go's ``%#v`` of a value inside a composite literal."""
    if isinstance(value, GoValue):
        return value.text
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return "<nil>"
    if isinstance(value, Mapping):
        if all(isinstance(v, str) for v in value.values()):
            items = ", ".join(f"{go_quote(str(k))}:{go_quote(v)}" for k, v in sorted(value.items()))
            return f"map[string]string{{{items}}}"
        items = ", ".join(f"{go_quote(str(k))}:{_go_literal(v)}" for k, v in sorted(value.items()))
        return f"map[string]interface {{}}{{{items}}}"
    if isinstance(value, Sequence):
        if all(isinstance(v, str) for v in value):
            return "[]string{" + ", ".join(go_quote(v) for v in value) + "}"
        return "[]interface {}{" + ", ".join(_go_literal(v) for v in value) + "}"
    return repr(value)


def go_value(value: object) -> str:
    """The bad value as ``field.Error.ErrorBody`` prints it: ``null`` for nil, ``%v`` for numbers and
    booleans, ``%q`` for strings, ``%#v`` for the rest (maps sorted by key, as Go's fmt sorts them)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _go_literal(value)


def string_map(value: object) -> GoValue:
    """A ``map[string]string`` field's ``%#v`` (``map[string]string(nil)`` when absent)."""
    if not isinstance(value, Mapping) or not value:
        return GoValue("map[string]string(nil)" if not value else "map[string]string{}")
    return GoValue(_go_literal({str(k): str(v) for k, v in value.items()}))


def int_or_string(value: object) -> GoValue | None:
    """A dereferenced ``*intstr.IntOrString``'s ``%#v`` (its ``String`` has a pointer receiver, so
    Go prints the struct); ``None`` (printed ``null``) when the field is unset."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return GoValue(f'intstr.IntOrString{{Type:0, IntVal:{value}, StrVal:""}}')
    return GoValue(f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{go_quote(str(value))}}}")


def int_or_string_text(value: object) -> str:
    """``IntOrString.String()``: the number, or the string as written."""
    return str(value)


def aggregate_message(errors: Iterable[FieldError]) -> str:
    """``field.ErrorList.ToAggregate().Error()``: one error's text, or ``[a, b, ...]``; duplicates once."""
    seen: list[str] = []
    for error in errors:
        text = str(error)
        if text not in seen:
            seen.append(text)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]" if seen else ""


# -- constructors named like apimachinery's field helpers --------------------------------------


def invalid(path: str, value: object, detail: str) -> FieldError:
    return FieldError(ErrorType.INVALID, path, detail, value)


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(ErrorType.REQUIRED, path, detail, "")


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(ErrorType.FORBIDDEN, path, detail, "")


def duplicate(path: str, value: object) -> FieldError:
    return FieldError(ErrorType.DUPLICATE, path, "", value)


def not_supported(path: str, value: object, supported: Sequence[str]) -> FieldError:
    detail = "supported values: " + ", ".join(go_quote(v) for v in supported) if supported else ""
    return FieldError(ErrorType.NOT_SUPPORTED, path, detail, value)


def too_long(path: str, max_length: int) -> FieldError:
    detail = f"may not be more than {max_length} bytes" if max_length >= 0 else "value is too long"
    return FieldError(ErrorType.TOO_LONG, path, detail, "<value omitted>")
