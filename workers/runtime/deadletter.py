"""Giving up on a trigger: the DEADLETTER stream, a condition (or annotation) and an Event.

Called by :mod:`workers.runtime.consumer` when a body cannot be read (malformed, unknown
schema version) or a key failed ``max_failures`` times in a row / raised TerminalError.
The dead-letter message keeps the original body and headers (trace context too) except the
``Nats-*`` ones (publish control such as the watcher's ``Nats-Expected-Stream``, which would
make NATS refuse the dead letter; :func:`schemas.bus.headers.forwardable`) and adds
``Flotilla-Reason``, ``Flotilla-Error`` and ``Flotilla-Original-Subject``; replay it by
publishing its body back to the original subject.
"""

from __future__ import annotations

import logging
import time

from nats.js import JetStreamContext

from flotilla.runtime import metrics
from flotilla.runtime.errors import Conflict, KubeError
from flotilla.runtime.kube import JsonObject, KubeClient, Resource
from schemas.bus.envelope import KeyParts, split_key
from schemas.bus.headers import forwardable
from schemas.bus.subjects import (
    SubjectError,
    deadletter_subject,
    deadletter_subject_for_unreadable,
    key_from_subject,
)
from workers.runtime.events import ObjectRef, emit_event

log = logging.getLogger("flotilla.worker.deadletter")

CONDITION_TYPE = "FlotillaReconcileFailed"
ERROR_ANNOTATION = "flotilla.dev/reconcile-error"


def _header(value: str) -> str:
    """Header values are one line of bounded length."""
    return " ".join(value.split())[:1000]


def deadletter_subject_of(worker_type: str, subject: str) -> str:
    try:
        parts = split_key(key_from_subject(subject))
    except (SubjectError, ValueError):
        return deadletter_subject_for_unreadable(worker_type)
    return deadletter_subject(worker_type, parts.namespace, parts.name)


async def publish_dead_letter(
    js: JetStreamContext,
    worker_type: str,
    subject: str,
    body: bytes,
    headers: dict[str, str] | None,
    reason: str,
    error: str,
) -> None:
    """Keep the message in DEADLETTER (raises NATS errors: the caller naks and retries later)."""
    out = forwardable(headers)
    out.update(
        {"Flotilla-Reason": reason, "Flotilla-Error": _header(error), "Flotilla-Original-Subject": subject}
    )
    # No ``stream=``: it would store a Nats-Expected-Stream header on the dead letter, and a
    # replay copying the headers would be misdirected the same way.
    await js.publish(deadletter_subject_of(worker_type, subject), body, headers=out)
    metrics.DEAD_LETTERS.labels(worker_type, reason).inc()
    log.error("dead-lettered %s (%s): %s", subject, reason, error)


def with_failed_condition(obj: JsonObject, message: str) -> JsonObject:
    """A copy of ``obj`` whose status holds one ``FlotillaReconcileFailed`` condition saying ``message``."""
    status = dict(obj.get("status") or {})
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != CONDITION_TYPE]
    conditions.append(
        {
            "type": CONDITION_TYPE,
            "status": "True",
            "reason": "DeadLettered",
            "message": message[:2000],
            "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    status["conditions"] = conditions
    return {**obj, "status": status}


def is_marked(obj: JsonObject) -> bool:
    """Whether ``obj`` carries a dead letter's ``FlotillaReconcileFailed`` condition or annotation."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    conditions = (obj.get("status") or {}).get("conditions") or []
    return ERROR_ANNOTATION in annotations or any(c.get("type") == CONDITION_TYPE for c in conditions)


def without_failed_condition(obj: JsonObject) -> JsonObject:
    """A copy of ``obj`` whose status no longer holds the ``FlotillaReconcileFailed`` condition."""
    status = dict(obj.get("status") or {})
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != CONDITION_TYPE]
    return {**obj, "status": status}


async def clear_mark(api: KubeClient, resource: Resource, parts: KeyParts) -> None:
    """After a clean reconcile of a dead-lettered key: drop the condition and the annotation.

    Best effort (a failure is logged, the next clean reconcile tries again); the status is
    written with the resourceVersion just read, re-read on a conflict.
    """
    path = resource.path(parts.namespace, parts.name)
    for _ in range(3):
        try:
            obj = await api.get(path)
            if ERROR_ANNOTATION in ((obj.get("metadata") or {}).get("annotations") or {}):
                obj = await api.patch(path, {"metadata": {"annotations": {ERROR_ANNOTATION: None}}})
            conditions = (obj.get("status") or {}).get("conditions") or []
            if any(c.get("type") == CONDITION_TYPE for c in conditions):
                await api.replace(
                    resource.path(parts.namespace, parts.name, "status"), without_failed_condition(obj)
                )
            log.info(
                "%s/%s reconciled cleanly: cleared its reconcile-failed mark", parts.namespace, parts.name
            )
            return
        except Conflict:
            continue
        except KubeError as err:
            log.warning("could not clear the failed mark of %s/%s: %s", parts.namespace, parts.name, err)
            return


async def mark_object(
    api: KubeClient, resource: Resource, has_status: bool, parts: KeyParts, message: str, component: str
) -> None:
    """Tell the user on the object itself: a condition (or annotation) and a Warning Event."""
    path = resource.path(parts.namespace, parts.name)
    for _ in range(3):
        try:
            obj = await api.get(path)
            if has_status:
                await api.replace(
                    resource.path(parts.namespace, parts.name, "status"), with_failed_condition(obj, message)
                )
            else:
                await api.patch(path, {"metadata": {"annotations": {ERROR_ANNOTATION: message[:2000]}}})
            await emit_event(api, ObjectRef.of(obj), "ReconcileFailed", message, "Warning", component)
            return
        except Conflict:
            continue
        except KubeError as err:
            log.warning("could not mark %s/%s as failed: %s", parts.namespace, parts.name, err)
            return
