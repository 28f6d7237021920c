"""Spans form one trace: watch event -> publish -> consume -> plan -> each API call.

Checked twice: in-process with an in-memory exporter, and from a worker OS process exporting
OTLP/HTTP (configured only by OTEL_* variables) to a real OTLP receiver run by the test.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from nats.js import JetStreamContext
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.kube import KubeClient
from flotilla.runtime.tracing import add_span_processor, inject_headers
from schemas.bus.envelope import Envelope, EventType, encode, make_key
from schemas.bus.subjects import reconcile_subject
from tests.support.fixtures import StartWorker
from tests.support.polling import eventually_async
from tests.support.testcm import WORKER
from tests.support.workers import create_configmaps, free_port, publish_trigger, reconciled_values
from workers.runtime.process import WorkerSettings, run_worker


@pytest.fixture(scope="module")
def memory_spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


async def test_one_trace_in_memory(
    kube: KubeClient,
    testcm_bus: JetStreamContext,
    namespace: str,
    dev_env: DevEnvironment,
    memory_spans: InMemorySpanExporter,
) -> None:
    await create_configmaps(kube, namespace, ["t"], {"desired": "v1"})
    tracer = trace.get_tracer("test.watcher")
    with tracer.start_as_current_span("watch event"), tracer.start_as_current_span("publish") as publish:
        await publish_trigger(testcm_bus, namespace, "t")
    trace_id = publish.get_span_context().trace_id

    stop = asyncio.Event()
    settings = WorkerSettings(nats_url=dev_env.nats_url, kubeconfig=dev_env.kubeconfig, http_port=free_port())
    worker = asyncio.create_task(run_worker(WORKER, settings, stop))
    try:

        async def reconciled() -> bool:
            return (await reconciled_values(kube, namespace)).get("t") == "v1"

        await eventually_async(reconciled, 30)
    finally:
        stop.set()
        assert await asyncio.wait_for(worker, 40) == 0

    spans = [s for s in memory_spans.get_finished_spans() if s.context.trace_id == trace_id]
    by_name = {s.name: s for s in spans}
    for name in (
        "watch event",
        "publish",
        "consume testcm",
        "observe",
        "plan",
        "act",
        "kube GET",
        "kube PATCH",
    ):
        assert name in by_name, sorted(by_name)
    consume = by_name["consume testcm"]
    assert consume.parent is not None
    assert consume.parent.span_id == publish.get_span_context().span_id
    assert consume.attributes is not None
    assert consume.attributes["flotilla.key"] == f"testcm/{namespace}/t"
    assert consume.attributes["flotilla.outcome"] == "success"
    for child in ("observe", "plan", "act"):
        parent = by_name[child].parent
        assert parent is not None
        assert parent.span_id == consume.context.span_id
    patch_parent = by_name["kube PATCH"].parent
    assert patch_parent is not None
    assert patch_parent.span_id == by_name["act"].context.span_id
    assert by_name["plan"].attributes is not None
    assert by_name["plan"].attributes["flotilla.actions"] == 1


class OtlpReceiver:
    """A minimal OTLP/HTTP trace receiver: decodes the protobuf requests it is sent."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str]] = []  # (trace id hex, span name, service)

    async def handle(self, request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.read())
        for resource_spans in export.resource_spans:
            service = next(
                (a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"),
                "",
            )
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append((span.trace_id.hex(), span.name, service))
        return web.Response(body=b"", content_type="application/x-protobuf")


@pytest.fixture
async def otlp_receiver() -> AsyncIterator[tuple[OtlpReceiver, int]]:
    receiver = OtlpReceiver()
    app = web.Application()
    app.router.add_post("/v1/traces", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield receiver, port
    await runner.cleanup()


async def test_worker_process_exports_the_trace_over_otlp(
    kube: KubeClient,
    testcm_bus: JetStreamContext,
    namespace: str,
    start_worker: StartWorker,
    otlp_receiver: tuple[OtlpReceiver, int],
    tmp_path: Path,
) -> None:
    receiver, port = otlp_receiver
    worker = start_worker(
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_SERVICE_NAME": "testcm-under-test",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
    )
    await create_configmaps(kube, namespace, ["o"], {"desired": "v1"})
    trace_id = secrets.token_hex(16)
    headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    envelope = Envelope(make_key("testcm", namespace, "o"), EventType.ADDED, "ConfigMap", "uid", "1", 0.0)
    await testcm_bus.publish(reconcile_subject("testcm", namespace, "o"), encode(envelope), headers=headers)

    async def exported() -> bool:
        names = {name for tid, name, _ in receiver.spans if tid == trace_id}
        return {"consume testcm", "plan", "kube PATCH"} <= names

    await eventually_async(exported, 30)
    assert {service for tid, _, service in receiver.spans if tid == trace_id} == {"testcm-under-test"}
    worker.stop()
    assert inject_headers  # the publisher side helper is exercised by the in-memory test
