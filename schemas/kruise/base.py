"""The building blocks every kruise model is made of, and the markers the CRD generator reads.

Models (``schemas.kruise.*``) subclass :class:`KruiseModel` (nested objects) or
:class:`KruiseResource` (top-level kinds). Field names are snake_case in Python and
camelCase on the wire (kruise-api's JSON names); unknown fields are kept (``extra="allow"``)
so an object written by a newer kruise survives a read-modify-write unchanged.

The ``Annotated`` markers here (:class:`Format`, :class:`Cel`, :class:`Bounds`, :data:`DEFAULTED`)
carry what a Python type cannot say but the CRD must: integer width, CEL rules with their
messages, list/map/string bounds, and which Python defaults are kruise's stored defaults.
``schemas.crdgen`` turns them into OpenAPI v3; pydantic ignores them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

#: A Kubernetes core object (PodTemplateSpec, PersistentVolumeClaim, JobTemplateSpec, ...) kept
#: as its JSON form. The CRD marks it schemaless with ``x-kubernetes-preserve-unknown-fields``;
#: the ``kubernetes`` package's OpenAPI is the reference for its fields, not this project.
KubeObject = dict[str, Any]


@dataclass(frozen=True)
class Format:
    """OpenAPI ``format`` of a scalar (``int32``, ``int64``, ``date-time``)."""

    value: str


@dataclass(frozen=True)
class Cel:
    """A CEL ``x-kubernetes-validations`` rule; ``message`` is what the user reads on refusal."""

    rule: str
    message: str
    field_path: str | None = None
    message_expression: str | None = None
    """A CEL expression building the message (it may show the value, as kruise's text does);
    ``message`` stays the fallback."""


@dataclass(frozen=True)
class Bounds:
    """Size bounds the CRD declares (also keep CEL cost estimates within the API server's budget)."""

    max_items: int | None = None
    max_length: int | None = None
    max_properties: int | None = None
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class ListMap:
    """A list whose items are unique by ``keys`` (``x-kubernetes-list-type: map``)."""

    keys: tuple[str, ...]


@dataclass(frozen=True)
class Schemaless:
    """Marks a :data:`KubeObject` field; ``properties`` names the few sub-paths CEL rules need typed:
    ``"metadata.labels"`` is a string map, ``"spec.restartPolicy=string"`` a scalar of that type."""

    properties: tuple[str, ...] = ()


@dataclass(frozen=True)
class KruiseDefault:
    """The field's Python default is what kruise's defaulting webhook stores when the field is absent.

    The CRD generator writes that default into the schema (``default:``) so the API server stores
    it on create and update, as kruise does. A model-valued field (``default_factory=Model``)
    becomes ``default: {}`` and its own marked fields fill it in. Fields without the marker keep
    their Python default for readers only (Go zero values kruise never writes, or defaults kruise
    sets only under a condition OpenAPI cannot express); the CRD leaves them absent.
    """


#: Marks a field whose Python default is kruise's unconditional stored default (see :class:`KruiseDefault`).
DEFAULTED = KruiseDefault()


@dataclass(frozen=True)
class Undefaulted:
    """No stored defaults inside this field: a template of another kind (UnitedDeployment's
    ``cloneSetTemplate.spec``) is defaulted by that kind's webhook when the workload is created,
    not where the template is stored."""


#: Marks a template field whose subtree carries no ``default:`` (see :class:`Undefaulted`).
UNDEFAULTED = Undefaulted()


#: int-or-string: an absolute number or a percentage such as ``"25%"``.
IntOrString = Annotated[int | str, Format("int-or-string"), Bounds(max_length=64)]

_PERCENT_OR_NATURAL = Cel(
    rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",
    message="must be a non-negative integer or a percentage between 0% and 100% (like '25%')",
)
#: int-or-string that must be a non-negative number or a percent 0%..100%.
IntOrPercent = Annotated[int | str, Format("int-or-string"), Bounds(max_length=8), _PERCENT_OR_NATURAL]

Int32 = Annotated[int, Format("int32")]
Int64 = Annotated[int, Format("int64")]
NonNegativeInt32 = Annotated[int, Format("int32"), Cel("self >= 0", "must be greater than or equal to 0")]
#: A Kubernetes timestamp (RFC 3339, UTC).
Time = Annotated[datetime, Format("date-time")]

ConditionStatus = Literal["True", "False", "Unknown"]


class KruiseModel(BaseModel):
    """Base of every kruise object: camelCase aliases, attribute docstrings as descriptions."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        use_attribute_docstrings=True,
        validate_assignment=False,
    )

    #: Object-level CEL rules the CRD generator attaches to this model's schema.
    cel_rules: ClassVar[tuple[Cel, ...]] = ()
    #: The CRD keeps fields this model does not declare (for types that inline a core type,
    #: e.g. a SidecarSet container is a full core/v1 Container plus kruise's fields).
    preserve_unknown_fields: ClassVar[bool] = False

    def to_wire(self, *, exclude_unset: bool = False) -> dict[str, Any]:
        """The object as Kubernetes JSON (camelCase, ``None`` omitted, unknown fields kept)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=exclude_unset)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Self:
        """Parse Kubernetes JSON (as read from the API server or a manifest)."""
        return cls.model_validate(data)


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry (``kubectl get`` output)."""

    name: str
    type: str
    json_path: str
    description: str
    priority: int = 0


#: The AGE column every kind prints last.
AGE_COLUMN = PrinterColumn(
    "AGE",
    "date",
    ".metadata.creationTimestamp",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
)


@dataclass(frozen=True)
class ResourceInfo:
    """Where a kind lives in the API and how its CRD presents it."""

    group: str
    versions: tuple[str, ...]
    """Served versions; the first one is the storage version."""
    kind: str
    plural: str
    scope: Literal["Namespaced", "Cluster"] = "Namespaced"
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ("all", "kruise")
    printer_columns: tuple[PrinterColumn, ...] = ()
    scale: bool = False
    """Has a ``scale`` subresource (``.spec.replicas`` / ``.status.replicas`` / ``.status.labelSelector``)."""
    version_models: Mapping[str, type[KruiseResource]] = field(default_factory=dict)
    """Served versions whose schema (or printer columns) differ from the storage version's, each
    with its own model; the others share the storage version's model. The CRD converts with
    ``None`` (see docs/schemas.md), so a field only some versions have is pruned on a read at a
    version without it, as kruise's conversion drops it."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.versions[0]}"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"


class KruiseResource(KruiseModel):
    """A top-level kind: ``apiVersion``, ``kind``, ``metadata`` (kept as JSON), ``spec``, ``status``."""

    info: ClassVar[ResourceInfo]

    api_version: str | None = None
    kind: str | None = None
    metadata: KubeObject = Field(default_factory=dict)
    """Standard object metadata (name, namespace, labels, annotations, ...)."""


def resolve_int_or_percent(value: int | str, total: int, *, round_up: bool) -> int:
    """An int-or-string as an absolute number: ``"25%"`` of ``total``, rounded up or down.

    Mirrors ``intstr.GetScaledValueFromIntOrPercent``; raises ``ValueError`` for a string that is
    not ``"<digits>%"``.
    """
    if isinstance(value, int):
        return value
    if not value.endswith("%") or not value[:-1].isdigit():
        raise ValueError(f"invalid int-or-percent value {value!r}: want an integer or a string like '25%'")
    scaled = int(value[:-1]) * total
    return -(-scaled // 100) if round_up else scaled // 100
