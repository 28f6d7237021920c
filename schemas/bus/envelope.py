"""The reconcile trigger envelope: a versioned msgpack map, decoded into a frozen record.

The watcher encodes one :class:`Envelope` per reconcile key it publishes; the worker runtime
decodes each message it consumes. The envelope says *look at this key*: workers re-read state,
so every field except ``key`` is informational (logs, spans, replay from the event log).
Trace context travels in the NATS headers (W3C ``traceparent``), never in the body.

Decoding never raises anything but :class:`EnvelopeError` (:class:`MalformedEnvelope` or
:class:`UnsupportedVersion`): any byte string, any msgpack value. Unknown map fields are ignored
so a newer publisher does not break an older consumer within one schema version.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import NewType

import msgpack

#: The schema version this code writes, and the only one it reads.
SCHEMA_VERSION = 1

#: ``<type>/<namespace>/<name>``; namespace is empty for cluster-scoped objects.
ReconcileKey = NewType("ReconcileKey", str)

#: Bodies larger than this are refused before msgpack sees them (a trigger is ~200 bytes).
MAX_ENVELOPE_BYTES = 64 * 1024


class EventType(enum.StrEnum):
    """Why the trigger was published."""

    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    #: Periodic resync or a relist after ``410 Gone``: no change known, look anyway.
    RESYNC = "RESYNC"


class EnvelopeError(ValueError):
    """A message body is not a usable envelope; the consumer dead-letters it."""


class MalformedEnvelope(EnvelopeError):
    """Not msgpack, not a map, or a field is missing or of the wrong type."""


class UnsupportedVersion(EnvelopeError):
    """A well-formed map whose ``schema_version`` this code does not read."""

    def __init__(self, version: object) -> None:
        super().__init__(
            f"unsupported envelope schema_version {version!r} (this build reads {SCHEMA_VERSION})"
        )
        self.version = version


@dataclass(frozen=True, slots=True)
class KeyParts:
    """A reconcile key split into its three parts."""

    type: str
    namespace: str
    name: str


def make_key(worker_type: str, namespace: str, name: str) -> ReconcileKey:
    """The reconcile key of an object for one worker type (``namespace`` "" when cluster-scoped)."""
    return ReconcileKey(f"{worker_type}/{namespace}/{name}")


def split_key(key: str) -> KeyParts:
    """Split ``type/namespace/name``; raises :class:`MalformedEnvelope` when it has another shape."""
    parts = key.split("/")
    if len(parts) != 3 or not parts[0] or not parts[2]:
        raise MalformedEnvelope(f"reconcile key {key!r} is not 'type/namespace/name'")
    return KeyParts(parts[0], parts[1], parts[2])


@dataclass(frozen=True, slots=True)
class Envelope:
    """One reconcile trigger.

    ``object_kind``/``object_uid``/``resource_version`` describe the object whose watch event
    caused the trigger; that may be an owned object (a Pod) while ``key`` names its owner.
    ``observed_at`` is the watcher's wall clock (Unix seconds) when it saw the event.
    """

    key: ReconcileKey
    event_type: EventType
    object_kind: str
    object_uid: str
    resource_version: str
    observed_at: float
    schema_version: int = SCHEMA_VERSION

    @property
    def parts(self) -> KeyParts:
        return split_key(self.key)


def encode(envelope: Envelope) -> bytes:
    """The msgpack body of ``envelope``."""
    body: bytes = msgpack.packb(
        {
            "schema_version": envelope.schema_version,
            "key": envelope.key,
            "event_type": envelope.event_type.value,
            "object_kind": envelope.object_kind,
            "object_uid": envelope.object_uid,
            "resource_version": envelope.resource_version,
            "observed_at": envelope.observed_at,
        },
        use_bin_type=True,
    )
    return body


def _field(fields: dict[object, object], name: str, kind: type) -> object:
    value = fields.get(name)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise MalformedEnvelope(
            f"envelope field {name!r} must be {kind.__name__}, got {type(value).__name__}"
        )
    return value


def decode(body: bytes) -> Envelope:
    """Decode a message body; raises only :class:`EnvelopeError` subclasses."""
    if len(body) > MAX_ENVELOPE_BYTES:
        raise MalformedEnvelope(f"envelope of {len(body)} bytes exceeds {MAX_ENVELOPE_BYTES}")
    try:
        fields = msgpack.unpackb(body, raw=False, strict_map_key=False, use_list=True)
    except Exception as exc:  # msgpack raises several unrelated types on bad input
        raise MalformedEnvelope(f"body is not msgpack: {type(exc).__name__}: {exc}") from None
    if not isinstance(fields, dict):
        raise MalformedEnvelope(f"envelope must be a msgpack map, got {type(fields).__name__}")
    version = fields.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        if "schema_version" not in fields:
            raise MalformedEnvelope("envelope has no schema_version")
        raise UnsupportedVersion(version)
    key = str(_field(fields, "key", str))
    split_key(key)
    event_text = str(_field(fields, "event_type", str))
    try:
        event_type = EventType(event_text)
    except ValueError:
        raise MalformedEnvelope(f"unknown event_type {event_text!r}") from None
    observed_at = _field(fields, "observed_at", float)
    assert isinstance(observed_at, float)
    if not math.isfinite(observed_at):
        raise MalformedEnvelope("observed_at must be a finite number")
    return Envelope(
        key=ReconcileKey(key),
        event_type=event_type,
        object_kind=str(_field(fields, "object_kind", str)),
        object_uid=str(_field(fields, "object_uid", str)),
        resource_version=str(_field(fields, "resource_version", str)),
        observed_at=observed_at,
    )
