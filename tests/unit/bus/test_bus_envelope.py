"""The trigger envelope: round trip, refusal of bad bodies with typed errors, fuzzing."""

from __future__ import annotations

import contextlib

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.bus.envelope import (
    SCHEMA_VERSION,
    Envelope,
    EnvelopeError,
    EventType,
    MalformedEnvelope,
    UnsupportedVersion,
    decode,
    encode,
    make_key,
    split_key,
)


def _envelope(**changes: object) -> Envelope:
    fields: dict[str, object] = {
        "key": make_key("cloneset", "default", "web"),
        "event_type": EventType.MODIFIED,
        "object_kind": "Pod",
        "object_uid": "0b9f7a3e-1111-2222-3333-444455556666",
        "resource_version": "12345",
        "observed_at": 1_764_000_000.25,
    }
    fields.update(changes)
    return Envelope(**fields)  # type: ignore[arg-type]


def _raw(**changes: object) -> dict[str, object]:
    fields = msgpack.unpackb(encode(_envelope()))
    assert isinstance(fields, dict)
    fields.update(changes)
    return fields


def test_round_trip_keeps_every_field() -> None:
    envelope = _envelope()
    assert decode(encode(envelope)) == envelope


def test_cluster_scoped_key_round_trips() -> None:
    envelope = _envelope(key=make_key("nodeimage", "", "node-1"))
    decoded = decode(encode(envelope))
    assert decoded.parts.namespace == ""
    assert decoded.parts.name == "node-1"


def test_unknown_fields_are_ignored() -> None:
    body = msgpack.packb(_raw(added_in_a_newer_build={"x": 1}))
    assert decode(body) == _envelope()


def test_integer_observed_time_is_accepted() -> None:
    assert decode(msgpack.packb(_raw(observed_at=17))).observed_at == 17.0


@pytest.mark.parametrize("version", [0, 2, 99, "1", None, 1.5, True])
def test_other_schema_versions_are_unsupported(version: object) -> None:
    with pytest.raises(UnsupportedVersion) as info:
        decode(msgpack.packb(_raw(schema_version=version)))
    assert str(SCHEMA_VERSION) in str(info.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not msgpack"),
        (b"\xc1", "not msgpack"),
        (msgpack.packb([1, 2, 3]), "must be a msgpack map"),
        (msgpack.packb({"key": "a/b/c"}), "no schema_version"),
        (msgpack.packb(_raw(key="no-slashes")), "not 'type/namespace/name'"),
        (msgpack.packb(_raw(key="t//")), "not 'type/namespace/name'"),
        (msgpack.packb(_raw(event_type="EXPLODED")), "unknown event_type"),
        (msgpack.packb(_raw(object_uid=7)), "object_uid"),
        (msgpack.packb(_raw(observed_at=float("nan"))), "finite"),
        (msgpack.packb(_raw(observed_at=True)), "observed_at"),
        (b"\x00" * 70_000, "exceeds"),
    ],
)
def test_malformed_bodies_raise_malformed(body: bytes, message: str) -> None:
    with pytest.raises(MalformedEnvelope, match=message):
        decode(body)


def test_split_key_refuses_other_shapes() -> None:
    assert split_key("a/b/c").name == "c"
    with pytest.raises(MalformedEnvelope):
        split_key("a/b/c/d")


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_escape_as_other_errors(body: bytes) -> None:
    with contextlib.suppress(EnvelopeError):
        decode(body)


_msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text() | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers(-(2**63), 2**63 - 1), inner, max_size=4)
    ),
    max_leaves=12,
)
_field_names = st.sampled_from(
    ["schema_version", "key", "event_type", "object_kind", "object_uid", "resource_version", "observed_at"]
)


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(_field_names, _msgpack_values, max_size=7), st.booleans())
def test_odd_envelopes_decode_or_raise_typed_error(changes: dict[str, object], over_valid: bool) -> None:
    fields = _raw(**changes) if over_valid else changes
    try:
        envelope = decode(msgpack.packb(fields, use_bin_type=True))
    except EnvelopeError:
        return
    assert envelope.schema_version == SCHEMA_VERSION
    assert decode(encode(envelope)) == envelope
