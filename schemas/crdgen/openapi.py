"""Turn a kruise model class into a structural OpenAPI v3 schema (what a CRD version carries).

Pure and deterministic: walks the pydantic fields and their ``Annotated`` markers
(``schemas.kruise.base.Format`` / ``Cel`` / ``Bounds`` / ``Schemaless`` / ``DEFAULTED``);
descriptions come from the field docstrings, ``default:`` from the Python default of a field
marked ``DEFAULTED``. Called by ``schemas.crdgen.generate``. pydantic's own JSON Schema is not
used because a CRD needs inline (no ``$ref``), structural schemas with Kubernetes extensions.
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic.fields import FieldInfo

from schemas.kruise.base import (
    Bounds,
    Cel,
    Format,
    KruiseDefault,
    KruiseModel,
    KruiseResource,
    ListMap,
    Schemaless,
    Undefaulted,
)

Schema = dict[str, Any]


def _clean(text: str | None) -> str | None:
    return " ".join(text.split()) if text else None


def _strip_optional(tp: object) -> object:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        return Union[tuple(args)]  # noqa: UP007 - rebuilding a union from parts
    return tp


def _schemaless(marker: Schemaless) -> Schema:
    """A core object kept as JSON; the named sub-paths typed (for CEL rules): string maps, or the
    scalar type after ``=``."""
    schema: Schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    for entry in marker.properties:
        path, _, scalar = entry.partition("=")
        node = schema
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault("properties", {}).setdefault(
                part,
                {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "description": f"The object's {part} (see the core type).",
                },
            )
        if scalar:
            node.setdefault("properties", {})[leaf] = {"type": scalar, "description": f"The object's {leaf}."}
            continue
        node.setdefault("properties", {})[leaf] = {
            "type": "object",
            "additionalProperties": {"type": "string", "maxLength": 63},
            "description": f"The object's {leaf}.",
        }
    return schema


def _apply_markers(schema: Schema, markers: list[object]) -> Schema:
    for marker in markers:
        if isinstance(marker, Format) and marker.value != "int-or-string":
            schema["format"] = marker.value
        elif isinstance(marker, Bounds):
            for key, value in (
                ("maxItems", marker.max_items),
                ("maxLength", marker.max_length),
                ("maxProperties", marker.max_properties),
                ("minimum", marker.minimum),
                ("maximum", marker.maximum),
            ):
                if value is not None:
                    schema[key] = value
        elif isinstance(marker, ListMap):
            schema["x-kubernetes-list-type"] = "map"
            schema["x-kubernetes-list-map-keys"] = list(marker.keys)
        elif isinstance(marker, Cel):
            schema.setdefault("x-kubernetes-validations", []).append(_cel(marker))
    return schema


def _cel(rule: Cel) -> Schema:
    out: Schema = {"rule": rule.rule, "message": rule.message}
    if rule.field_path is not None:
        out["fieldPath"] = rule.field_path
    if rule.message_expression is not None:
        out["messageExpression"] = rule.message_expression
    return out


def type_schema(tp: object, *, defaults: bool = True) -> Schema:
    """The schema of one Python type as used in the models (``defaults``: emit ``default:``)."""
    markers: list[object] = []
    while get_origin(tp) is Annotated:
        base, *extra = get_args(tp)
        markers = [*extra, *markers]
        tp = base
    tp = _strip_optional(tp)
    while get_origin(tp) is Annotated:  # Optional[Annotated[...]]
        base, *extra = get_args(tp)
        markers = [*extra, *markers]
        tp = _strip_optional(base)

    defaults = defaults and not any(isinstance(m, Undefaulted) for m in markers)
    schemaless = next((m for m in markers if isinstance(m, Schemaless)), None)
    if schemaless is not None:
        return _apply_markers(_schemaless(schemaless), markers)
    if any(isinstance(m, Format) and m.value == "int-or-string" for m in markers):
        schema: Schema = {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
        }
        return _apply_markers(schema, markers)
    return _apply_markers(_plain_schema(tp, defaults), markers)


def _plain_schema(tp: object, defaults: bool) -> Schema:
    origin = get_origin(tp)
    if origin is Literal:
        values = list(get_args(tp))
        return {"type": "string", "enum": values}
    if origin is list:
        (item,) = get_args(tp)
        return {"type": "array", "items": type_schema(item, defaults=defaults)}
    if origin is dict:
        key, value = get_args(tp)
        if key is not str:
            raise TypeError(f"map keys must be str, got {key!r}")
        if value is Any:
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        return {"type": "object", "additionalProperties": type_schema(value, defaults=defaults)}
    if isinstance(tp, type):
        if issubclass(tp, KruiseModel):
            return model_schema(tp, defaults=defaults)
        if issubclass(tp, bool):
            return {"type": "boolean"}
        if issubclass(tp, int):
            return {"type": "integer"}
        if issubclass(tp, float):
            return {"type": "number"}
        if issubclass(tp, str):
            return {"type": "string"}
        if issubclass(tp, datetime):
            return {"type": "string", "format": "date-time"}
    raise TypeError(f"no CRD schema for type {tp!r}")


def _stored_default(name: str, field: FieldInfo) -> object:
    """The ``default:`` of a field marked :data:`~schemas.kruise.base.DEFAULTED` (its Python default)."""
    value = field.get_default(call_default_factory=True)
    if isinstance(value, KruiseModel):
        # An object default is empty: its own marked fields fill it in (structural defaulting
        # recurses into a defaulted object), so unmarked Python-side defaults stay unstored.
        return {}
    if value is None or isinstance(value, list | dict):
        raise TypeError(f"field {name!r} is marked DEFAULTED but has no scalar or model default")
    return value


def _field_schema(name: str, hint: object, field: FieldInfo, defaults: bool) -> Schema:
    schema = type_schema(hint, defaults=defaults)
    description = _clean(field.description)
    if description:
        schema["description"] = description
    if defaults and any(isinstance(m, KruiseDefault) for m in field.metadata):
        schema["default"] = _stored_default(name, field)
    return schema


def model_schema(model: type[KruiseModel], *, defaults: bool = True) -> Schema:
    """The object schema of a model: properties, required, CEL rules, description, defaults."""
    hints = typing.get_type_hints(model, include_extras=True)
    properties: Schema = {}
    required: list[str] = []
    for name, field in model.model_fields.items():
        wire = field.alias or name
        properties[wire] = _field_schema(name, hints[name], field, defaults)
        if field.is_required():
            required.append(wire)
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = sorted(required)
    if model.preserve_unknown_fields:
        schema["x-kubernetes-preserve-unknown-fields"] = True
    if model.cel_rules:
        schema["x-kubernetes-validations"] = [_cel(rule) for rule in model.cel_rules]
    if "description" not in schema and model.__doc__:
        schema["description"] = _clean(model.__doc__)
    return schema


def resource_schema(resource: type[KruiseResource]) -> Schema:
    """The ``openAPIV3Schema`` of a kind: the standard root fields plus ``spec`` and ``status``."""
    schema = model_schema(resource)
    props = schema["properties"]
    props["apiVersion"] = {
        "type": "string",
        "description": "APIVersion defines the versioned schema of this representation of an object.",
    }
    props["kind"] = {
        "type": "string",
        "description": "Kind is a string value representing the REST resource.",
    }
    props["metadata"] = {"type": "object"}
    schema.pop("required", None)
    required = [
        key for key in ("spec",) if key in resource.model_fields and resource.model_fields[key].is_required()
    ]
    if required:
        schema["required"] = required
    return schema
