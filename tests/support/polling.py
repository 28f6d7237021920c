"""Waiting for the real cluster to converge: the one polling helper every test shares.

`eventually` (sync) and `eventually_async` poll a check until it returns something truthy
and hand that value back, or fail with what was asked for and the last value seen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 60, interval: float = 0.3, what: str = "") -> T:
    """Poll `check` until its result is truthy; return that result."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what or 'true'} within {timeout:.0f}s; last value: {last!r}")
        time.sleep(interval)


async def eventually_async(
    check: Callable[[], Awaitable[T]], within: float = 60, interval: float = 0.3, what: str = ""
) -> T:
    """The same for an async check; sleeps without blocking the event loop."""
    deadline = time.monotonic() + within
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what or 'true'} within {within:.0f}s; last value: {last!r}")
        await asyncio.sleep(interval)
