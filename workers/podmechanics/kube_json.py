"""Typed reads of Kubernetes objects kept as plain JSON dicts (pods, PVCs, ControllerRevisions).

Workers of kruise's workloads read owned objects as raw JSON (``orjson.loads`` of the list body)
and never convert them to model classes; these helpers give the planners typed, total access
to nested fields: a missing or mistyped field reads as empty, never raises. Plain ``dict`` /
``list`` (what the JSON decoder builds) take a fast path before the general ``Mapping`` /
``Sequence`` checks, which are ABC checks and cost several times more. Pure functions, used
by every module of ``workers.podmechanics`` and by the workload planners built on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

#: A Kubernetes object (or any JSON object) as parsed from the wire.
JsonObject = Mapping[str, object]
#: A JSON object the planner builds and hands to the shell (pod to create, patch body).
JsonDict = dict[str, object]

_EMPTY: JsonObject = {}


def field(obj: JsonObject, *path: str) -> object:
    """The value at ``path`` (``None`` when any step is missing or not an object)."""
    current: object = obj
    for key in path:
        if type(current) is dict or isinstance(current, Mapping):
            current = current.get(key)
        else:
            return None
    return current


def mapping(obj: JsonObject, *path: str) -> JsonObject:
    """The object at ``path``, or an empty mapping."""
    return as_object(field(obj, *path))


def objects(obj: JsonObject, *path: str) -> tuple[JsonObject, ...]:
    """The list of objects at ``path`` (non-object entries skipped)."""
    return as_objects(field(obj, *path))


def strings(obj: JsonObject, *path: str) -> tuple[str, ...]:
    """The list of strings at ``path`` (non-string entries skipped)."""
    value = field(obj, *path)
    if type(value) is not list and (not isinstance(value, Sequence) or isinstance(value, str)):
        return ()
    return tuple([item for item in value if isinstance(item, str)])


def text(obj: JsonObject, *path: str, default: str = "") -> str:
    """The string at ``path``, or ``default``."""
    value = field(obj, *path)
    return value if isinstance(value, str) else default


def integer(obj: JsonObject, *path: str, default: int = 0) -> int:
    """The integer at ``path`` (booleans are not integers), or ``default``."""
    value = field(obj, *path)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def string_map(obj: JsonObject, *path: str) -> Mapping[str, str]:
    """A ``map[string]string`` at ``path`` (labels, annotations); non-string values skipped."""
    return as_string_map(field(obj, *path))


# -- the same reads of a value already in hand (no path walk) ---------------------------------------


def as_object(value: object) -> JsonObject:
    """``value`` if it is a JSON object, else an empty mapping."""
    return value if type(value) is dict or isinstance(value, Mapping) else _EMPTY


def as_objects(value: object) -> tuple[JsonObject, ...]:
    """The objects of a JSON list (non-object entries skipped; not a list: empty)."""
    if type(value) is not list and (not isinstance(value, Sequence) or isinstance(value, str)):
        return ()
    return tuple([item for item in value if type(item) is dict or isinstance(item, Mapping)])


def as_text(value: object) -> str:
    """``value`` if it is a string, else ''."""
    return value if isinstance(value, str) else ""


def as_string_map(value: object) -> Mapping[str, str]:
    """The string entries of a JSON object (labels, annotations); not an object: empty."""
    return {key: item for key, item in as_object(value).items() if isinstance(item, str)}


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime, or ``None`` when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(moment: datetime) -> str:
    """A datetime as Kubernetes writes it (RFC 3339, UTC, whole seconds, ``Z``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def name_of(obj: JsonObject) -> str:
    return text(obj, "metadata", "name")


def uid_of(obj: JsonObject) -> str:
    return text(obj, "metadata", "uid")


def labels_of(obj: JsonObject) -> Mapping[str, str]:
    return string_map(obj, "metadata", "labels")


def annotations_of(obj: JsonObject) -> Mapping[str, str]:
    return string_map(obj, "metadata", "annotations")


def controller_ref(obj: JsonObject) -> JsonObject | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in objects(obj, "metadata", "ownerReferences"):
        if ref.get("controller") is True:
            return ref
    return None


def thaw(value: object) -> object:
    """A deep, mutable copy of a JSON value (mappings become dicts, sequences lists)."""
    if isinstance(value, Mapping):
        return {str(key): thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value


def thaw_object(value: object) -> JsonDict:
    """A deep mutable copy of a JSON object (an empty dict when ``value`` is not one)."""
    copied = thaw(value)
    return copied if isinstance(copied, dict) else {}


class RawObjectView:
    """Metadata and status of ``raw``, an object as the API server returned it, read totally.

    Mixed into a worker's frozen observed-state dataclass that has a ``raw`` field, so each
    worker does not write the same accessors again.
    """

    raw: Mapping[str, Any]

    @property
    def meta(self) -> dict[str, Any]:
        meta = self.raw.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        return str(self.meta.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.meta.get("namespace", ""))

    @property
    def uid(self) -> str:
        return str(self.meta.get("uid", ""))

    @property
    def deleting(self) -> bool:
        return bool(self.meta.get("deletionTimestamp"))

    @property
    def status(self) -> dict[str, Any]:
        status = self.raw.get("status")
        return status if isinstance(status, dict) else {}
