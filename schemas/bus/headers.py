"""NATS headers a message may carry on to another publish: pure functions, no I/O.

A trigger's headers mix what belongs to the trigger (W3C trace context, Flotilla's own
headers) with publish-control headers that steer JetStream when the message is *stored*:
``Nats-Expected-Stream`` (the watcher names RECONCILE), ``Nats-Msg-Id`` (dedup),
``Nats-Schedule*`` (a schedule), ``Nats-TTL``, ``Nats-Rollup``, and headers the server adds
(``Nats-Scheduler``, ``Nats-Schedule-Next``). Copied onto a publish to another subject or
stream, they misdirect it: NATS refuses a dead letter whose ``Nats-Expected-Stream`` names
RECONCILE (err 10060) and would turn a copied ``Nats-Schedule`` into a schedule. Every
``Nats-`` header is reserved for the server's use, so :func:`forwardable` drops them all.
Used by :mod:`workers.runtime.deadletter` and :mod:`workers.runtime.requeue`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

#: Prefix of the headers NATS reserves (publish control and server-set metadata).
NATS_RESERVED_PREFIX = "nats-"
#: Headers of a JetStream message schedule (ADR-51, nats-server >= 2.12).
SCHEDULE = "Nats-Schedule"
SCHEDULE_TARGET = "Nats-Schedule-Target"
#: Set by the server on a message a schedule produced: the subject that held the schedule.
SCHEDULER = "Nats-Scheduler"


def forwardable(headers: Mapping[str, str] | None) -> dict[str, str]:
    """``headers`` without any ``Nats-*`` header (case-insensitive): safe to publish elsewhere."""
    return {k: v for k, v in (headers or {}).items() if not k.lower().startswith(NATS_RESERVED_PREFIX)}


def schedule_at(when: float) -> str:
    """``Nats-Schedule`` value firing once at Unix time ``when`` (RFC 3339, UTC, milliseconds)."""
    stamp = datetime.fromtimestamp(when, tz=UTC).isoformat(timespec="milliseconds")
    return "@at " + stamp.replace("+00:00", "Z")


def schedule_headers(headers: Mapping[str, str] | None, when: float, target: str) -> dict[str, str]:
    """Headers of a one-shot schedule publishing to ``target`` at ``when``, keeping ``headers``'
    forwardable ones (trace context) so the message it produces carries them."""
    return {**forwardable(headers), SCHEDULE: schedule_at(when), SCHEDULE_TARGET: target}


def scheduled(headers: Mapping[str, str] | None) -> bool:
    """Whether a delivered message was produced by a schedule (a requeue or a retry firing)."""
    return bool(headers) and SCHEDULER in (headers or {})
