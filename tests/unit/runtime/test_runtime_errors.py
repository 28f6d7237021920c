"""Transport error mapping and the retry policy (pure: no API server)."""

from __future__ import annotations

import time

import orjson
import pytest

from flotilla.runtime.errors import (
    AlreadyExists,
    Conflict,
    Gone,
    KubeError,
    NotFound,
    Terminal,
    Transient,
    error_from_exception,
    error_from_response,
)
from flotilla.runtime.retry import RetryPolicy, call_with_retry


def _status(reason: str, message: str = "boom") -> bytes:
    return orjson.dumps({"kind": "Status", "reason": reason, "message": message})


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (404, "NotFound", NotFound),
        (409, "Conflict", Conflict),
        (409, "AlreadyExists", AlreadyExists),
        (410, "Expired", Gone),
        (429, "TooManyRequests", Transient),
        (500, "InternalError", Transient),
        (503, "ServiceUnavailable", Transient),
        (400, "BadRequest", Terminal),
        (403, "Forbidden", Terminal),
        (422, "Invalid", Terminal),
    ],
)
def test_status_codes_map_to_one_class(code: int, reason: str, expected: type[KubeError]) -> None:
    err = error_from_response(code, _status(reason), method="GET", path="/api/v1/pods")
    assert type(err) is expected
    assert err.status == code
    assert "boom" in str(err)


def test_retry_after_is_parsed_and_non_json_bodies_survive() -> None:
    err = error_from_response(429, b"slow down", method="GET", path="/x", retry_after="2")
    assert isinstance(err, Transient)
    assert err.retry_after == 2.0
    assert "slow down" in str(err)


def test_connection_errors_are_transient() -> None:
    assert isinstance(error_from_exception(ConnectionResetError("reset"), method="GET", path="/x"), Transient)


async def test_transient_errors_are_retried_and_retry_after_honoured() -> None:
    calls: list[float] = []

    async def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise Transient("busy", status=429, retry_after=0.3)
        return "ok"

    assert await call_with_retry(RetryPolicy(attempts=5, initial=0.01), flaky) == "ok"
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.28


async def test_conflicts_and_terminal_errors_are_not_retried() -> None:
    calls = 0

    async def conflict() -> None:
        nonlocal calls
        calls += 1
        raise Conflict("stale")

    with pytest.raises(Conflict):
        await call_with_retry(RetryPolicy(initial=0.01), conflict)
    assert calls == 1


async def test_retry_gives_up_after_attempts() -> None:
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise Transient("down", status=503)

    with pytest.raises(Transient):
        await call_with_retry(RetryPolicy(attempts=3, initial=0.01, max_wait=0.02), down)
    assert calls == 3
