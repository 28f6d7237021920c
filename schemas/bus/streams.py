"""The JetStream objects Flotilla uses, declared as data: streams, per-type consumers, KV buckets.

Nothing here touches the network; :mod:`schemas.bus.bootstrap` turns these specs into
JetStream calls. The watcher declares what it publishes to (``bus_spec(...)``) at start; each
worker process declares its own type's consumer and the buckets it needs. Declaring twice is
harmless, so every process may declare everything it depends on.

Timing invariants the worker runtime relies on (checked by :func:`check_timing`):
the lease TTL is renewed every third of itself, and in-progress acks are sent every third
of ``ack_wait``, so one lost renewal or heartbeat never loses the key.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from schemas.bus.subjects import (
    DEADLETTER_PREFIX,
    EVENTLOG_PREFIX,
    RECONCILE_PREFIX,
    REQUEUE_PREFIX,
    reconcile_filter,
)

RECONCILE_STREAM = "RECONCILE"
DEADLETTER_STREAM = "DEADLETTER"
EVENTLOG_STREAM = "EVENTLOG"
LEASE_BUCKET = "flotilla-leases"
FAILURE_BUCKET = "flotilla-failures"
WATCHER_BUCKET = "flotilla-watcher"

#: Seconds a key lease lives without renewal (a SIGKILLed holder's key is free after this).
LEASE_TTL = 15.0
#: Seconds a delivered trigger may stay unacknowledged before JetStream redelivers it.
ACK_WAIT = 15.0


class Storage(enum.StrEnum):
    FILE = "file"
    MEMORY = "memory"


class Retention(enum.StrEnum):
    LIMITS = "limits"
    WORK_QUEUE = "workqueue"


class Discard(enum.StrEnum):
    """What a full stream does: drop its oldest messages, or refuse the new one (the publisher retries)."""

    OLD = "old"
    NEW = "new"


@dataclass(frozen=True)
class StreamSpec:
    """A stream as Flotilla wants it; bootstrap compares exactly these fields with the server's."""

    name: str
    subjects: tuple[str, ...]
    description: str
    retention: Retention = Retention.LIMITS
    storage: Storage = Storage.FILE
    max_msgs_per_subject: int = -1
    max_age: float = 0.0  # seconds; 0 = forever
    max_bytes: int = -1
    discard: Discard = Discard.OLD
    duplicate_window: float = 120.0  # seconds
    allow_msg_schedules: bool = False  # JetStream message schedules (nats-server >= 2.12)
    replicas: int = 1  # set from BusSettings by bootstrap.declare


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer; ``max_deliver=-1`` because the runtime dead-letters by failure count."""

    stream: str
    durable_name: str
    filter_subject: str
    description: str
    ack_wait: float = ACK_WAIT
    max_ack_pending: int = 1000
    max_deliver: int = -1
    max_waiting: int = 512


@dataclass(frozen=True)
class BucketSpec:
    """A KV bucket; ``ttl`` is the age at which an entry not rewritten disappears."""

    bucket: str
    description: str
    ttl: float = 0.0  # seconds; 0 = forever
    history: int = 1
    storage: Storage = Storage.FILE
    replicas: int = 1  # set from BusSettings by bootstrap.declare


@dataclass(frozen=True)
class BusSpec:
    """Everything one process depends on, declared together at start."""

    streams: tuple[StreamSpec, ...] = ()
    consumers: tuple[ConsumerSpec, ...] = ()
    buckets: tuple[BucketSpec, ...] = field(default=())


#: Default byte limits (``BusSettings`` overrides them): RECONCILE holds one small trigger per
#: key (~0.5 KiB), so 256 MiB is room for some 500,000 pending keys; EVENTLOG keeps an hour.
RECONCILE_MAX_BYTES = 256 << 20
EVENTLOG_MAX_BYTES = 1 << 30


def reconcile_stream(max_bytes: int = RECONCILE_MAX_BYTES) -> StreamSpec:
    """One pending trigger per key (``max_msgs_per_subject=1``), removed once acked (work queue).
    Full, it drops its oldest pending triggers (``discard: old``): nats-server refuses message
    schedules on a ``discard: new`` stream, and the periodic resync re-triggers every key, so
    a dropped trigger is late (one resync period at most), never lost for good.

    Also one pending requeue per key: a message schedule on ``flotilla.requeue.<key>`` that
    publishes the trigger back to its reconcile subject when due (schedules must target a
    subject of their own stream). No consumer reads the requeue subjects.
    """
    return StreamSpec(
        name=RECONCILE_STREAM,
        subjects=(f"{RECONCILE_PREFIX}.>", f"{REQUEUE_PREFIX}.>"),
        description="Flotilla reconcile triggers: flotilla.reconcile.<type>.<namespace>.<name>",
        retention=Retention.WORK_QUEUE,
        max_msgs_per_subject=1,
        max_bytes=max_bytes,
        discard=Discard.OLD,
        duplicate_window=120.0,
        allow_msg_schedules=True,
    )


def deadletter_stream() -> StreamSpec:
    return StreamSpec(
        name=DEADLETTER_STREAM,
        subjects=(f"{DEADLETTER_PREFIX}.>",),
        description="Triggers Flotilla gave up on, with the error in the Flotilla-Error header",
        max_msgs_per_subject=10,
        max_age=7 * 24 * 3600.0,
    )


def eventlog_stream(max_age: float = 3600.0, max_bytes: int = EVENTLOG_MAX_BYTES) -> StreamSpec:
    """Full watch events for a bounded time, so a reconcile can be replayed from the log."""
    return StreamSpec(
        name=EVENTLOG_STREAM,
        subjects=(f"{EVENTLOG_PREFIX}.>",),
        description="Flotilla watch event log: flotilla.events.<kind>.<namespace>.<name>",
        max_age=max_age,
        max_bytes=max_bytes,
    )


def worker_consumer(
    worker_type: str, ack_wait: float = ACK_WAIT, max_ack_pending: int = 1000
) -> ConsumerSpec:
    """The durable pull consumer all replicas of ``worker_type`` share."""
    return ConsumerSpec(
        stream=RECONCILE_STREAM,
        durable_name=f"worker-{worker_type}",
        filter_subject=reconcile_filter(worker_type),
        description=f"Flotilla {worker_type} workers",
        ack_wait=ack_wait,
        max_ack_pending=max_ack_pending,
    )


def lease_bucket(ttl: float = LEASE_TTL) -> BucketSpec:
    """Per-key leases: create-if-absent, rewritten to renew; file storage so a NATS restart keeps them."""
    return BucketSpec(bucket=LEASE_BUCKET, description="Flotilla per-key reconcile leases", ttl=ttl)


def failure_bucket() -> BucketSpec:
    """Consecutive reconcile failures per key, for backoff and the dead-letter decision."""
    return BucketSpec(bucket=FAILURE_BUCKET, description="Flotilla reconcile failure counts", ttl=3600.0)


def watcher_bucket() -> BucketSpec:
    """Watcher checkpoints (last resourceVersion per watched kind)."""
    return BucketSpec(bucket=WATCHER_BUCKET, description="Flotilla watcher checkpoints", history=1)


def worker_bus(
    worker_type: str, ack_wait: float = ACK_WAIT, lease_ttl: float = LEASE_TTL, max_ack_pending: int = 1000
) -> BusSpec:
    """What a worker of ``worker_type`` declares at start."""
    return BusSpec(
        streams=(reconcile_stream(), deadletter_stream()),
        consumers=(worker_consumer(worker_type, ack_wait=ack_wait, max_ack_pending=max_ack_pending),),
        buckets=(lease_bucket(lease_ttl), failure_bucket()),
    )


def watcher_bus(worker_types: tuple[str, ...] = (), with_event_log: bool = True) -> BusSpec:
    """What the watcher declares at start: the streams it publishes to, its bucket, and optionally
    consumers (by default each worker declares its own, with its own timing)."""
    streams = (reconcile_stream(), deadletter_stream()) + ((eventlog_stream(),) if with_event_log else ())
    return BusSpec(
        streams=streams,
        consumers=tuple(worker_consumer(t) for t in worker_types),
        buckets=(watcher_bucket(),),
    )


def check_timing(lease_ttl: float, ack_wait: float, renew_every: float, heartbeat_every: float) -> None:
    """Raise ValueError when renewals or heartbeats are too sparse to keep a key safely."""
    if renew_every * 2 >= lease_ttl:
        raise ValueError(f"lease renewal every {renew_every}s is too sparse for a {lease_ttl}s lease")
    if heartbeat_every * 2 >= ack_wait:
        raise ValueError(f"in-progress ack every {heartbeat_every}s is too sparse for ack_wait {ack_wait}s")
