"""What the scaling test reads from the real processes: their reconciles, as spans and as logs.

The worker's JSON log has one line per reconcile *finish* (``reconciled: ...`` carrying ``key``
and ``reconcile_id``), but no line at its start, so the logs alone cannot tell whether two
reconciles of a key overlapped. The spans do: the runtime's ``consume <type>`` span carries the
key, the reconcile id and the outcome, and its ``observe`` / ``plan`` / ``act`` children (one set
per conflict re-plan) start and end with the reconcile itself, under the key's lease.

`SpanCollector` is an OTLP/HTTP trace receiver on loopback (the chart's ``tracing.endpoint``
points at it); `reconciles` turns what it received into one `Reconcile` interval each;
`overlapping` finds two reconciles of one key that ran at the same time; `log_reconcile_ids`
and `metric_samples` read the processes' logs and ``/metrics``. Used by ``test_helm_scaling``.
"""

from __future__ import annotations

import gzip
import threading
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import combinations
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

RECONCILE_PHASES = frozenset({"observe", "plan", "act"})


@dataclass(frozen=True)
class ReceivedSpan:
    pod: str  # the k8s.pod.name resource attribute the chart sets (POD_NAME)
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, str]


@dataclass(frozen=True)
class Reconcile:
    """One reconcile of a key by one process: first phase start to last phase end."""

    key: str
    pod: str
    reconcile_id: str
    outcome: str
    start_ns: int
    end_ns: int


def _value(kv: KeyValue) -> str:
    which = kv.value.WhichOneof("value")
    return str(getattr(kv.value, which)) if which else ""


class SpanCollector:
    """An OTLP/HTTP (protobuf) trace receiver on 127.0.0.1 keeping every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                collector._receive(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> SpanCollector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _receive(self, body: bytes) -> None:
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        received = []
        for resource_spans in export.resource_spans:
            resource = {kv.key: _value(kv) for kv in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    received.append(
                        ReceivedSpan(
                            pod=resource.get("k8s.pod.name", ""),
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            name=span.name,
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            attributes={kv.key: _value(kv) for kv in span.attributes},
                        )
                    )
        with self._lock:
            self.spans.extend(received)

    def snapshot(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)


def reconciles(spans: list[ReceivedSpan], worker_type: str) -> list[Reconcile]:
    """Each ``consume <type>`` span that reconciled (has phase children), as an interval.

    Lease-busy deliveries (nak'd without observing) have no phases and are not reconciles.
    """
    phases: dict[tuple[str, str], list[ReceivedSpan]] = defaultdict(list)
    for span in spans:
        if span.name in RECONCILE_PHASES:
            phases[(span.trace_id, span.parent_span_id)].append(span)
    found = []
    for span in spans:
        children = phases.get((span.trace_id, span.span_id))
        if span.name != f"consume {worker_type}" or not children:
            continue
        found.append(
            Reconcile(
                key=span.attributes["flotilla.key"],
                pod=span.pod,
                reconcile_id=span.attributes.get("flotilla.reconcile_id", ""),
                outcome=span.attributes.get("flotilla.outcome", ""),
                start_ns=min(c.start_ns for c in children),
                end_ns=max(c.end_ns for c in children),
            )
        )
    return found


def overlapping(found: list[Reconcile]) -> list[tuple[Reconcile, Reconcile]]:
    """Pairs of reconciles of the same key whose intervals intersect (any processes)."""
    by_key: dict[str, list[Reconcile]] = defaultdict(list)
    for reconcile in found:
        by_key[reconcile.key].append(reconcile)
    return [
        (a, b)
        for runs in by_key.values()
        for a, b in combinations(runs, 2)
        if a.start_ns < b.end_ns and b.start_ns < a.end_ns
    ]


def log_reconcile_ids(log: Path, key_prefix: str) -> dict[str, str]:
    """reconcile id -> key of every JSON log line logged inside a reconcile of a key under the prefix."""
    ids: dict[str, str] = {}
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        key, rid = record.get("key"), record.get("reconcile_id")
        if isinstance(key, str) and key.startswith(key_prefix) and isinstance(rid, str):
            ids[rid] = key
    return ids


def metric_samples(port: int, name: str) -> dict[str, float]:
    """Every sample of one metric family on a process's /metrics: label text -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body = response.read().decode()
    samples = {}
    for line in body.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, _, value = line.rpartition(" ")
            samples[labels[len(name) :]] = float(value)
    return samples
