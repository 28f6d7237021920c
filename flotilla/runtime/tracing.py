"""OpenTelemetry for Flotilla processes: set up from the standard ``OTEL_*`` variables only,
plus W3C trace context carried in NATS message headers.

:func:`setup_tracing` is called once by the watcher and worker commands. It exports spans
over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
is set or ``OTEL_TRACES_EXPORTER`` asks for ``otlp``; ``console`` prints them; ``none`` or
``OTEL_SDK_DISABLED=true`` turns tracing off. Service name and resource attributes come from
``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``. Propagation follows ``OTEL_PROPAGATORS``
(default W3C ``traceparent`` + baggage).

:func:`inject_headers` (publisher) and :func:`extract_context` (consumer) move the context
through NATS headers, so ``watch event -> publish -> consume -> plan -> API call`` is one trace.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

_provider: TracerProvider | None = None


def _exporter_names() -> list[str]:
    configured = os.environ.get("OTEL_TRACES_EXPORTER", "").strip()
    if configured:
        return [name.strip() for name in configured.split(",") if name.strip()]
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return ["otlp"]
    return []


def setup_tracing(default_service_name: str) -> TracerProvider | None:
    """Install the global tracer provider (once); None when tracing is disabled by env."""
    global _provider
    if _provider is not None:
        return _provider
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    attributes = {"service.name": os.environ.get("OTEL_SERVICE_NAME", default_service_name)}
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in _exporter_names():
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif name != "none":
            raise ValueError(f"OTEL_TRACES_EXPORTER={name!r} is not supported (use otlp, console or none)")
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def add_span_processor(processor: SpanProcessor, default_service_name: str = "flotilla") -> None:
    """Attach another processor (tests attach an in-memory exporter) to the global provider."""
    provider = setup_tracing(default_service_name)
    if provider is None:
        raise RuntimeError("tracing is disabled (OTEL_SDK_DISABLED=true)")
    provider.add_span_processor(processor)


def shutdown_tracing() -> None:
    """Flush pending spans (called on graceful shutdown)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=5000)


def inject_headers(headers: dict[str, str] | None = None, context: Context | None = None) -> dict[str, str]:
    """Headers carrying the current (or given) trace context; merged into ``headers`` when given."""
    carrier: dict[str, str] = dict(headers or {})
    propagate.inject(carrier, context=context)
    return carrier


def extract_context(headers: Mapping[str, str] | None) -> Context:
    """The trace context a NATS message carried (an empty context when none)."""
    return propagate.extract(dict(headers or {}))
