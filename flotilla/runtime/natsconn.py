"""Connect to NATS with reconnect, reporting the connection state to :class:`Health`.

Called by the watcher and worker commands. The first connect is retried with backoff until it
succeeds (NATS unreachable at start is a non-ready probe and a log line, not a crash loop);
afterwards nats.py reconnects forever and the ``nats`` check follows disconnect/reconnect.

Credentials: when ``NATS_CREDS`` names a NATS credentials file (user JWT and nkey seed; the
Helm chart mounts one from ``nats.credentialsSecret``), nats.py signs in with it. A file that
is missing, unreadable or not a credentials file is reported the same way as an unreachable
server, and checked again at every attempt (a Secret mounted late is picked up).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict

import nats
from nats.aio.client import Client

from flotilla.runtime.health import Health

log = logging.getLogger("flotilla.runtime.nats")

CREDS_ENV = "NATS_CREDS"
NKEYS_INSTALLED = importlib.util.find_spec("nkeys") is not None


class ConnectOptions(TypedDict, total=False):
    """The keyword arguments of ``nats.connect`` that Flotilla sets (callbacks aside)."""

    servers: list[str]
    name: str
    connect_timeout: float
    allow_reconnect: bool
    max_reconnect_attempts: int
    reconnect_time_wait: float
    ping_interval: float
    max_outstanding_pings: int
    user_credentials: str


def credentials_from_env(environ: Mapping[str, str]) -> Path | None:
    """The credentials file ``NATS_CREDS`` names; None when unset or empty."""
    value = environ.get(CREDS_ENV, "").strip()
    return Path(value) if value else None


def credentials_problem(path: Path, *, nkeys_installed: bool = NKEYS_INSTALLED) -> str | None:
    """Why the credentials file cannot be used, for the log and the ``nats`` check; None if it can."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return f"{CREDS_ENV}={path}: no such file (is the credentials Secret mounted?)"
    except OSError as exc:
        return f"{CREDS_ENV}={path}: cannot read it: {exc.strerror or exc}"
    if b"BEGIN NATS USER JWT" not in text or b"BEGIN USER NKEY SEED" not in text:
        return f"{CREDS_ENV}={path}: not a NATS credentials file (no user JWT and nkey seed blocks)"
    if not nkeys_installed:
        return f"{CREDS_ENV} is set but the nkeys package is not installed (nats-py signs with it)"
    return None


def connect_options(
    url: str, *, name: str, credentials: Path | None, first_attempt_timeout: float
) -> ConnectOptions:
    """What ``connect`` passes to ``nats.connect`` (pure)."""
    options = ConnectOptions(
        servers=[server.strip() for server in url.split(",") if server.strip()],  # a cluster: a,b,c
        name=name,
        connect_timeout=first_attempt_timeout,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        ping_interval=5,
        max_outstanding_pings=3,
    )
    if credentials is not None:
        options["user_credentials"] = str(credentials)
    return options


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
    credentials = credentials_from_env(os.environ)
    options = connect_options(
        url, name=name, credentials=credentials, first_attempt_timeout=first_attempt_timeout
    )
    delay = 0.5
    while True:
        reason = credentials_problem(credentials) if credentials is not None else None
        if reason is None:
            try:
                client = await nats.connect(
                    **options, disconnected_cb=disconnected, reconnected_cb=reconnected, error_cb=error
                )
            except (TimeoutError, OSError, nats.errors.Error) as exc:
                reason = f"cannot connect to {url}: {type(exc).__name__}: {exc}"
            except Exception as exc:  # nkeys refusing the file's seed, raised from inside connect()
                if credentials is None:
                    raise
                reason = f"{CREDS_ENV}={credentials}: cannot sign in with it: {type(exc).__name__}: {exc}"
            else:
                break
        log.error("nats: %s; retrying in %.1fs", reason, delay)
        if health is not None:
            health.set_not_ready("nats", reason)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_wait)
    connected = True
    if health is not None:
        health.set_ready("nats")
    log.info("nats: connected to %s", url)
    return client
