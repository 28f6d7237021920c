"""Retry policy for Kubernetes API calls: tenacity, on :class:`~flotilla.runtime.errors.Transient` only.

Used by :class:`flotilla.runtime.kube.KubeClient` around every request. A 429's
``Retry-After`` is honoured; otherwise exponential backoff with jitter. Conflicts are not
retried here: the caller re-plans from fresh state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
)
from tenacity.wait import wait_base, wait_exponential_jitter

from flotilla.runtime.errors import Transient

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry transient API failures."""

    attempts: int = 6
    max_total: float = 60.0  # seconds across all attempts
    initial: float = 0.2
    max_wait: float = 10.0


class wait_retry_after(wait_base):
    """Wait what the server asked for (``Retry-After``), else fall back to ``fallback``."""

    def __init__(self, fallback: wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed:
            exc = outcome.exception()
            if isinstance(exc, Transient) and exc.retry_after is not None:
                return min(exc.retry_after, self.cap)
        return float(self.fallback(retry_state))


def retrying(policy: RetryPolicy) -> AsyncRetrying:
    return AsyncRetrying(
        retry=retry_if_exception_type(Transient),
        wait=wait_retry_after(
            wait_exponential_jitter(multiplier=policy.initial, max=policy.max_wait), policy.max_wait
        ),
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_total),
        reraise=True,
    )


async def call_with_retry(policy: RetryPolicy, fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``fn`` until it succeeds, raises a non-transient error, or the policy gives up."""
    async for attempt in retrying(policy):
        with attempt:
            return await fn()
    raise AssertionError("unreachable: tenacity reraises")
