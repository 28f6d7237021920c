"""The consumer loop of one worker type: fetch -> lease -> observe -> plan -> act -> settle.

:class:`WorkerRuntime` binds the type's durable pull consumer (declared beforehand by
:mod:`schemas.bus.bootstrap`), fetches in batches while it has free slots (bounded
concurrency), and runs each trigger under the key's lease (:mod:`workers.runtime.lease`),
sending in-progress acks and lease renewals while it works. A trigger for a key this process
is already reconciling is *coalesced* (:class:`workers.runtime.lease.LocalKeys`): held without
touching the lease or taking a slot, then reconciled once more under the same lease when the
running reconcile ends (also when it came in while that reconcile was being settled). A worker
type with ``outdated_by`` may have the running reconcile's plan dropped before it is acted on,
when the held trigger shows what its snapshot did not: the held trigger is reconciled at once
instead (``superseded``; at most once in a row). The result contract of
:mod:`workers.runtime.contract` is applied here and only here (a conflict, or a write's 404
on an object gone since it was observed, re-plans:
:func:`workers.runtime.contract.is_stale_observation`); requeues and backoff retries are
JetStream message schedules (:mod:`workers.runtime.requeue`) and the trigger is acked, so a
waiting key holds no delivery slot. ``stop`` ends fetching; in-flight reconciles get
``shutdown_grace`` seconds, then are cancelled and handed back (nak, lease released), and so
are held triggers. Started by :mod:`workers.runtime.process`; tests may run it in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError
from opentelemetry import trace

from flotilla.runtime import metrics
from flotilla.runtime.errors import Conflict, Fenced, NamespaceTerminating
from flotilla.runtime.kube import WRITE_FENCE, KubeClient
from flotilla.runtime.logs import reconcile_context
from flotilla.runtime.tracing import extract_context
from schemas.bus.envelope import Envelope, EnvelopeError, MalformedEnvelope, UnsupportedVersion, decode
from schemas.bus.headers import scheduled
from schemas.bus.streams import RECONCILE_STREAM
from schemas.bus.subjects import reconcile_subject_for_key
from workers.runtime.contract import Plan, TerminalError, WorkerType, is_stale_observation
from workers.runtime.deadletter import clear_mark, is_marked, mark_object, publish_dead_letter
from workers.runtime.failures import FailureCounts
from workers.runtime.fence import LeaseFence
from workers.runtime.lease import KeyLeases, Lease, LocalKeys, now
from workers.runtime.observe import ApiStateReader, PrimaryRecorder, answering
from workers.runtime.requeue import Requeues

log = logging.getLogger("flotilla.worker")
_tracer = trace.get_tracer("flotilla.worker")
_NATS_ERRORS = (NatsError, APIError, asyncio.TimeoutError, OSError)


@dataclass(frozen=True)
class RuntimeOptions:
    """Tuning of one worker process (flags of ``flotilla worker``)."""

    concurrency: int = 16
    batch: int = 16
    max_ack_pending: int = 1000
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
    kind: str  # success | requeue | error | terminal | lease_lost | superseded
    requeue_after: float | None = None
    error: str = ""


@dataclass
class _Trigger:
    """One delivered trigger on its way through the runtime, with its (not yet ended) consume span."""

    msg: Msg
    envelope: Envelope
    span: trace.Span


@dataclass
class _KeyRun:
    """What one claim of a key remembers across its reconciles."""

    #: A failure was counted during this claim, so a later clean reconcile clears the count
    #: even when its own message was a first delivery (a held trigger).
    failed: bool = False


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
        self.requeues = Requeues(js)
        self.options = options
        self.redeclare = redeclare
        self._tasks: set[asyncio.Task[None]] = set()
        self._settling: set[asyncio.Task[None]] = set()  # acks/naks sent without waiting for them
        self._keys: LocalKeys[_Trigger] = LocalKeys()
        self._stop = asyncio.Event()
        self.bound = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
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
        """Start a reconcile per message, or hold it when its key is already being reconciled here.

        Synchronous, so a held trigger never takes a slot: with every slot busy and triggers
        arriving for the busy keys, the fetch loop goes on.
        """
        for msg in msgs:
            if stop.is_set():
                self._settle_in_background(msg.nak())
                continue
            try:
                envelope = self._read(msg)
            except (EnvelopeError, ValueError) as err:
                reason = "unsupported_version" if isinstance(err, UnsupportedVersion) else "malformed"
                self._start(self._give_up_unreadable(msg, reason, str(err)))
                continue
            if self._keys.claim(envelope.key):
                self._start(self._run_key(msg, envelope))
            else:
                self._coalesce(msg, envelope)

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _settle_in_background(self, call: Awaitable[object]) -> None:
        task = asyncio.create_task(_quietly(call))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    def _read(self, msg: Msg) -> Envelope:
        envelope = decode(msg.data)
        if envelope.parts.type != self.worker.name or reconcile_subject_for_key(envelope.key) != msg.subject:
            raise MalformedEnvelope(f"key {envelope.key!r} does not belong on subject {msg.subject!r}")
        return envelope

    def _consume_span(self, msg: Msg, envelope: Envelope) -> trace.Span:
        attributes = {
            "flotilla.key": envelope.key,
            "flotilla.type": self.worker.name,
            "flotilla.event": envelope.event_type.value,
            "flotilla.delivery": msg.metadata.num_delivered,
        }
        return _tracer.start_span(
            f"consume {self.worker.name}",
            context=extract_context(msg.headers),
            kind=trace.SpanKind.CONSUMER,
            attributes=attributes,
        )

    def _coalesce(self, msg: Msg, envelope: Envelope) -> None:
        """Hold a trigger for a key being reconciled here; the held one it replaces is acked."""
        span = self._consume_span(msg, envelope)
        span.set_attribute("flotilla.coalesced", True)
        span.add_event("coalesced", {"flotilla.reason": "key already being reconciled by this process"})
        metrics.TRIGGERS_COALESCED.labels(self.worker.name).inc()
        newer = _Trigger(msg, envelope, span)
        older = self._keys.hold(envelope.key, newer)
        if older is not None:
            self._supersede(older, newer)

    def _supersede(self, older: _Trigger, newer: _Trigger) -> None:
        """Ack a trigger a newer one stands for (triggers carry no data).

        Not when ``newer`` is a redelivery of the same message (its in-progress acks were lost):
        acking the old copy would ack the message still to be reconciled.
        """
        older.span.set_attribute("flotilla.outcome", "coalesced")
        older.span.end()
        if older.msg.metadata.sequence.stream != newer.msg.metadata.sequence.stream:
            self._settle_in_background(older.msg.ack())

    def _hand_back(self, trigger: _Trigger, outcome: str, delay: float | None = None) -> None:
        trigger.span.set_attribute("flotilla.outcome", outcome)
        trigger.span.end()
        self._settle_in_background(trigger.msg.nak(delay=delay))

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
        if self._tasks:
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
        if self._settling:  # acks and hand-backs still on their way
            await asyncio.wait(set(self._settling), timeout=5)

    async def _poll_lag(self, sub: JetStreamContext.PullSubscription) -> None:
        while True:
            try:
                info = await sub.consumer_info()
                metrics.CONSUMER_PENDING.labels(self.worker.name).set(info.num_pending or 0)
                metrics.CONSUMER_ACK_PENDING.labels(self.worker.name).set(info.num_ack_pending or 0)
            except _NATS_ERRORS:
                pass
            await asyncio.sleep(self.options.lag_poll_interval)

    async def _run_key(self, msg: Msg, envelope: Envelope) -> None:
        """Reconcile a claimed key, again for each trigger held meanwhile; then unclaim it."""
        key = envelope.key
        run = _KeyRun()
        trigger = _Trigger(msg, envelope, self._consume_span(msg, envelope))
        try:
            while await self._under_lease(run, trigger):
                # A trigger held while the lease was being released: lease the key again.
                held = self._keys.take_held(key)
                if held is None:
                    return  # and unclaim, with no await in between: nothing can be held in the gap
                if self._stop.is_set():
                    self._hand_back(held, "handed_back")
                    return
                trigger = held
        finally:
            held = self._keys.release(key)
            if held is not None:  # lease busy or lost, shutdown, cancelled: the key goes back to the bus
                self._hand_back(held, "handed_back", None if self._stop.is_set() else self._busy_delay())

    def _busy_delay(self) -> float:
        return self.options.lease_busy_delay * random.uniform(0.5, 1.5)

    async def _under_lease(self, run: _KeyRun, trigger: _Trigger) -> bool:
        """Lease the key, reconcile ``trigger``, then each trigger held meanwhile, release.

        False when the key was handed back (lease busy or lost); True after a clean end.
        """
        key = trigger.envelope.key
        try:
            lease = await self.leases.acquire(key)
        except _NATS_ERRORS as exc:
            log.warning("lease acquire for %s failed: %s", key, exc)
            self._hand_back(trigger, "lease_error", self.options.lease_busy_delay)
            return False
        if lease is None:
            metrics.LEASE_CONFLICTS.labels(self.worker.name).inc()
            self._hand_back(trigger, "lease_busy", self._busy_delay())
            return False
        # Every API write of this key's reconciles (and of tasks they start) is bounded by the lease.
        fence = WRITE_FENCE.set(LeaseFence(self.leases, lease, self.worker.name, self.api.timeout))
        may_drop = True
        try:
            while True:
                newer = self._keys.take_held(key)
                if newer is not None:  # came before this reconcile began: it stands for this one
                    self._supersede(trigger, newer)
                    trigger = newer
                with trace.use_span(trigger.span, end_on_exit=True):
                    outcome = await self._reconcile_under(trigger, lease, may_drop)
                    if outcome.kind == "lease_lost":
                        await self._settle(trigger, outcome, run, followed=False)
                        return False
                    followed = not self._stop.is_set() and self._keys.held(key) is not None
                    await self._settle(trigger, outcome, run, followed=followed)
                    # taken after settling: one that came in meanwhile runs under this lease too,
                    # with no release and acquire between
                    follow_up = None if self._stop.is_set() else self._keys.take_held(key)
                if follow_up is None:
                    return True
                may_drop = outcome.kind != "superseded"  # a plan is dropped at most once in a row
                if may_drop:
                    log.info("%s was triggered again while reconciling; reconciling it again now", key)
                trigger = follow_up
        finally:
            WRITE_FENCE.reset(fence)
            # Deleted only when none of its writes can still commit; else it expires by its TTL.
            await asyncio.shield(self.leases.release(lease))

    async def _reconcile_under(self, trigger: _Trigger, lease: Lease, may_drop: bool) -> Outcome:
        """One reconcile with in-progress acks and lease renewals; hands back on cancellation.
        ``may_drop``: its plan may be dropped for a held trigger (``WorkerType.outdated_by``)."""
        msg = trigger.msg
        started = time.monotonic()
        metrics.IN_FLIGHT.labels(self.worker.name).inc()
        work = asyncio.create_task(self._reconcile(trigger.envelope, msg, lease, may_drop))
        beat = asyncio.create_task(self._heartbeat(msg, lease, work))
        try:
            try:
                outcome = await asyncio.shield(work)
            except asyncio.CancelledError:
                if not work.done():  # we are being shut down: stop the work, hand the key back
                    work.cancel()
                    await asyncio.wait({work}, timeout=5)
                    trigger.span.set_attribute("flotilla.outcome", "handed_back")
                    await _quietly(msg.nak())
                    raise
                outcome = Outcome("lease_lost", error="lease lost while reconciling")
        finally:
            beat.cancel()
            metrics.IN_FLIGHT.labels(self.worker.name).dec()
        if work.cancelled():
            outcome = Outcome("lease_lost", error="lease lost while reconciling")
        metrics.RECONCILE_DURATION.labels(self.worker.name).observe(time.monotonic() - started)
        trigger.span.set_attribute("flotilla.outcome", outcome.kind)
        return outcome

    async def _heartbeat(self, msg: Msg, lease: Lease, work: asyncio.Task[Outcome]) -> None:
        """In-progress acks and lease renewals; cancels ``work`` once the lease is (or may be) lost.

        Timer-based: however slow a renewal call is, the work is stopped by ``safe_until``,
        before the lease can expire and another replica take the key (its writes are bounded by
        the lease's expiry on the API server in any case: :mod:`workers.runtime.fence`). The
        first beat is due a period after the lease's last renewal, not after this reconcile's
        start: follow-up reconciles share one lease, and a chain of short ones must still renew
        it in time.
        """
        wait = self.options.heartbeat_every - (now() - lease.renewed_at)
        while not work.done():
            deadline = self.leases.safe_until(lease)
            await asyncio.sleep(max(0.0, min(wait, deadline - now())))
            wait = self.options.heartbeat_every
            if work.done():
                return
            await _quietly(msg.in_progress())
            if (held := self._keys.held(lease.key)) is not None:
                await _quietly(held.msg.in_progress())
            try:
                kept = await asyncio.wait_for(
                    self.leases.renew(lease),
                    timeout=max(0.05, self.leases.safe_until(lease) - now()),
                )
            except TimeoutError:
                kept = False
            if not kept or now() >= self.leases.safe_until(lease):
                lease.lost = True
                metrics.LEASES_LOST.labels(self.worker.name).inc()
                log.warning("lease of %s lost or not renewed in time; stopping its reconcile", lease.key)
                work.cancel()
                return

    async def _until_settled(self, lease: Lease) -> None:
        """Wait until no write of an earlier pass under ``lease`` can still commit.

        A write that ended without an answer proving it finished (connection lost, a 5xx, a
        timeout) may still commit until its server-side deadline. Another replica cannot take the
        key before then (the lease is left to expire), but this process reconciles follow-up
        triggers and conflict re-plans under the same lease: observing before that deadline could
        miss a pod still being created and create its replacement too (more pods than replicas +
        maxSurge). The heartbeat keeps renewing the lease meanwhile.
        """
        waited = 0.0
        while (delay := self.leases.settle_wait(lease, now())) > 0:
            if waited == 0.0:
                log.info(
                    "%s: waiting %.1fs for earlier writes to settle before observing "
                    "(%d unanswered; one that ended unanswered may still commit until its deadline)",
                    lease.key,
                    delay,
                    lease.writes,
                )
            await asyncio.sleep(delay)
            waited += delay

    def _outdated(self, key: str, snapshot: Any, plan: Plan) -> bool:
        """Whether ``plan`` gives way to the trigger held for ``key`` (``WorkerType.outdated_by``)."""
        check = self.worker.outdated_by
        if check is None or self._stop.is_set():
            return False
        held = self._keys.held(key)
        return held is not None and check(snapshot, plan, held.envelope)

    async def _reconcile(self, envelope: Envelope, msg: Msg, lease: Lease, may_drop: bool) -> Outcome:
        worker, parts = self.worker, envelope.parts
        # A fired requeue is a first delivery too, but its latency is the requeue's delay.
        first_delivery = msg.metadata.num_delivered == 1 and not scheduled(msg.headers)
        with reconcile_context(envelope.key) as rid, answering(envelope):
            trace.get_current_span().set_attribute("flotilla.reconcile_id", rid)
            last_conflict = ""
            for attempt in range(self.options.max_conflict_replans + 1):
                try:
                    await self._until_settled(lease)
                    reader = PrimaryRecorder(self.reader, worker.resource, parts.namespace, parts.name)
                    with _tracer.start_as_current_span("observe"):
                        snapshot = await worker.observe(reader, parts)
                    with _tracer.start_as_current_span("plan") as plan_span:
                        if attempt == 0 and first_delivery:
                            latency = max(0.0, time.time() - envelope.observed_at)
                            metrics.TRIGGER_LATENCY.labels(worker.name).observe(latency)
                        plan = worker.plan(snapshot, worker.config, time.time())
                        plan_span.set_attribute("flotilla.actions", len(plan.actions))
                        plan_span.set_attribute("flotilla.reason", plan.reason)
                        if may_drop and self._outdated(envelope.key, snapshot, plan):
                            plan_span.set_attribute("flotilla.dropped", True)
                            log.info(
                                "plan dropped (%s, %d actions): a trigger held meanwhile shows what it "
                                "did not see; reconciling that one now",
                                plan.reason or "in sync",
                                len(plan.actions),
                            )
                            return Outcome("superseded")
                    with _tracer.start_as_current_span("act"):
                        await worker.run_act(self.api, snapshot, plan)
                    log.info("reconciled: %s (%d actions)", plan.reason or "in sync", len(plan.actions))
                    if reader.primary is not None and is_marked(reader.primary):
                        await clear_mark(self.api, worker.resource, parts)
                    if plan.requeue_after is not None:
                        return Outcome("requeue", requeue_after=plan.requeue_after)
                    return Outcome("success")
                except TerminalError as err:
                    return Outcome("terminal", error=str(err))
                except Fenced as err:  # a write refused: the lease is lost or unproven; hand back
                    return Outcome("lease_lost", error=str(err))
                except NamespaceTerminating as err:  # everything there is going away with it
                    log.info("namespace %s is being deleted; nothing to reconcile (%s)", parts.namespace, err)
                    return Outcome("success")
                except Exception as err:
                    if not is_stale_observation(err):
                        log.warning("reconcile failed: %s: %s", type(err).__name__, err, exc_info=True)
                        return Outcome("error", error=f"{type(err).__name__}: {err}")
                    last_conflict = str(err)
                    what = "conflict" if isinstance(err, Conflict) else "object gone since observed"
                    log.info("%s, re-planning from fresh state: %s", what, err)
            return Outcome("error", error=f"still conflicting after re-plans: {last_conflict}")

    def _backoff(self, failures: int) -> float:
        delay: float = min(self.options.backoff_base * 2.0 ** (failures - 1), self.options.backoff_max)
        return delay * random.uniform(0.8, 1.2)

    async def _settle(self, trigger: _Trigger, outcome: Outcome, run: _KeyRun, followed: bool) -> None:
        """Apply the result contract to ``trigger``'s message.

        A requeue-after or a backoff retry is a message schedule for the key
        (:class:`~workers.runtime.requeue.Requeues`), stored before the trigger is acked: the
        key waits in the stream, not in the consumer's ack-pending set. A schedule replaces the
        key's earlier one; a clean reconcile cancels it, as does a dead letter (the newest
        outcome decides, as a newer trigger replacing a pending one in the stream would).

        ``followed``: a newer trigger is held and is reconciled right after this one, under the
        same lease. That follow-up re-reads state and its own outcome decides what comes next,
        so it supersedes this outcome's requeue-after or retry: the message is just acked. A
        failure is still counted, so a key that keeps failing backs off and dead-letters as usual.
        """
        msg, envelope = trigger.msg, trigger.envelope
        name, key = self.worker.name, envelope.key
        # A retry (redelivery or fired schedule) or a failure during this claim: a clean
        # reconcile resets the count. A trigger that cancelled a pending retry does too (below).
        clear_failures = msg.metadata.num_delivered > 1 or run.failed or scheduled(msg.headers)
        try:
            if outcome.kind == "superseded":  # nothing was written: the held trigger stands for it
                metrics.RECONCILES.labels(name, "superseded").inc()
                await (msg.ack() if followed else msg.nak())
                return
            if outcome.kind in ("success", "requeue"):
                if outcome.kind == "requeue" and not followed:
                    delay = outcome.requeue_after or 0.0
                    await self.requeues.schedule(key, msg.data, msg.headers, delay)
                elif outcome.kind == "success" and not followed:
                    clear_failures = bool(await self.requeues.cancel(key)) or clear_failures
                if clear_failures:
                    await self.failures.clear(key)
                    run.failed = False
                await msg.ack()
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
                run.failed = True
                metrics.RECONCILES.labels(name, "error").inc()
                if followed:
                    log.info(
                        "failure %d/%d of %s; triggered meanwhile, retrying now",
                        count,
                        self.options.max_failures,
                        key,
                    )
                    await msg.ack()
                    return
                delay = self._backoff(count)
                log.info(
                    "failure %d/%d of %s; retrying in %.1fs", count, self.options.max_failures, key, delay
                )
                await self.requeues.schedule(key, msg.data, msg.headers, delay)
                await msg.ack()
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
            await self.requeues.cancel(key)
            await self.failures.clear(key)
            run.failed = False
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
