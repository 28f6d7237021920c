"""Declare the bus's streams, consumers and KV buckets on JetStream, idempotently.

The one module that creates JetStream objects. The watcher and every worker call
:func:`declare` once at start with the :class:`~schemas.bus.streams.BusSpec` they depend on.
A missing object is created; one that exists with the declared settings is left alone; one
whose settings drifted is corrected and the drift is logged (operators see what changed).
A drift the server cannot correct in place (retention, storage, a subject owned by another
stream) raises :class:`BusConfigError` with what to do: callers report it on ``/readyz``
and retry, rather than crash-looping.

Each NATS user may change only what it owns (:mod:`schemas.bus.permissions`): a worker may
create its consumer and the lease/failure buckets but not the streams, which the watcher
declares. nats-server drops a request its user may not send, so the call gets no answer: a
missing object that cannot be created is a :class:`BusConfigError` saying who creates it
(retried until it exists), and a drift that cannot be corrected is logged and left to the
object's owner.

Replicas and byte limits come from :class:`~schemas.bus.settings.BusSettings` (the process's
flags, else the environment) and apply to every stream and bucket. Changing the replicas of an
existing stream or bucket is an ordinary drift: JetStream scales it up or down in place (its
consumers follow the stream), which needs a clustered server with at least that many JetStream
servers; a single server refuses anything above R1, reported as a :class:`BusConfigError`.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

from nats.js import JetStreamContext, api
from nats.js.errors import APIError, NotFoundError

from schemas.bus.settings import BusSettings
from schemas.bus.streams import BucketSpec, BusSpec, ConsumerSpec, Discard, Retention, Storage, StreamSpec

log = logging.getLogger("flotilla.bus.bootstrap")


class BusConfigError(RuntimeError):
    """JetStream holds an object whose configuration conflicts with Flotilla's and cannot be fixed."""


@dataclass(frozen=True)
class Declared:
    """What :func:`declare` did to one object: ``created``, ``unchanged``, ``corrected`` or
    ``uncorrected`` (drifted, not this user's to change)."""

    kind: str  # "stream" | "consumer" | "bucket"
    name: str
    action: str
    drift: tuple[str, ...] = ()


_RETENTION = {
    Retention.LIMITS: api.RetentionPolicy.LIMITS,
    Retention.WORK_QUEUE: api.RetentionPolicy.WORK_QUEUE,
}
_STORAGE = {Storage.FILE: api.StorageType.FILE, Storage.MEMORY: api.StorageType.MEMORY}
_DISCARD = {Discard.OLD: api.DiscardPolicy.OLD, Discard.NEW: api.DiscardPolicy.NEW}


def _seconds(value: float | None) -> float:
    return float(value or 0.0)


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, abs_tol=1e-3)


def _stream_fields(spec: StreamSpec) -> dict[str, object]:
    return {
        "subjects": list(spec.subjects),
        "description": spec.description,
        "retention": _RETENTION[spec.retention],
        "storage": _STORAGE[spec.storage],
        "max_msgs_per_subject": spec.max_msgs_per_subject,
        "max_age": spec.max_age,
        "max_bytes": spec.max_bytes,
        "duplicate_window": spec.duplicate_window,
        "discard": _DISCARD[spec.discard],
        "num_replicas": spec.replicas,
        "allow_msg_schedules": spec.allow_msg_schedules or None,
    }


def stream_drift(spec: StreamSpec, actual: api.StreamConfig) -> tuple[str, ...]:
    """Human-readable differences between the declared and the server's stream settings."""
    drift: list[str] = []
    if sorted(actual.subjects or []) != sorted(spec.subjects):
        drift.append(f"subjects {actual.subjects} -> {list(spec.subjects)}")
    if actual.retention != _RETENTION[spec.retention]:
        drift.append(f"retention {actual.retention} -> {spec.retention.value}")
    if actual.storage != _STORAGE[spec.storage]:
        drift.append(f"storage {actual.storage} -> {spec.storage.value}")
    if actual.max_msgs_per_subject != spec.max_msgs_per_subject:
        drift.append(f"max_msgs_per_subject {actual.max_msgs_per_subject} -> {spec.max_msgs_per_subject}")
    if not _same(_seconds(actual.max_age), spec.max_age):
        drift.append(f"max_age {actual.max_age} -> {spec.max_age}")
    if (actual.max_bytes or -1) != spec.max_bytes:
        drift.append(f"max_bytes {actual.max_bytes} -> {spec.max_bytes}")
    if not _same(_seconds(actual.duplicate_window), spec.duplicate_window):
        drift.append(f"duplicate_window {actual.duplicate_window} -> {spec.duplicate_window}")
    if bool(actual.allow_msg_schedules) != spec.allow_msg_schedules:
        drift.append(f"allow_msg_schedules {bool(actual.allow_msg_schedules)} -> {spec.allow_msg_schedules}")
    if (actual.discard or api.DiscardPolicy.OLD) != _DISCARD[spec.discard]:
        drift.append(f"discard {actual.discard} -> {spec.discard.value}")
    if (actual.num_replicas or 1) != spec.replicas:
        drift.append(f"replicas {actual.num_replicas or 1} -> {spec.replicas}")
    return tuple(drift)


def consumer_drift(spec: ConsumerSpec, actual: api.ConsumerConfig) -> tuple[str, ...]:
    drift: list[str] = []
    if actual.filter_subject != spec.filter_subject:
        drift.append(f"filter_subject {actual.filter_subject} -> {spec.filter_subject}")
    if actual.ack_policy != api.AckPolicy.EXPLICIT:
        drift.append(f"ack_policy {actual.ack_policy} -> explicit")
    if not _same(_seconds(actual.ack_wait), spec.ack_wait):
        drift.append(f"ack_wait {actual.ack_wait} -> {spec.ack_wait}")
    if actual.max_ack_pending != spec.max_ack_pending:
        drift.append(f"max_ack_pending {actual.max_ack_pending} -> {spec.max_ack_pending}")
    if (actual.max_deliver or -1) != spec.max_deliver:
        drift.append(f"max_deliver {actual.max_deliver} -> {spec.max_deliver}")
    if actual.deliver_subject:
        drift.append(f"deliver_subject {actual.deliver_subject} -> (pull consumer)")
    return tuple(drift)


_NO_ANSWER = TimeoutError  # nats.errors.TimeoutError is one


def _not_created(kind: str, name: str) -> BusConfigError:
    return BusConfigError(
        f"JetStream {kind} {name!r} does not exist and creating it got no answer: this NATS user may "
        f"not create it (the watcher creates the streams: start it, or give this process a user "
        f"that may) or JetStream is not answering; retrying"
    )


def _uncorrected(kind: str, name: str, drift: tuple[str, ...]) -> Declared:
    log.warning(
        "bus: %s %s drifted (%s) and correcting it got no answer (not this NATS user's to change?); "
        "using it as it is",
        kind,
        name,
        "; ".join(drift),
    )
    return Declared(kind, name, "uncorrected", drift)


def _fail(kind: str, name: str, drift: tuple[str, ...], err: APIError, replicas: int = 1) -> BusConfigError:
    text = (err.description or str(err)).lower()
    if replicas > 1 and ("replica" in text or "insufficient resources" in text or "clustered" in text):
        return BusConfigError(
            f"JetStream {kind} {name!r} cannot have {replicas} replicas: {err.description or err}. "
            f"Run NATS as a JetStream cluster of at least {replicas} servers, or lower the replicas "
            "(FLOTILLA_BUS_REPLICAS / --bus-replicas; chart value bus.replicas). Right after a change "
            "of replicas JetStream needs some seconds to move the stream; Flotilla retries."
        )
    return BusConfigError(
        f"JetStream {kind} {name!r} exists with a configuration Flotilla cannot correct in place "
        f"({'; '.join(drift) or 'conflict'}): {err.description or err}. "
        f"Delete it (e.g. `nats {kind} rm {name}`) or point Flotilla at another NATS account."
    )


async def declare_stream(js: JetStreamContext, spec: StreamSpec) -> Declared:
    fields = _stream_fields(spec)
    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        try:
            await js.add_stream(api.StreamConfig(name=spec.name, **fields))  # type: ignore[arg-type]
        except APIError as err:
            raise _fail("stream", spec.name, (), err, spec.replicas) from None
        except _NO_ANSWER:
            raise _not_created("stream", spec.name) from None
        log.info("bus: created stream %s", spec.name)
        return Declared("stream", spec.name, "created")
    drift = stream_drift(spec, info.config)
    if not drift:
        return Declared("stream", spec.name, "unchanged")
    log.warning("bus: stream %s drifted, correcting: %s", spec.name, "; ".join(drift))
    try:
        await js.update_stream(info.config.evolve(**fields))
    except APIError as err:
        raise _fail("stream", spec.name, drift, err, spec.replicas) from None
    except _NO_ANSWER:
        return _uncorrected("stream", spec.name, drift)
    return Declared("stream", spec.name, "corrected", drift)


async def declare_consumer(js: JetStreamContext, spec: ConsumerSpec, replicas: int = 1) -> Declared:
    """``replicas``: the stream's, which the consumer inherits (only used to explain a refusal)."""
    config = api.ConsumerConfig(
        durable_name=spec.durable_name,
        description=spec.description,
        deliver_policy=api.DeliverPolicy.ALL,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=spec.ack_wait,
        max_deliver=spec.max_deliver,
        filter_subject=spec.filter_subject,
        max_ack_pending=spec.max_ack_pending,
        max_waiting=spec.max_waiting,
    )
    try:
        info = await js.consumer_info(spec.stream, spec.durable_name)
    except NotFoundError:
        info = None
    drift = consumer_drift(spec, info.config) if info is not None else ()
    if info is not None and not drift:
        return Declared("consumer", spec.durable_name, "unchanged")
    if drift:
        log.warning("bus: consumer %s drifted, correcting: %s", spec.durable_name, "; ".join(drift))
    try:
        await js.add_consumer(spec.stream, config)
    except APIError as err:
        raise _fail("consumer", spec.durable_name, drift, err, replicas) from None
    if info is None:
        log.info("bus: created consumer %s on %s", spec.durable_name, spec.stream)
        return Declared("consumer", spec.durable_name, "created")
    return Declared("consumer", spec.durable_name, "corrected", drift)


async def declare_bucket(js: JetStreamContext, spec: BucketSpec) -> Declared:
    stream = f"KV_{spec.bucket}"
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        config = api.KeyValueConfig(
            bucket=spec.bucket,
            description=spec.description,
            ttl=spec.ttl or None,
            history=spec.history,
            storage=_STORAGE[spec.storage],
            replicas=spec.replicas,
        )
        try:
            await js.create_key_value(config)
        except APIError as err:
            raise _fail("kv", spec.bucket, (), err, spec.replicas) from None
        except _NO_ANSWER:
            raise _not_created("KV bucket", spec.bucket) from None
        log.info("bus: created KV bucket %s", spec.bucket)
        return Declared("bucket", spec.bucket, "created")
    actual = info.config
    drift: list[str] = []
    if not _same(_seconds(actual.max_age), spec.ttl):
        drift.append(f"ttl {actual.max_age} -> {spec.ttl}")
    if actual.max_msgs_per_subject != spec.history:
        drift.append(f"history {actual.max_msgs_per_subject} -> {spec.history}")
    if actual.storage != _STORAGE[spec.storage]:
        drift.append(f"storage {actual.storage} -> {spec.storage.value}")
    if (actual.num_replicas or 1) != spec.replicas:
        drift.append(f"replicas {actual.num_replicas or 1} -> {spec.replicas}")
    if not drift:
        return Declared("bucket", spec.bucket, "unchanged")
    log.warning("bus: KV bucket %s drifted, correcting: %s", spec.bucket, "; ".join(drift))
    try:
        await js.update_stream(
            actual.evolve(
                max_age=spec.ttl,
                max_msgs_per_subject=spec.history,
                storage=_STORAGE[spec.storage],
                num_replicas=spec.replicas,
            )
        )
    except APIError as err:
        raise _fail("kv", spec.bucket, tuple(drift), err, spec.replicas) from None
    except _NO_ANSWER:
        return _uncorrected("bucket", spec.bucket, tuple(drift))
    return Declared("bucket", spec.bucket, "corrected", tuple(drift))


async def declare(
    js: JetStreamContext, spec: BusSpec, settings: BusSettings | None = None
) -> tuple[Declared, ...]:
    """Declare every object of ``spec`` (streams first, then consumers, then buckets), with the
    replicas and byte limits of ``settings`` (default: :meth:`BusSettings.from_env`)."""
    settings = settings or BusSettings.from_env(os.environ)
    spec = settings.apply(spec)
    done: list[Declared] = []
    for stream in spec.streams:
        done.append(await declare_stream(js, stream))
    for consumer in spec.consumers:
        done.append(await declare_consumer(js, consumer, settings.replicas))
    for bucket in spec.buckets:
        done.append(await declare_bucket(js, bucket))
    return tuple(done)
