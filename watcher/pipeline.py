"""From watch events to acknowledged JetStream publishes: one trigger per reconcile key.

:mod:`watcher.informer` feeds events, bookmarks and relists in; :meth:`Pipeline.run_publisher`
(one task while this replica leads) takes pending triggers from the :class:`~watcher.ledger.Ledger`
and publishes them to ``flotilla.reconcile.<type>.<ns>.<name>`` with ``Nats-Msg-Id`` and the W3C
trace context in the headers, a bounded number in flight. A span per event (``watch.event``)
is the parent of the span of the publish it caused (``watch.publish``). With
``--cloneset-event-filter=on`` a pod update that cannot change its CloneSet's plan
(:mod:`watcher.podupdates`, kruise's ``CloneSetEventHandlerOptimization``) gives the CloneSet no
trigger; its resourceVersion still moves the checkpoint on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import PubAck
from opentelemetry import context as otel_context
from opentelemetry import trace

from flotilla.runtime import metrics as runtime_metrics
from flotilla.runtime.tracing import inject_headers
from schemas.bus.envelope import Envelope, EventType, ReconcileKey, encode, split_key
from schemas.bus.streams import RECONCILE_STREAM
from schemas.bus.subjects import SubjectError, msg_id, reconcile_subject_for_key
from watcher import metrics
from watcher.config import WatchTarget
from watcher.ledger import Ledger, Ticket
from watcher.mapping import KeyIndex, RawObject, Router, object_ref, primary_keys
from watcher.podupdates import PodMemory
from watcher.selectors import SelectorIndex

log = logging.getLogger("flotilla.watcher.pipeline")
tracer = trace.get_tracer("flotilla.watcher")

_WATCH_EVENTS = {"ADDED": EventType.ADDED, "MODIFIED": EventType.MODIFIED, "DELETED": EventType.DELETED}


async def publish_trigger(
    js: JetStreamContext, subject: str, body: bytes, dedup_id: str | None
) -> asyncio.Future[PubAck]:
    """Publish one trigger as the watcher does; returns the future of its PubAck.

    Headers: ``Nats-Msg-Id`` (when given), the current W3C trace context, and
    ``Nats-Expected-Stream: RECONCILE`` (nats.py's ``stream=``), so a trigger never lands in a
    stream that grabbed its subject by mistake. Tests publish through this too, so what the
    workers receive is exactly what the watcher sends.
    """
    headers = inject_headers({"Nats-Msg-Id": dedup_id} if dedup_id else None)
    return await js.publish_async(subject, body, headers=headers or None, stream=RECONCILE_STREAM)


@dataclass(frozen=True, slots=True)
class Trigger:
    """Everything needed to publish one trigger: body, subject, dedup id and trace parent."""

    envelope: Envelope
    subject: str
    msg_id: str
    parent: otel_context.Context
    seen_at: float  # monotonic, for the event -> publish latency


class Pipeline:
    """Maps events to triggers, coalesces them in the ledger, publishes them."""

    def __init__(self, router: Router, max_in_flight: int = 512, publish_timeout: float = 5.0) -> None:
        self.router = router
        self.ledger: Ledger[Trigger] = Ledger()
        self.index = KeyIndex()
        self._indexed = {spec.name for spec in router.needs_index()}
        self.selectors = SelectorIndex()
        self._selecting = {spec.name for spec in router.needs_selectors()}
        #: The last version of each pod, for the types that skip quiet updates (``podupdates``).
        self.pods = PodMemory()
        self._max_in_flight = max_in_flight
        self._publish_timeout = publish_timeout
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()

    # -- intake (called by the informers) -------------------------------------------------

    def _triggers(
        self,
        target: WatchTarget,
        event: EventType,
        obj: RawObject,
        parent: otel_context.Context,
        dedup_rv: str,
        only: str | None = None,
        quiet: bool = False,
    ) -> list[tuple[ReconcileKey, Trigger]]:
        ref = object_ref(target.resource, obj)
        now, seen = time.time(), time.monotonic()
        found: list[tuple[ReconcileKey, Trigger]] = []
        keys = self.router.keys(target, obj, self.index, self.selectors, quiet)
        if quiet:
            for key in set(self.router.keys(target, obj, self.index, self.selectors)) - set(keys):
                metrics.UPDATES_SKIPPED.labels(split_key(key).type).inc()
        for key in keys:
            if only is not None and split_key(key).type != only:
                continue
            try:
                subject = reconcile_subject_for_key(key)
            except SubjectError as exc:
                log.warning("skipping key %s: %s", key, exc)
                continue
            envelope = Envelope(key, event, ref.kind, ref.uid, ref.resource_version, now)
            trigger = Trigger(envelope, subject, msg_id(key, ref.uid, dedup_rv, event), parent, seen)
            found.append((key, trigger))
        return found

    def _queued(self) -> None:
        metrics.PENDING.set(self.ledger.pending_count)
        if self.ledger.pending_count:
            self._drained.clear()
            self._wake.set()

    def index_objects(self, target: WatchTarget, objects: Iterable[RawObject], replace: bool) -> None:
        """Keep the key index (types with every-key rules) and the selector index (types with
        selector rules) of the types ``target`` is primary for."""
        objects = list(objects)
        for spec in self.router.primary_of(target):
            if spec.name in self._selecting:
                if replace:
                    self.selectors.replace(spec.name, objects)
                else:
                    for obj in objects:
                        self.selectors.observe(spec.name, obj, deleted=False)
            if spec.name in self._indexed:
                keys = [key for obj in objects for key in primary_keys(spec, obj)]
                if replace:
                    self.index.replace(spec.name, keys, target.namespace)
                else:
                    self.index.observe(spec.name, keys, deleted=False)

    def event(self, target: WatchTarget, event_type: str, obj: RawObject) -> None:
        """One ADDED/MODIFIED/DELETED watch event."""
        event = _WATCH_EVENTS[event_type]
        if self._indexed or self._selecting:
            deleted = event is EventType.DELETED
            for spec in self.router.primary_of(target):
                if spec.name in self._indexed:
                    self.index.observe(spec.name, primary_keys(spec, obj), deleted=deleted)
                if spec.name in self._selecting:
                    self.selectors.observe(spec.name, obj, deleted=deleted)
        quiet = False
        if self.router.filters_updates(target):
            if event is EventType.DELETED:
                self.pods.forget(obj)
            else:
                quiet = self.pods.skip(obj, updated=event is EventType.MODIFIED)
        ref = object_ref(target.resource, obj)
        metrics.EVENTS.labels(str(target.resource), event_type).inc()
        with tracer.start_as_current_span(
            "watch.event",
            attributes={
                "k8s.resource": str(target.resource),
                "k8s.namespace": ref.namespace,
                "k8s.name": ref.name,
                "k8s.uid": ref.uid,
                "k8s.resource_version": ref.resource_version,
                "watch.event_type": event_type,
            },
        ) as span:
            triggers = self._triggers(
                target, event, obj, otel_context.get_current(), ref.resource_version, quiet=quiet
            )
            span.set_attribute("flotilla.keys", len(triggers))
            span.set_attribute("flotilla.quiet_update", quiet)
        self.ledger.record(target, ref.resource_version, triggers)
        self._queued()

    def bookmark(self, target: WatchTarget, resource_version: str) -> None:
        self.ledger.record(target, resource_version, ())

    def relist(
        self,
        stream: Hashable,
        target: WatchTarget,
        objects: Iterable[RawObject],
        list_rv: str,
        round_id: str = "",
        only: str | None = None,
    ) -> int:
        """Trigger every key of a full list (``RESYNC``); ``stream`` None-like for resyncs. Returns #keys.

        The triggers' ``Nats-Msg-Id`` names the list (``<rv>@resync-<round_id or list_rv>``): a
        periodic resync passes a ``round_id`` of its own, else two rounds over an unchanged
        object inside the stream's duplicate window would share ids and JetStream would drop
        the second one. ``only``: trigger the keys of that worker type alone.
        """
        objects = list(objects)
        self.index_objects(target, objects, replace=True)
        if stream == target and self.router.filters_updates(target):
            # the informer's own list: its watch goes on from it (a resync's list is not in order
            # with the watch, so it leaves the last versions seen alone)
            self.pods.replace(target.namespace, objects)
        triggers: dict[ReconcileKey, Trigger] = {}
        with tracer.start_as_current_span(
            "watch.relist", attributes={"k8s.resource": str(target.resource), "k8s.resource_version": list_rv}
        ) as span:
            parent = otel_context.get_current()
            for obj in objects:
                rv = f"{object_ref(target.resource, obj).resource_version}@resync-{round_id or list_rv}"
                for key, trigger in self._triggers(target, EventType.RESYNC, obj, parent, rv, only):
                    triggers.setdefault(key, trigger)
            span.set_attribute("flotilla.keys", len(triggers))
        self.ledger.record(stream, list_rv, triggers.items())
        self._queued()
        return len(triggers)

    async def wait_drained(self) -> None:
        """Until nothing is pending or in flight (benchmarks, tests, graceful shutdown)."""
        await self._drained.wait()

    # -- publishing (one task while leading) ----------------------------------------------

    async def _publish_one(self, js: JetStreamContext, ticket: Ticket, trigger: Trigger) -> bool:
        worker_type = split_key(ticket.key).type
        with tracer.start_as_current_span(
            "watch.publish",
            context=trigger.parent,
            kind=trace.SpanKind.PRODUCER,
            attributes={"messaging.destination.name": trigger.subject, "flotilla.key": ticket.key},
        ) as span:
            try:
                future = await publish_trigger(js, trigger.subject, encode(trigger.envelope), trigger.msg_id)
                ack: PubAck = await asyncio.wait_for(future, self._publish_timeout)
            except asyncio.CancelledError:
                self.ledger.failed(ticket)
                raise
            except Exception as exc:  # any transport error: requeue, the ledger keeps the trigger
                span.record_exception(exc)
                metrics.PUBLISH_FAILURES.inc()
                self.ledger.failed(ticket)
                log.warning(
                    "publish to %s failed, will retry: %s: %s", trigger.subject, type(exc).__name__, exc
                )
                return False
        self.ledger.acked(ticket)
        metrics.LATENCY.observe(time.monotonic() - trigger.seen_at)
        published = metrics.TRIGGERS_DUPLICATE if ack.duplicate else runtime_metrics.EVENTS_PUBLISHED
        published.labels(worker_type).inc()
        return True

    async def run_publisher(self, js: JetStreamContext) -> None:
        """Publish pending triggers forever; failed ones are retried after a short pause."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while batch := self.ledger.take(self._max_in_flight):
                done = await asyncio.gather(
                    *(self._publish_one(js, ticket, trigger) for ticket, trigger in batch)
                )
                metrics.PENDING.set(self.ledger.pending_count)
                if not any(done):
                    await asyncio.sleep(0.5)  # the whole batch failed: NATS is away, don't spin
            if not self.ledger.pending_count and not self.ledger.in_flight_count:
                self._drained.set()
