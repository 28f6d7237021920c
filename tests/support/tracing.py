"""Reconcile traces of Flotilla's real processes, read back from Jaeger and checked one way for
every worker type.

:func:`traced_env` is what a watcher and workers need to export to a test's Jaeger: the standard
``OTEL_*`` variables and no service name, so each process names itself as it does in production
(``flotilla-watcher``, ``flotilla-worker-<type>``); a shared stack
(:class:`tests.support.workerstack.SharedStack`) passes it as its ``process_env``.
:func:`check_reconcile_trace` asserts the span tree one change of an object must make: the
watcher's ``watch.event`` of the object (the root) and ``watch.publish``, the worker's ``consume
<type>`` continued from the publish (key, type, outcome), its ``observe`` / ``plan`` / ``act``, and
every given API write a client span of the worker under ``act``, answered with ``status``.
Used by tests/e2e/test_tracing.py (CloneSet and Advanced StatefulSet).
"""

from __future__ import annotations

from flotilla.devcluster.jaeger import Jaeger, Trace, TraceSpan

WATCHER_SERVICE = "flotilla-watcher"


def worker_service(worker_type: str) -> str:
    """The service name a ``flotilla worker <type>`` process exports as (workers/runtime/process.py)."""
    return f"flotilla-worker-{worker_type}"


def traced_env(jaeger: Jaeger) -> dict[str, str]:
    """Exports to ``jaeger`` over OTLP/HTTP, batches flushed every 200 ms (tests wait less)."""
    return {**jaeger.otel_env(), "OTEL_BSP_SCHEDULE_DELAY": "200"}


def api_writes(trace: Trace, method: str, path: str) -> list[TraceSpan]:
    """The trace's ``kube <method>`` client spans to ``path`` (a collection for a POST), by start."""
    return [s for s in trace.named(f"kube {method}") if s.attributes.get("url.path") == path]


def check_reconcile_trace(
    trace: Trace,
    *,
    worker_type: str,
    resource: str,
    namespace: str,
    name: str,
    writes: list[TraceSpan],
    status: int = 201,
) -> dict[str, TraceSpan]:
    """Assert the span tree from the watch event of ``resource`` ``namespace/name`` to ``writes``;
    returns the reconcile's stages (``observe``, ``plan``, ``act``) by name."""
    worker = worker_service(worker_type)
    key = f"{worker_type}/{namespace}/{name}"
    assert trace.services == {WATCHER_SERVICE, worker}, trace.summary()

    # The watcher: the event is the trace's root, its publish the parent of the consume.
    (event,) = trace.named("watch.event")
    assert event.parent_id is None
    assert event.service == WATCHER_SERVICE
    assert event.attributes["k8s.namespace"] == namespace
    assert event.attributes["k8s.name"] == name
    assert resource in str(event.attributes["k8s.resource"])
    assert event.attributes["watch.event_type"] == "MODIFIED"
    (publish,) = trace.named("watch.publish")
    assert publish.parent_id == event.span_id
    assert publish.service == WATCHER_SERVICE
    assert publish.attributes["flotilla.key"] == key
    assert publish.attributes["span.kind"] == "producer"
    subject = f"flotilla.reconcile.{worker_type}.{namespace}.{name}"
    assert publish.attributes["messaging.destination.name"] == subject

    # The worker: one reconcile of the key, continued from the publish.
    (consume,) = trace.named(f"consume {worker_type}")
    assert consume.parent_id == publish.span_id
    assert consume.service == worker
    assert consume.attributes["span.kind"] == "consumer"
    assert consume.attributes["flotilla.key"] == key
    assert consume.attributes["flotilla.type"] == worker_type
    assert consume.attributes["flotilla.outcome"] == "success"
    stages = {span.name: span for span in trace.children(consume)}
    assert {"observe", "plan", "act"} <= set(stages), trace.summary()
    assert int(stages["plan"].attributes["flotilla.actions"]) >= len(writes)

    # Each write is an API call span under the reconcile's act.
    assert writes, trace.summary()
    for write in writes:
        assert write.service == worker
        assert write.attributes["span.kind"] == "client"
        assert write.attributes["http.response.status_code"] == status
        chain = trace.ancestors(write)
        assert stages["act"] in chain
        assert chain[-1] == event
    return stages
