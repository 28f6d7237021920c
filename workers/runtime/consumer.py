"""The consumer loop of one worker type: fetch -> lease -> observe -> plan -> act -> settle.

:class:`WorkerRuntime` binds the type's durable pull consumer (declared beforehand by
:mod:`schemas.bus.bootstrap`), fetches in batches while it has free slots (bounded
concurrency), and runs each trigger under the key's lease (:mod:`workers.runtime.lease`),
sending in-progress acks and lease renewals while it works. The result contract of
:mod:`workers.runtime.contract` is applied here and only here. ``stop`` ends fetching; in-flight
reconciles get ``shutdown_grace`` seconds, then are cancelled and handed back (nak, lease
released). Started by :mod:`workers.runtime.process`; tests may run it in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError
from opentelemetry import trace

from flotilla.runtime import metrics
from flotilla.runtime.errors import Conflict
from flotilla.runtime.kube import KubeClient
from flotilla.runtime.logs import reconcile_context
from flotilla.runtime.tracing import extract_context
from schemas.bus.envelope import Envelope, EnvelopeError, MalformedEnvelope, UnsupportedVersion, decode
from schemas.bus.streams import RECONCILE_STREAM
from schemas.bus.subjects import reconcile_subject_for_key
from workers.runtime.contract import TerminalError, WorkerType
from workers.runtime.deadletter import mark_object, publish_dead_letter
from workers.runtime.failures import FailureCounts
from workers.runtime.lease import KeyLeases, Lease
from workers.runtime.observe import ApiStateReader

log = logging.getLogger("flotilla.worker")
_tracer = trace.get_tracer("flotilla.worker")
_NATS_ERRORS = (NatsError, APIError, asyncio.TimeoutError, OSError)


@dataclass(frozen=True)
class RuntimeOptions:
    """Tuning of one worker process (flags of ``flotilla worker``)."""

    concurrency: int = 16
    batch: int = 16
    fetch_timeout: float = 1.0
    max_failures: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    lease_ttl: float = 15.0
    ack_wait: float = 15.0
    lease_busy_delay: float = 1.0
    shutdown_grace: float = 20.0
    max_conflict_replans: int = 3
    lag_poll_interval: float = 5.0

    @property
    def heartbeat_every(self) -> float:
        return min(self.lease_ttl, self.ack_wait) / 3


@dataclass(frozen=True)
class Outcome:
    kind: str  # success | requeue | error | terminal | lease_lost
    requeue_after: float | None = None
    error: str = ""


class WorkerRuntime:
    """Runs one worker type's reconciles in this process until ``stop`` is set."""

    def __init__(
        self,
        worker: WorkerType[Any, Any],
        js: JetStreamContext,
        api: KubeClient,
        leases: KeyLeases,
        failures: FailureCounts,
        options: RuntimeOptions,
        redeclare: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.worker = worker
        self.js = js
        self.api = api
        self.reader = ApiStateReader(api)
        self.leases = leases
        self.failures = failures
        self.options = options
        self.redeclare = redeclare
        self._tasks: set[asyncio.Task[None]] = set()
        self._tasks_handing_back: set[asyncio.Task[None]] = set()
        self.bound = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        durable = f"worker-{self.worker.name}"
        while not stop.is_set():
            try:
                sub = await self.js.pull_subscribe_bind(durable=durable, stream=RECONCILE_STREAM)
                break
            except _NATS_ERRORS as exc:
                log.error("cannot bind consumer %s: %s; retrying", durable, exc)
                await asyncio.sleep(1.0)
        else:
            return
        self.bound.set()
        lag = asyncio.create_task(self._poll_lag(sub))
        try:
            while not stop.is_set():
                if self._free() <= 0:
                    await asyncio.wait(set(self._tasks), timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                    continue
                self._dispatch(await self._fetch_waiting(sub), stop)
                # Then take whatever else is ready, while the first reconciles already run.
                while not stop.is_set() and (free := self._free()) > 0:
                    ready = await self._fetch_ready(sub, free)
                    if not ready:
                        break
                    self._dispatch(ready, stop)
        finally:
            lag.cancel()
            await self._drain()
            await _quietly(sub.unsubscribe())

    def _free(self) -> int:
        return self.options.concurrency - len(self._tasks)

    def _dispatch(self, msgs: list[Msg], stop: asyncio.Event) -> None:
        for msg in msgs:
            if stop.is_set():
                hand_back = asyncio.create_task(_quietly(msg.nak()))
                self._tasks_handing_back.add(hand_back)
                hand_back.add_done_callback(self._tasks_handing_back.discard)
                continue
            task = asyncio.create_task(self._handle(msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _fetch_waiting(self, sub: JetStreamContext.PullSubscription) -> list[Msg]:
        """Long-poll for one message; returns on arrival.

        nats.py's ``fetch(batch=n)`` holds a partial batch until its timeout, which would add up
        to ``fetch_timeout`` of latency to an idle trigger; a batch of one returns at once.
        """
        try:
            return await sub.fetch(batch=1, timeout=self.options.fetch_timeout)
        except (TimeoutError, NatsTimeout):
            return []
        except ServiceUnavailableError:  # no responder: JetStream restarting, or the consumer is gone
            await self._recover_consumer()
            await asyncio.sleep(0.5)
            return []
        except _NATS_ERRORS as exc:
            log.warning("fetch failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(0.5)
            return []

    async def _recover_consumer(self) -> None:
        """Re-declare the bus when the consumer (or its stream) disappeared, e.g. NATS lost its store."""
        durable = f"worker-{self.worker.name}"
        try:
            await self.js.consumer_info(RECONCILE_STREAM, durable)
            return
        except NotFoundError:
            log.warning("consumer %s is gone; declaring the bus again", durable)
        except _NATS_ERRORS:
            return
        if self.redeclare is not None:
            try:
                await self.redeclare()
            except Exception as exc:  # BusConfigError or transport: logged, retried on the next fetch
                log.error("re-declaring the bus failed: %s", exc)

    async def _fetch_ready(self, sub: JetStreamContext.PullSubscription, free: int) -> list[Msg]:
        """Messages already waiting (up to ``free`` and ``batch``), without lingering."""
        with contextlib.suppress(*_NATS_ERRORS):  # nothing ready (a timeout) or a transient error
            return await sub.fetch(batch=min(free, self.options.batch), timeout=0.01)
        return []

    async def _drain(self) -> None:
        if not self._tasks:
            return
        log.info(
            "shutting down: waiting up to %.0fs for %d reconciles",
            self.options.shutdown_grace,
            len(self._tasks),
        )
        _, pending = await asyncio.wait(set(self._tasks), timeout=self.options.shutdown_grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=10)
            log.info("handed back %d unfinished reconciles", len(pending))

    async def _poll_lag(self, sub: JetStreamContext.PullSubscription) -> None:
        while True:
            try:
                info = await sub.consumer_info()
                metrics.CONSUMER_PENDING.labels(self.worker.name).set(info.num_pending or 0)
                metrics.CONSUMER_ACK_PENDING.labels(self.worker.name).set(info.num_ack_pending or 0)
            except _NATS_ERRORS:
                pass
            await asyncio.sleep(self.options.lag_poll_interval)

    async def _handle(self, msg: Msg) -> None:
        name = self.worker.name
        try:
            envelope = decode(msg.data)
            if envelope.parts.type != name or reconcile_subject_for_key(envelope.key) != msg.subject:
                raise MalformedEnvelope(f"key {envelope.key!r} does not belong on subject {msg.subject!r}")
        except (EnvelopeError, ValueError) as err:
            reason = "unsupported_version" if isinstance(err, UnsupportedVersion) else "malformed"
            await self._give_up_unreadable(msg, reason, str(err))
            return
        context = extract_context(msg.headers)
        attributes = {
            "flotilla.key": envelope.key,
            "flotilla.type": name,
            "flotilla.event": envelope.event_type.value,
            "flotilla.delivery": msg.metadata.num_delivered,
        }
        with _tracer.start_as_current_span(
            f"consume {name}", context=context, kind=trace.SpanKind.CONSUMER, attributes=attributes
        ) as span:
            try:
                lease = await self.leases.acquire(envelope.key)
            except _NATS_ERRORS as exc:
                log.warning("lease acquire for %s failed: %s", envelope.key, exc)
                await _quietly(msg.nak(delay=self.options.lease_busy_delay))
                return
            if lease is None:
                metrics.LEASE_CONFLICTS.labels(name).inc()
                span.set_attribute("flotilla.outcome", "lease_busy")
                await _quietly(msg.nak(delay=self.options.lease_busy_delay * random.uniform(0.5, 1.5)))
                return
            await self._under_lease(msg, envelope, lease, span)

    async def _under_lease(self, msg: Msg, envelope: Envelope, lease: Lease, span: trace.Span) -> None:
        started = time.monotonic()
        metrics.IN_FLIGHT.labels(self.worker.name).inc()
        work = asyncio.create_task(self._reconcile(envelope, msg))
        beat = asyncio.create_task(self._heartbeat(msg, lease, work))
        try:
            try:
                outcome = await asyncio.shield(work)
            except asyncio.CancelledError:
                if not work.done():  # we are being shut down: stop the work, hand the key back
                    work.cancel()
                    await asyncio.wait({work}, timeout=5)
                    await _quietly(msg.nak())
                    raise
                outcome = Outcome("lease_lost", error="lease lost while reconciling")
        finally:
            beat.cancel()
            metrics.IN_FLIGHT.labels(self.worker.name).dec()
            await asyncio.shield(self.leases.release(lease))
        if work.cancelled():
            outcome = Outcome("lease_lost", error="lease lost while reconciling")
        metrics.RECONCILE_DURATION.labels(self.worker.name).observe(time.monotonic() - started)
        span.set_attribute("flotilla.outcome", outcome.kind)
        await self._settle(msg, envelope, outcome)

    async def _heartbeat(self, msg: Msg, lease: Lease, work: asyncio.Task[Outcome]) -> None:
        """In-progress acks and lease renewals; cancels ``work`` once the lease is (or may be) lost.

        Timer-based: however slow a renewal call is, the work is stopped by ``safe_until``,
        before the lease can expire and another replica take the key.
        """
        while not work.done():
            deadline = self.leases.safe_until(lease)
            await asyncio.sleep(max(0.0, min(self.options.heartbeat_every, deadline - time.monotonic())))
            if work.done():
                return
            await _quietly(msg.in_progress())
            try:
                kept = await asyncio.wait_for(
                    self.leases.renew(lease),
                    timeout=max(0.05, self.leases.safe_until(lease) - time.monotonic()),
                )
            except TimeoutError:
                kept = False
            if not kept or time.monotonic() >= self.leases.safe_until(lease):
                lease.lost = True
                metrics.LEASES_LOST.labels(self.worker.name).inc()
                log.warning("lease of %s lost or not renewed in time; stopping its reconcile", lease.key)
                work.cancel()
                return

    async def _reconcile(self, envelope: Envelope, msg: Msg) -> Outcome:
        worker, parts = self.worker, envelope.parts
        first_delivery = msg.metadata.num_delivered == 1
        with reconcile_context(envelope.key) as rid:
            trace.get_current_span().set_attribute("flotilla.reconcile_id", rid)
            last_conflict = ""
            for attempt in range(self.options.max_conflict_replans + 1):
                try:
                    with _tracer.start_as_current_span("observe"):
                        snapshot = await worker.observe(self.reader, parts)
                    with _tracer.start_as_current_span("plan") as plan_span:
                        if attempt == 0 and first_delivery:
                            latency = max(0.0, time.time() - envelope.observed_at)
                            metrics.TRIGGER_LATENCY.labels(worker.name).observe(latency)
                        plan = worker.plan(snapshot, worker.config, time.time())
                        plan_span.set_attribute("flotilla.actions", len(plan.actions))
                        plan_span.set_attribute("flotilla.reason", plan.reason)
                    with _tracer.start_as_current_span("act"):
                        await worker.run_act(self.api, snapshot, plan)
                    log.info("reconciled: %s (%d actions)", plan.reason or "in sync", len(plan.actions))
                    if plan.requeue_after is not None:
                        return Outcome("requeue", requeue_after=plan.requeue_after)
                    return Outcome("success")
                except Conflict as err:
                    last_conflict = str(err)
                    log.info("conflict, re-planning from fresh state: %s", err)
                except TerminalError as err:
                    return Outcome("terminal", error=str(err))
                except Exception as err:
                    log.warning("reconcile failed: %s: %s", type(err).__name__, err, exc_info=True)
                    return Outcome("error", error=f"{type(err).__name__}: {err}")
            return Outcome("error", error=f"still conflicting after re-plans: {last_conflict}")

    def _backoff(self, failures: int) -> float:
        delay: float = min(self.options.backoff_base * 2.0 ** (failures - 1), self.options.backoff_max)
        return delay * random.uniform(0.8, 1.2)

    async def _settle(self, msg: Msg, envelope: Envelope, outcome: Outcome) -> None:
        name, key = self.worker.name, envelope.key
        redelivered = msg.metadata.num_delivered > 1
        try:
            if outcome.kind in ("success", "requeue"):
                if redelivered:
                    await self.failures.clear(key)
                if outcome.kind == "success":
                    await msg.ack()
                else:
                    await msg.nak(delay=outcome.requeue_after)
                metrics.RECONCILES.labels(name, outcome.kind).inc()
                return
            if outcome.kind == "lease_lost":
                metrics.RECONCILES.labels(name, "lease_lost").inc()
                await msg.nak(delay=self.options.lease_busy_delay)
                return
            count = (
                self.options.max_failures if outcome.kind == "terminal" else await self.failures.record(key)
            )
            if count < self.options.max_failures:
                metrics.RECONCILES.labels(name, "error").inc()
                delay = self._backoff(count)
                log.info(
                    "failure %d/%d of %s; retrying in %.1fs", count, self.options.max_failures, key, delay
                )
                await msg.nak(delay=delay)
                return
            metrics.RECONCILES.labels(name, "dead_letter").inc()
            reason = "terminal" if outcome.kind == "terminal" else "failures"
            message = f"gave up after {count} failed reconciles: {outcome.error}"
            if outcome.kind == "terminal":
                message = outcome.error
            await publish_dead_letter(self.js, name, msg.subject, msg.data, msg.headers, reason, message)
            await mark_object(
                self.api, self.worker.resource, self.worker.has_status, envelope.parts, message, name
            )
            await self.failures.clear(key)
            await msg.term()
        except _NATS_ERRORS as exc:
            log.warning("could not settle %s (%s): %s; JetStream redelivers it", key, outcome.kind, exc)

    async def _give_up_unreadable(self, msg: Msg, reason: str, error: str) -> None:
        try:
            await publish_dead_letter(
                self.js, self.worker.name, msg.subject, msg.data, msg.headers, reason, error
            )
            await msg.term()
        except _NATS_ERRORS as exc:
            log.warning("could not dead-letter %s: %s", msg.subject, exc)
            await _quietly(msg.nak(delay=1.0))


async def _quietly(awaitable: Any) -> None:
    """Await a best-effort NATS call (ack/nak/unsubscribe) and swallow transport errors."""
    try:
        await awaitable
    except _NATS_ERRORS as exc:
        log.debug("ignored NATS error: %s", exc)
