"""Health server, resource paths, log context and trace header propagation (no services)."""

from __future__ import annotations

import io
import logging

import aiohttp
import orjson
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from flotilla.runtime import metrics
from flotilla.runtime.health import Health
from flotilla.runtime.httpserver import bound_port, start_http_server
from flotilla.runtime.kube import CONFIGMAPS, NAMESPACES, Resource
from flotilla.runtime.logs import JsonFormatter, reconcile_context
from flotilla.runtime.tracing import extract_context, inject_headers


def test_resource_paths() -> None:
    assert CONFIGMAPS.path("ns", "a") == "/api/v1/namespaces/ns/configmaps/a"
    assert NAMESPACES.path(name="ns") == "/api/v1/namespaces/ns"
    clonesets = Resource("apps.kruise.io", "v1alpha1", "clonesets")
    assert (
        clonesets.path("ns", "web", "status")
        == "/apis/apps.kruise.io/v1alpha1/namespaces/ns/clonesets/web/status"
    )
    assert clonesets.api_version == "apps.kruise.io/v1alpha1"


async def test_http_server_serves_metrics_health_and_readiness() -> None:
    health = Health("nats", "bus")
    metrics.RECONCILES.labels("unit", "success").inc()
    runner = await start_http_server(health, port=0, host="127.0.0.1")
    base = f"http://127.0.0.1:{bound_port(runner)}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/healthz") as response:
                assert response.status == 200
            async with http.get(base + "/readyz") as response:
                assert response.status == 503
                assert orjson.loads(await response.read())["nats"] == {"ready": False, "reason": "starting"}
            health.set_ready("nats")
            health.set_ready("bus")
            async with http.get(base + "/readyz") as response:
                assert response.status == 200
            async with http.get(base + "/metrics") as response:
                text = await response.text()
                assert 'flotilla_reconciles_total{outcome="success",type="unit"}' in text
    finally:
        await runner.cleanup()


def test_log_lines_carry_key_and_reconcile_id() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.runtime.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    with reconcile_context("testcm/ns/a") as rid:
        logger.info("inside")
    logger.info("outside")
    inside, outside = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert inside["key"] == "testcm/ns/a"
    assert inside["reconcile_id"] == rid
    assert "key" not in outside


def test_trace_context_round_trips_through_headers() -> None:
    tracer = TracerProvider().get_tracer("unit")
    with tracer.start_as_current_span("publish") as span:
        headers = inject_headers({"Nats-Msg-Id": "x"})
    assert headers["Nats-Msg-Id"] == "x"
    assert headers["traceparent"].split("-")[1] == format(span.get_span_context().trace_id, "032x")
    restored = trace.get_current_span(extract_context(headers)).get_span_context()
    assert restored.trace_id == span.get_span_context().trace_id
