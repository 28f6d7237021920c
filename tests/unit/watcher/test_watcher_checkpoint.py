"""Checkpoint values read back from KV are validated before a watch is started from them (pure)."""

from __future__ import annotations

import pytest

from flotilla.runtime.errors import KubeError, error_from_response
from watcher.checkpoint import BadCheckpoint, ahead_of, parse_checkpoint, resource_version_rejected


@pytest.mark.parametrize("raw", [b"1", b"123456", b"9223372036854775807"])
def test_a_resource_version_is_accepted_as_stored(raw: bytes) -> None:
    assert parse_checkpoint(raw) == raw.decode()


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"\xff\xfe\x00garbage", "not ASCII"),
        (b'{"rv": "12"}', "is not a resourceVersion"),  # the wrong shape: JSON instead of the bare value
        (b"12 ", "is not a resourceVersion"),
        (b"-5", "is not a resourceVersion"),
        (b"0", "is not a resourceVersion"),  # rv 0 means "any" to a watch: not a position
        (b"0012", "is not a resourceVersion"),
        (b"1" * 21, "is not a resourceVersion"),  # more than an int64
    ],
)
def test_a_malformed_checkpoint_is_refused_with_the_reason(raw: bytes, why: str) -> None:
    with pytest.raises(BadCheckpoint, match=why):
        parse_checkpoint(raw)


def _error(code: int, reason: str, message: str) -> KubeError:
    return error_from_response(code, _status(code, reason, message), method="WATCH", path="/p")


def _status(code: int, reason: str, message: str) -> bytes:
    return (
        f'{{"kind":"Status","apiVersion":"v1","status":"Failure","message":"{message}",'
        f'"reason":"{reason}","code":{code}}}'
    ).encode()


def test_a_watch_refused_for_its_resource_version_is_recognised() -> None:
    # k8s.io/apiserver/pkg/storage: NewTooLargeResourceVersionError -> 504 Timeout
    too_large = error_from_response(
        504,
        _status(504, "Timeout", "Too large resource version: 99999999, current: 1234"),
        method="WATCH",
        path="/p",
    )
    assert resource_version_rejected(too_large)
    # what kube-apiserver 1.36 answers a watch from rv "abc" (seen on the local control plane)
    malformed = _error(500, "", "resourceVersion: Invalid value: abc: strconv.ParseUint: invalid syntax")
    assert resource_version_rejected(malformed)


@pytest.mark.parametrize(
    ("checkpoint", "current", "ahead"),
    [
        ("500", "400", True),
        ("400", "400", False),
        ("399", "400", False),
        ("1000", "999", True),
        ("5", "", False),
    ],
)
def test_a_checkpoint_past_the_servers_resource_version_is_ahead(
    checkpoint: str, current: str, ahead: bool
) -> None:
    assert ahead_of(checkpoint, current) is ahead


def test_other_failures_are_not_mistaken_for_a_refused_resource_version() -> None:
    gone = _error(410, "Expired", "too old resource version: 1 (5)")
    assert not resource_version_rejected(gone)  # 410 has its own path (relist on Gone)
    unavailable = _error(503, "ServiceUnavailable", "etcd is down")
    assert not resource_version_rejected(unavailable)
    forbidden = _error(403, "Forbidden", "pods is forbidden")
    assert not resource_version_rejected(forbidden)
