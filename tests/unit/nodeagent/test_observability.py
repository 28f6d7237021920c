"""The node agent on the shared runtime: a span and an outcome count per pass on a Pod's
requests (nodeagent.crr.agent), the CRI call latency by method and gRPC code
(nodeagent.cri.runtime), both in flotilla.runtime's registry and tracer.

The agent's API I/O is a small in-memory stand-in around the planners (the pass's writes are
what is checked); the CRI side is a real gRPC server on a unix socket built from the same
generated stubs, answering ``Version`` and refusing ``StopContainer``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import REGISTRY

from flotilla.runtime.errors import Transient
from flotilla.runtime.tracing import add_span_processor
from nodeagent.cri import stubs
from nodeagent.cri.runtime import CriError, CriRuntime
from nodeagent.crr.agent import CrrAgent
from schemas.kruise.containerrecreaterequest import ACTIVE_LABEL, NODE_NAME_LABEL, POD_UID_LABEL

_EXPORTER = InMemorySpanExporter()
_INSTALLED: list[bool] = []


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    if not _INSTALLED:
        add_span_processor(SimpleSpanProcessor(_EXPORTER), "flotilla-node-agent-test")
        _INSTALLED.append(True)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def _count(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class _Kube:
    """Answers the agent's status patches like the API server (merges, bumps the version)."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.objects: dict[str, dict[str, Any]] = {}
        self.patches: list[tuple[str, dict[str, Any]]] = []

    async def patch(self, path: str, body: dict[str, Any], kind: str = "merge") -> dict[str, Any]:
        if self.fail:
            raise Transient("apiserver unavailable", status=503)
        self.patches.append((path, body))
        stored: dict[str, Any] = json.loads(json.dumps(self.objects[path.removesuffix("/status")]))
        stored["status"] = {**(stored.get("status") or {}), **body.get("status", {})}
        for field, values in (body.get("metadata") or {}).items():
            merged = {**(stored["metadata"].get(field) or {}), **values}
            stored["metadata"][field] = {k: v for k, v in merged.items() if v is not None}
        stored["metadata"]["resourceVersion"] = str(int(stored["metadata"]["resourceVersion"]) + 1)
        self.objects[path.removesuffix("/status")] = stored
        return stored


def _crr(node: str) -> dict[str, Any]:
    created = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "ContainerRecreateRequest",
        "metadata": {
            "name": "r1",
            "namespace": "ns",
            "resourceVersion": "7",
            "creationTimestamp": created,
            "labels": {POD_UID_LABEL: "uid-1", ACTIVE_LABEL: "true", NODE_NAME_LABEL: node},
        },
        "spec": {"podName": "p", "containers": [{"name": "app"}]},
        "status": {"phase": "Recreating"},
    }


def _agent(kube: _Kube) -> CrrAgent:
    agent = CrrAgent(kube, None, "node-a")  # type: ignore[arg-type]
    obj = _crr("node-a")
    path = "/apis/apps.kruise.io/v1alpha1/namespaces/ns/containerrecreaterequests/r1"
    kube.objects[path] = obj
    agent.crrs.objects["ns/r1"] = obj
    return agent


async def test_a_pass_is_one_span_naming_the_request_and_the_phase_it_reached(
    spans: InMemorySpanExporter,
) -> None:
    # The Pod is gone from the node (none in the agent's cache): kruise-manager completes the
    # request with "pod has gone" (pkg/controller/containerrecreaterequest), then drops its
    # active label; one pass, one span.
    kube = _Kube()
    agent = _agent(kube)
    before = _count("flotilla_node_agent_crrs_handled_total", {"outcome": "completed"})
    await agent.handle("ns/p")
    assert [body.get("status", {}).get("message") for _, body in kube.patches] == ["pod has gone", None]
    assert kube.patches[1][1] == {"metadata": {"labels": {ACTIVE_LABEL: None}}}
    finished: list[ReadableSpan] = [s for s in spans.get_finished_spans() if s.name == "crr sync"]
    assert len(finished) == 1
    attributes = dict(finished[0].attributes or {})
    assert attributes["flotilla.node"] == "node-a"
    assert attributes["k8s.pod.key"] == "ns/p"
    assert list(attributes["flotilla.crr.keys"]) == ["ns/r1"]  # type: ignore[arg-type]
    assert list(attributes["flotilla.crr.phases"]) == ["Completed"]  # type: ignore[arg-type]
    assert list(attributes["flotilla.crr.outcomes"]) == ["completed"]  # type: ignore[arg-type]
    assert _count("flotilla_node_agent_crrs_handled_total", {"outcome": "completed"}) == before + 1


async def test_a_failed_pass_is_an_error_span_and_counts_as_error(spans: InMemorySpanExporter) -> None:
    kube = _Kube(fail=True)
    agent = _agent(kube)
    before = _count("flotilla_node_agent_crrs_handled_total", {"outcome": "error"})
    with pytest.raises(Transient):
        await agent.handle("ns/p")
    (span,) = [s for s in spans.get_finished_spans() if s.name == "crr sync"]
    assert span.status.status_code is StatusCode.ERROR
    assert list((span.attributes or {})["flotilla.crr.phases"]) == ["Recreating"]  # type: ignore[arg-type]
    assert _count("flotilla_node_agent_crrs_handled_total", {"outcome": "error"}) == before + 1


async def test_cri_calls_are_timed_by_method_and_code(tmp_path: Path) -> None:
    api, grpc_api = stubs.load()

    class Runtime(grpc_api.RuntimeServiceServicer):  # type: ignore[misc,name-defined]
        async def Version(self, request: Any, context: Any) -> Any:
            return api.VersionResponse(runtime_name="fake-cri", runtime_version="1.0")

        async def StopContainer(self, request: Any, context: Any) -> Any:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"container {request.container_id} not found")

    server = grpc.aio.server()
    grpc_api.add_RuntimeServiceServicer_to_server(Runtime(), server)
    socket = tmp_path / "cri.sock"
    server.add_insecure_port(f"unix://{socket}")
    await server.start()
    runtime = CriRuntime(f"unix://{socket}")
    ok = {"method": "Version", "code": "OK"}
    missing = {"method": "StopContainer", "code": "NOT_FOUND"}
    name = "flotilla_node_agent_cri_call_duration_seconds_count"
    before_ok, before_missing = _count(name, ok), _count(name, missing)
    try:
        assert await runtime.version() == "fake-cri 1.0"
        with pytest.raises(CriError, match="CRI StopContainer: NOT_FOUND: container abc not found"):
            await runtime.stop_container("containerd://abc", 2)
    finally:
        await runtime.close()
        await server.stop(None)
    assert _count(name, ok) == before_ok + 1
    assert _count(name, missing) == before_missing + 1
