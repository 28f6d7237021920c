"""Jaeger v2 on loopback for the local control plane, and a small client of its query API.

`Jaeger.start()` writes a config into the run folder (OTLP gRPC + HTTP receivers, in-memory
trace storage, the query HTTP/gRPC API, all on free loopback ports; Jaeger's own telemetry
off) and runs the all-in-one ``jaeger`` binary (built from its Go module by `toolchain.py`)
as a `ManagedProcess`. It is ready when the query API answers and the OTLP/HTTP receiver
accepts an (empty) export. Processes send it spans through the standard ``OTEL_*`` variables
(`Jaeger.otel_env`). `JaegerQuery` reads traces back through ``/api/traces``; the tests use it
to check the shape of a reconcile's trace.

Called by the test fixtures (`tests/e2e/`), `flotilla dev up` and the demo. `render_config`
and `parse_traces` are pure and unit-tested.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from flotilla.devcluster.ports import LOOPBACK, free_port
from flotilla.devcluster.process import ComponentError, ManagedProcess
from flotilla.devcluster.toolchain import ensure_binaries

AttributeValue = str | int | float | bool

_STORE = "memstore"


@dataclass(frozen=True)
class JaegerPorts:
    """The loopback ports Jaeger listens on."""

    otlp_grpc: int
    otlp_http: int
    query_http: int
    query_grpc: int

    @classmethod
    def free(cls) -> JaegerPorts:
        return cls(free_port(), free_port(), free_port(), free_port())


def render_config(ports: JaegerPorts, max_traces: int = 100_000) -> dict[str, object]:
    """The Jaeger v2 (OpenTelemetry Collector) config: OTLP in, memory store, query API out."""
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["batch"],
                    "exporters": ["jaeger_storage_exporter"],
                }
            },
            # Jaeger's own metrics would listen on :8888; nothing here reads them.
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "info"}},
        },
        "extensions": {
            "jaeger_storage": {"backends": {_STORE: {"memory": {"max_traces": max_traces}}}},
            "jaeger_query": {
                "storage": {"traces": _STORE},
                # Do not trace the query service into its own store.
                "enable_tracing": False,
                "http": {"endpoint": f"{LOOPBACK}:{ports.query_http}"},
                "grpc": {"endpoint": f"{LOOPBACK}:{ports.query_grpc}"},
            },
        },
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": f"{LOOPBACK}:{ports.otlp_grpc}"},
                    "http": {"endpoint": f"{LOOPBACK}:{ports.otlp_http}"},
                }
            }
        },
        "processors": {"batch": {"timeout": "200ms"}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": _STORE}},
    }


# ---------------------------------------------------------------------------- traces read back


@dataclass(frozen=True)
class TraceSpan:
    """One span as Jaeger stores it: OTel attributes become tags (span kind included)."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str
    attributes: Mapping[str, AttributeValue]
    start_us: int
    duration_us: int


@dataclass(frozen=True)
class Trace:
    trace_id: str
    spans: tuple[TraceSpan, ...]

    def named(self, name: str) -> list[TraceSpan]:
        return [span for span in self.spans if span.name == name]

    def children(self, parent: TraceSpan) -> list[TraceSpan]:
        return [span for span in self.spans if span.parent_id == parent.span_id]

    def ancestors(self, span: TraceSpan) -> list[TraceSpan]:
        """The span's parent, grandparent, ... (nearest first) within this trace."""
        by_id = {s.span_id: s for s in self.spans}
        chain: list[TraceSpan] = []
        current = by_id.get(span.parent_id or "")
        while current is not None and current not in chain:
            chain.append(current)
            current = by_id.get(current.parent_id or "")
        return chain

    @property
    def services(self) -> set[str]:
        return {span.service for span in self.spans}

    def summary(self) -> str:
        """``service:name`` of every span, for assertion messages."""
        return ", ".join(sorted(f"{span.service}:{span.name}" for span in self.spans))


def _normal_id(value: object, width: int) -> str:
    # Jaeger prints a 128-bit trace id whose high half is zero as 16 hex digits.
    return str(value).lower().zfill(width)


def _tag_value(tag: Mapping[str, Any]) -> AttributeValue:
    value = tag.get("value")
    if isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value)


def parse_traces(payload: object) -> list[Trace]:
    """The traces of a ``/api/traces`` (or ``/api/traces/<id>``) answer; unknown fields ignored."""
    if not isinstance(payload, Mapping):
        raise ValueError(f"not a Jaeger API answer: {payload!r:.200}")
    traces: list[Trace] = []
    raw: Any
    for raw in payload.get("data") or ():
        processes: Mapping[str, Any] = raw.get("processes") or {}
        spans: list[TraceSpan] = []
        for span in raw.get("spans") or ():
            parent = next(
                (ref["spanID"] for ref in span.get("references") or () if ref.get("refType") == "CHILD_OF"),
                None,
            )
            process = processes.get(span.get("processID", ""), {})
            spans.append(
                TraceSpan(
                    trace_id=_normal_id(span["traceID"], 32),
                    span_id=_normal_id(span["spanID"], 16),
                    parent_id=_normal_id(parent, 16) if parent else None,
                    name=str(span.get("operationName", "")),
                    service=str(process.get("serviceName", "")),
                    attributes={str(t["key"]): _tag_value(t) for t in span.get("tags") or ()},
                    start_us=int(span.get("startTime", 0)),
                    duration_us=int(span.get("duration", 0)),
                )
            )
        spans.sort(key=lambda s: s.start_us)
        traces.append(Trace(_normal_id(raw["traceID"], 32), tuple(spans)))
    return traces


@dataclass(frozen=True)
class JaegerQuery:
    """Reads Jaeger's query HTTP API (the one its UI uses)."""

    base_url: str
    timeout: float = 5.0

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.base_url}{path}{query}", timeout=self.timeout) as response:
            return json.loads(response.read())

    def services(self) -> list[str]:
        return sorted(self._get("/api/services").get("data") or [])

    def traces(
        self,
        service: str,
        *,
        operation: str | None = None,
        tags: Mapping[str, str] | None = None,
        limit: int = 50,
        lookback: timedelta = timedelta(hours=1),
    ) -> list[Trace]:
        """Recent traces with a span of `service` (and `operation` / `tags` when given)."""
        now_us = int(time.time() * 1_000_000)
        params = {
            "service": service,
            "limit": str(limit),
            "start": str(now_us - int(lookback.total_seconds() * 1_000_000)),
            "end": str(now_us),
        }
        if operation:
            params["operation"] = operation
        if tags:
            params["tags"] = json.dumps(dict(tags))
        return parse_traces(self._get("/api/traces", params))

    def trace(self, trace_id: str) -> Trace | None:
        """One whole trace by id, or None when Jaeger has none with that id."""
        try:
            found = parse_traces(self._get(f"/api/traces/{trace_id}"))
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise
        return found[0] if found else None

    def wait_for_trace(
        self,
        service: str,
        predicate: Callable[[Trace], bool],
        timeout: float = 30.0,
        *,
        operation: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Trace:
        """Poll until a trace of `service` satisfies `predicate`; TimeoutError lists what was seen."""
        deadline = time.monotonic() + timeout
        seen: list[Trace] = []
        while True:
            try:
                seen = self.traces(service, operation=operation, tags=tags)
            except (OSError, ValueError):
                seen = []
            for candidate in seen:
                # Search results may be cut short; read the whole trace before judging it.
                whole = self.trace(candidate.trace_id) or candidate
                if predicate(whole):
                    return whole
            if time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        described = "\n".join(f"  {t.trace_id}: {t.summary()}" for t in seen[:10]) or "  (none)"
        raise TimeoutError(
            f"no trace of {service!r} matched within {timeout:.0f}s; traces seen:\n{described}"
        )


# ---------------------------------------------------------------------------- the process


def _query_api_answers(base_url: str) -> bool:
    with urllib.request.urlopen(f"{base_url}/api/services", timeout=2) as response:
        return response.status == 200 and "data" in json.loads(response.read())


def _otlp_http_accepts(endpoint: str) -> bool:
    """An empty ExportTraceServiceRequest (zero bytes of protobuf) is accepted once the receiver runs."""
    request = urllib.request.Request(
        f"{endpoint}/v1/traces",
        data=b"",
        method="POST",
        headers={"Content-Type": "application/x-protobuf"},
    )
    with urllib.request.urlopen(request, timeout=2) as response:
        return bool(response.status == 200)


@dataclass
class Jaeger:
    """The Jaeger v2 process of a run folder: config in ``jaeger/``, log in ``logs/jaeger.log``."""

    run_dir: Path
    detached: bool = False
    ports: JaegerPorts = field(default_factory=JaegerPorts.free)
    binary: Path | None = None
    process: ManagedProcess | None = field(default=None, repr=False)

    @property
    def otlp_http_endpoint(self) -> str:
        """For ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the exporter appends ``/v1/traces``)."""
        return f"http://{LOOPBACK}:{self.ports.otlp_http}"

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.otlp_grpc}"

    @property
    def ui_url(self) -> str:
        """The query service: the UI (when built with its assets) and the ``/api/`` endpoints."""
        return f"http://{LOOPBACK}:{self.ports.query_http}"

    @property
    def config_path(self) -> Path:
        return self.run_dir / "jaeger" / "config.yaml"

    def query(self) -> JaegerQuery:
        return JaegerQuery(self.ui_url)

    def otel_env(self, service_name: str | None = None) -> dict[str, str]:
        """The standard ``OTEL_*`` variables that make a Flotilla process export here."""
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_http_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        }
        if service_name:
            env["OTEL_SERVICE_NAME"] = service_name
        return env

    def start(self, timeout: float = 60.0) -> None:
        """Write the config, start Jaeger and wait until it takes spans and answers queries."""
        binary = self.binary or ensure_binaries(["jaeger"])["jaeger"]
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(render_config(self.ports), sort_keys=False))
        self.process = ManagedProcess(
            "jaeger",
            [str(binary), f"--config={self.config_path}"],
            self.run_dir / "logs" / "jaeger.log",
            detached=self.detached,
        )
        self.process.start()
        try:
            self.process.wait_until(
                lambda: _query_api_answers(self.ui_url) and _otlp_http_accepts(self.otlp_http_endpoint),
                timeout,
                "ready (query API answering, OTLP/HTTP receiver accepting)",
            )
        except ComponentError:
            self.process.stop()
            raise

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
