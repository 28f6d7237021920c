"""Waiting for the real cluster to converge: the one polling helper every test shares.

`eventually` (sync) and `eventually_async` poll a check until it returns something truthy
and hand that value back, or fail with what was asked for and the last value seen.
`eventually_async` takes a plain or an async check and sleeps without blocking the event
loop. `what` may be a function, called only on failure (for text that is costly or must be
read late, such as a log tail).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")

What = str | Callable[[], str]


def _timed_out(what: What, within: float, last: object) -> AssertionError:
    text = what() if callable(what) else what
    return AssertionError(f"not {text or 'true'} within {within:.0f}s; last value: {last!r}")


def eventually(check: Callable[[], T], timeout: float = 60, interval: float = 0.3, what: What = "") -> T:
    """Poll `check` until its result is truthy; return that result."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout, last)
        time.sleep(interval)


@overload
async def eventually_async(  # an awaitable result is awaited, not returned
    check: Callable[[], Awaitable[T]], within: float = 60, interval: float = 0.3, what: What = ""
) -> T: ...


@overload
async def eventually_async(
    check: Callable[[], T], within: float = 60, interval: float = 0.3, what: What = ""
) -> T: ...


async def eventually_async(
    check: Callable[[], Awaitable[T] | T], within: float = 60, interval: float = 0.3, what: What = ""
) -> T:
    """The same for a check that is async or must not block the event loop between tries."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        last: T = await result if inspect.isawaitable(result) else result
        if last:
            return last
        if time.monotonic() > deadline:
            raise _timed_out(what, within, last)
        await asyncio.sleep(interval)
