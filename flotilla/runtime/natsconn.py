"""Connect to NATS with reconnect, reporting the connection state to :class:`Health`.

Called by the watcher and worker commands. The first connect is retried with backoff until it
succeeds (NATS unreachable at start is a non-ready probe and a log line, not a crash loop);
afterwards nats.py reconnects forever and the ``nats`` check follows disconnect/reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import time

import nats
from nats.aio.client import Client

from flotilla.runtime.health import Health

log = logging.getLogger("flotilla.runtime.nats")


async def connect(
    url: str,
    *,
    name: str,
    health: Health | None = None,
    max_wait: float = 10.0,
    first_attempt_timeout: float = 3.0,
) -> Client:
    """A connected client; keeps trying until it gets one (cancel the task to give up)."""

    async def disconnected() -> None:
        log.warning("nats: disconnected from %s", url)
        if health is not None:
            health.set_not_ready("nats", "disconnected, reconnecting")

    async def reconnected() -> None:
        log.info("nats: reconnected to %s", url)
        if health is not None:
            health.set_ready("nats")

    connected = False
    last_logged = 0.0

    async def error(exc: Exception) -> None:
        nonlocal last_logged
        reason = f"cannot connect to {url}: {type(exc).__name__}: {exc}"
        if not connected and health is not None:
            health.set_not_ready("nats", reason)
        now = time.monotonic()
        if now - last_logged > 10.0:  # nats.py retries every reconnect_time_wait; log a line per 10s
            last_logged = now
            log.error("nats: %s", reason if not connected else f"{type(exc).__name__}: {exc}")

    if health is not None:
        health.set_not_ready("nats", f"connecting to {url}")
    delay = 0.5
    while True:
        try:
            client = await nats.connect(
                servers=[url],
                name=name,
                connect_timeout=first_attempt_timeout,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                ping_interval=5,
                max_outstanding_pings=3,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
                error_cb=error,
            )
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            reason = f"cannot connect to {url}: {type(exc).__name__}: {exc}"
            log.error("nats: %s; retrying in %.1fs", reason, delay)
            if health is not None:
                health.set_not_ready("nats", reason)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_wait)
            continue
        connected = True
        if health is not None:
            health.set_ready("nats")
        log.info("nats: connected to %s", url)
        return client
