"""Kubernetes Events (core/v1) on the objects Flotilla reconciles.

Used by the action executor (``EmitEvent``) and by dead-lettering, so a user sees why a
reconcile gave up with ``kubectl describe`` / ``kubectl get events``.

Events are correlated per process as client-go's EventRecorder does (see
:mod:`workers.runtime.event_correlation`): an Event identical to a recent one patches the
existing object's ``count`` and ``lastTimestamp`` instead of creating another, and after 10
similar ones (same reason, other messages) they are combined into one Event; past a burst of 25
Events per source and object, one more is let through every 5 minutes and the rest are dropped
(counted in ``flotilla_worker_events_dropped_total``). Events are best effort: an API error while
recording one is logged and never fails the reconcile.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import weakref
from dataclasses import dataclass

from flotilla.runtime import metrics
from flotilla.runtime.errors import KubeError, NotFound
from flotilla.runtime.kube import EVENTS, JsonObject, KubeClient
from workers.runtime.event_correlation import (
    CachedEvent,
    EventCache,
    EventKey,
    PatchEvent,
    SimilarKey,
    SpamKey,
    decide,
)

log = logging.getLogger("flotilla.worker.events")

MESSAGE_LIMIT = 1024

# One cache per process, as client-go keeps one per broadcaster.
EVENT_CACHE = EventCache()

# One lock per Event key while in use: concurrent emits of one key (pods created concurrently
# combine into one Event) wait for the first create, then patch; counts are not lost.
_KEY_LOCKS: weakref.WeakValueDictionary[tuple[int, EventKey], asyncio.Lock] = weakref.WeakValueDictionary()


def _key_lock(cache: EventCache, key: EventKey) -> asyncio.Lock:
    lock = _KEY_LOCKS.get((id(cache), key))
    if lock is None:
        lock = asyncio.Lock()
        _KEY_LOCKS[(id(cache), key)] = lock
    return lock


@dataclass(frozen=True)
class ObjectRef:
    """Enough of an object to point an Event at it."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str = ""
    resource_version: str = ""

    @classmethod
    def of(cls, obj: JsonObject) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(
            api_version=str(obj.get("apiVersion", "")),
            kind=str(obj.get("kind", "")),
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid", "")),
            resource_version=str(meta.get("resourceVersion", "")),
        )


def event_key(involved: ObjectRef, reason: str, message: str, event_type: str, component: str) -> EventKey:
    source = SpamKey(
        component, involved.api_version, involved.kind, involved.namespace, involved.name, involved.uid
    )
    return EventKey(SimilarKey(source, event_type, reason), message)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


async def emit_event(
    api: KubeClient,
    involved: ObjectRef,
    reason: str,
    message: str,
    event_type: str = "Normal",
    component: str = "",
    cache: EventCache | None = None,
) -> None:
    """Record one Event in the object's namespace (``default`` for cluster-scoped objects).

    Similar Events are combined (see :meth:`EventCache.correlate`); a repeat of a recent
    identical Event patches that Event (count + 1, lastTimestamp); if it is
    gone (404: expired or deleted), a new one is created. API errors are logged, not raised.
    """
    cache = EVENT_CACHE if cache is None else cache
    component = component or "flotilla"
    message = message[:MESSAGE_LIMIT]
    correlated = cache.correlate(
        event_key(involved, reason, message, event_type, component), time.monotonic()
    )
    key, message = correlated.key, correlated.message[:MESSAGE_LIMIT]
    if not cache.allow(key, time.monotonic()):
        metrics.KUBE_EVENTS_DROPPED.labels(reason).inc()
        log.debug(
            "Event %s on %s %s/%s dropped by the spam filter",
            reason,
            involved.kind,
            involved.namespace,
            involved.name,
        )
        return
    try:
        async with _key_lock(cache, key):
            await _record(api, cache, key, involved, reason, message, event_type, component)
    except KubeError as err:
        log.warning(
            "could not record Event %s on %s %s/%s: %s",
            reason,
            involved.kind,
            involved.namespace,
            involved.name,
            err,
        )


async def _record(
    api: KubeClient,
    cache: EventCache,
    key: EventKey,
    involved: ObjectRef,
    reason: str,
    message: str,
    event_type: str,
    component: str,
) -> None:
    now = _now()
    decision = decide(cache.get(key))
    if isinstance(decision, PatchEvent):
        try:
            await api.patch(
                EVENTS.path(decision.namespace, decision.name),
                {"count": decision.count, "lastTimestamp": now, "message": message},
                "merge",
            )
            cache.put(
                key, CachedEvent(decision.namespace, decision.name, decision.count, decision.first_timestamp)
            )
            return
        except NotFound:
            cache.forget(key)  # expired or deleted: create anew
    namespace = involved.namespace or "default"
    event = _new_event(involved, reason, message, event_type, component, now)
    created = await api.create(EVENTS.path(namespace), event)
    name = str((created.get("metadata") or {}).get("name", ""))
    if name:
        cache.put(key, CachedEvent(namespace, name, 1, now))


def _new_event(
    involved: ObjectRef, reason: str, message: str, event_type: str, component: str, now: str
) -> JsonObject:
    namespace = involved.namespace or "default"
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{involved.name}.{secrets.token_hex(8)}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": involved.api_version,
            "kind": involved.kind,
            "namespace": involved.namespace,
            "name": involved.name,
            "uid": involved.uid,
            "resourceVersion": involved.resource_version,
        },
        "reason": reason,
        "message": message,
        "type": event_type,
        "source": {"component": component},
        "reportingComponent": component,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
