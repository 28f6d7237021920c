"""Connect to NATS with reconnect, reporting the connection state to :class:`Health`.

Called by the watcher and worker commands. The first connect is retried with backoff until it
succeeds (NATS unreachable at start is a non-ready probe and a log line, not a crash loop);
afterwards nats.py reconnects forever and the ``nats`` check follows disconnect/reconnect.

Credentials: when ``NATS_CREDS`` names a NATS credentials file (user JWT and nkey seed; the
Helm chart mounts one from ``nats.credentialsSecret``), nats.py signs in with it. A file that
is missing, unreadable or not a credentials file is reported the same way as an unreachable
server, and checked again at every attempt (a Secret mounted late is picked up).
``NATS_USER`` / ``NATS_PASSWORD`` (the bundled server's per-component users) or a
``user:password@`` in the URL sign in with a password instead.

TLS: ``NATS_CA`` (a CA bundle to verify the server with), ``NATS_CERT`` and ``NATS_KEY`` (a client
certificate, for servers that verify clients) turn TLS on; see :mod:`flotilla.runtime.natstls`.

Secrets never reach a log line or the ``/readyz`` text: URLs are shown without their password
(:func:`redact_url`), and only file paths are named, never their content.

Each component passes its ``inbox_prefix`` (from :mod:`schemas.bus.permissions`): its replies
arrive under it, the one inbox subject its NATS user may subscribe to.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import ssl
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict

import nats
from nats.aio.client import Client

from flotilla.runtime.health import Health
from flotilla.runtime.natstls import TLSProblem, tls_context_from_env

log = logging.getLogger("flotilla.runtime.nats")

CREDS_ENV = "NATS_CREDS"
USER_ENV = "NATS_USER"
PASSWORD_ENV = "NATS_PASSWORD"
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
    user: str
    password: str
    inbox_prefix: str
    tls: ssl.SSLContext


def redact_url(url: str) -> str:
    """``url`` without its password (``nats://user:***@host:port``), for logs and readiness text."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparseable NATS URL>"
    if parts.password is None and "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = urllib.parse.unquote(parts.username or "")
    shown = f"{user}:***@{host}" if parts.password is not None else f"***@{host}"
    return urllib.parse.urlunsplit(parts._replace(netloc=shown))


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


def password_from_env(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``(NATS_USER, NATS_PASSWORD)`` when ``NATS_USER`` is set; None otherwise."""
    user = environ.get(USER_ENV, "").strip()
    if not user:
        return None
    return user, environ.get(PASSWORD_ENV, "")


def connect_options(
    url: str,
    *,
    name: str,
    credentials: Path | None,
    first_attempt_timeout: float,
    password: tuple[str, str] | None = None,
    inbox_prefix: str | None = None,
    tls: ssl.SSLContext | None = None,
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
    if password is not None:
        options["user"], options["password"] = password
    if inbox_prefix:
        options["inbox_prefix"] = inbox_prefix
    if tls is not None:
        options["tls"] = tls
    return options


async def connect(
    url: str,
    *,
    name: str,
    health: Health | None = None,
    max_wait: float = 10.0,
    first_attempt_timeout: float = 3.0,
    inbox_prefix: str | None = None,
) -> Client:
    """A connected client; keeps trying until it gets one (cancel the task to give up)."""
    shown = redact_url(url)

    async def disconnected() -> None:
        log.warning("nats: disconnected from %s", shown)
        if health is not None:
            health.set_not_ready("nats", "disconnected, reconnecting")

    async def reconnected() -> None:
        log.info("nats: reconnected to %s", shown)
        if health is not None:
            health.set_ready("nats")

    connected = False
    last_logged = 0.0

    async def error(exc: Exception) -> None:
        nonlocal last_logged
        reason = f"cannot connect to {shown}: {type(exc).__name__}: {exc}"
        if not connected and health is not None:
            health.set_not_ready("nats", reason)
        now = time.monotonic()
        if now - last_logged > 10.0:  # nats.py retries every reconnect_time_wait; log a line per 10s
            last_logged = now
            log.error("nats: %s", reason if not connected else f"{type(exc).__name__}: {exc}")

    if health is not None:
        health.set_not_ready("nats", f"connecting to {shown}")
    credentials = credentials_from_env(os.environ)
    delay = 0.5
    while True:
        reason = credentials_problem(credentials) if credentials is not None else None
        tls: ssl.SSLContext | None = None
        if reason is None:
            try:
                tls = tls_context_from_env(os.environ)
            except TLSProblem as problem:
                reason = str(problem)
        if reason is None:
            options = connect_options(
                url,
                name=name,
                credentials=credentials,
                first_attempt_timeout=first_attempt_timeout,
                password=password_from_env(os.environ),
                inbox_prefix=inbox_prefix,
                tls=tls,
            )
            try:
                client = await nats.connect(
                    **options, disconnected_cb=disconnected, reconnected_cb=reconnected, error_cb=error
                )
            except (TimeoutError, OSError, nats.errors.Error) as exc:
                reason = f"cannot connect to {shown}: {type(exc).__name__}: {exc}"
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
    log.info("nats: connected to %s", shown)
    return client
