"""Subject, KV key and message-id naming for the bus: pure functions, the one place names are made.

Called by the watcher (publishing triggers and event-log entries), the worker runtime
(consumer filters, lease keys, dead letters) and :mod:`schemas.bus.streams`.

Layout::

    flotilla.reconcile.<type>.<namespace>.<name>    one pending trigger per key (RECONCILE)
    flotilla.requeue.<type>.<namespace>.<name>      one pending requeue schedule per key (RECONCILE)
    flotilla.deadletter.<type>.<namespace>.<name>   triggers given up on (DEADLETTER)
    flotilla.events.<kind>.<namespace>.<name>       full watch events, bounded time (EVENTLOG)

A cluster-scoped object has namespace ``_`` in subjects and KV keys (``""`` in its reconcile key).
Kubernetes names may contain dots; they become extra subject tokens, which the ``>`` filters
cover and :func:`key_from_subject` joins back (namespaces and types never contain dots).
"""

from __future__ import annotations

import re

from schemas.bus.envelope import EventType, ReconcileKey, make_key, split_key

SUBJECT_ROOT = "flotilla"
RECONCILE_PREFIX = f"{SUBJECT_ROOT}.reconcile"
REQUEUE_PREFIX = f"{SUBJECT_ROOT}.requeue"
DEADLETTER_PREFIX = f"{SUBJECT_ROOT}.deadletter"
EVENTLOG_PREFIX = f"{SUBJECT_ROOT}.events"
CLUSTER_SCOPE = "_"

_WORKER_TYPE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]+$")
_NAME = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")


class SubjectError(ValueError):
    """A type, namespace or name that cannot be part of a subject."""


def check_worker_type(worker_type: str) -> str:
    """Return ``worker_type`` when it is a lowercase DNS-label-like word, else raise SubjectError."""
    if not _WORKER_TYPE.match(worker_type):
        raise SubjectError(f"worker type {worker_type!r} must match {_WORKER_TYPE.pattern}")
    return worker_type


def _scope(namespace: str) -> str:
    if not namespace:
        return CLUSTER_SCOPE
    if not _TOKEN.match(namespace):
        raise SubjectError(f"namespace {namespace!r} cannot be a subject token")
    return namespace


def _name(name: str) -> str:
    if not _NAME.match(name):
        raise SubjectError(f"name {name!r} cannot be part of a subject")
    return name


def reconcile_subject(worker_type: str, namespace: str, name: str) -> str:
    """``flotilla.reconcile.<type>.<ns>.<name>``: where the trigger for one key is published."""
    return f"{RECONCILE_PREFIX}.{check_worker_type(worker_type)}.{_scope(namespace)}.{_name(name)}"


def reconcile_subject_for_key(key: str) -> str:
    parts = split_key(key)
    return reconcile_subject(parts.type, parts.namespace, parts.name)


def reconcile_filter(worker_type: str) -> str:
    """The filter subject of one worker type's durable consumer."""
    return f"{RECONCILE_PREFIX}.{check_worker_type(worker_type)}.>"


def requeue_subject_for_key(key: str) -> str:
    """``flotilla.requeue.<type>.<ns>.<name>``: holds the key's one pending requeue (a JetStream
    message schedule targeting its reconcile subject); a newer schedule replaces the older."""
    parts = split_key(key)
    return f"{REQUEUE_PREFIX}.{check_worker_type(parts.type)}.{_scope(parts.namespace)}.{_name(parts.name)}"


def deadletter_subject(worker_type: str, namespace: str, name: str) -> str:
    return f"{DEADLETTER_PREFIX}.{check_worker_type(worker_type)}.{_scope(namespace)}.{_name(name)}"


def deadletter_subject_for_unreadable(worker_type: str) -> str:
    """Where a message whose key cannot be read goes (malformed body, unknown version)."""
    return f"{DEADLETTER_PREFIX}.{check_worker_type(worker_type)}.{CLUSTER_SCOPE}._unreadable"


def eventlog_subject(kind: str, namespace: str, name: str) -> str:
    """``flotilla.events.<kind>.<ns>.<name>``; ``kind`` lowercased (e.g. ``pod``, ``cloneset``)."""
    kind_token = kind.lower()
    if not _TOKEN.match(kind_token):
        raise SubjectError(f"kind {kind!r} cannot be a subject token")
    return f"{EVENTLOG_PREFIX}.{kind_token}.{_scope(namespace)}.{_name(name)}"


def key_from_subject(subject: str) -> ReconcileKey:
    """The reconcile key a reconcile (or dead-letter) subject names; raises SubjectError otherwise."""
    tokens = subject.split(".")
    if len(tokens) < 5 or tokens[0] != SUBJECT_ROOT or tokens[1] not in ("reconcile", "deadletter"):
        raise SubjectError(f"{subject!r} is not a reconcile subject")
    namespace = "" if tokens[3] == CLUSTER_SCOPE else tokens[3]
    return make_key(tokens[2], namespace, ".".join(tokens[4:]))


def lease_key(key: str) -> str:
    """The KV key of a reconcile key's lease (and failure count): ``<type>.<ns>.<name>``."""
    parts = split_key(key)
    return f"{check_worker_type(parts.type)}.{_scope(parts.namespace)}.{_name(parts.name)}"


def msg_id(key: str, uid: str, resource_version: str, event_type: EventType) -> str:
    """``Nats-Msg-Id`` of a trigger: two watchers publishing the same event dedupe to one message.

    The reconcile key is part of it because one event may trigger several keys (a pod -> each
    SidecarSet selecting it). A resync of an unchanged object repeats uid and resourceVersion, so
    a resync within the duplicate window is dropped unless the caller varies ``event_type``'s
    context (e.g. appends a resync generation to ``resource_version``).
    """
    return f"{key}|{uid}|{resource_version}|{event_type.value}"
