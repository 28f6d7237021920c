"""The pure parts of the Jaeger launcher: its config, and reading ``/api/traces`` answers."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from flotilla.devcluster.jaeger import JaegerPorts, Trace, parse_traces, render_config

PORTS = JaegerPorts(otlp_grpc=41317, otlp_http=41318, query_http=41686, query_grpc=41685)


def _dig(tree: object, *path: str) -> Any:
    for step in path:
        assert isinstance(tree, dict), (path, step)
        tree = tree[step]
    return tree


def test_config_listens_only_on_the_chosen_loopback_ports() -> None:
    config = render_config(PORTS)
    assert _dig(config, "receivers", "otlp", "protocols", "grpc", "endpoint") == "127.0.0.1:41317"
    assert _dig(config, "receivers", "otlp", "protocols", "http", "endpoint") == "127.0.0.1:41318"
    assert _dig(config, "extensions", "jaeger_query", "http", "endpoint") == "127.0.0.1:41686"
    assert _dig(config, "extensions", "jaeger_query", "grpc", "endpoint") == "127.0.0.1:41685"
    # No fixed port anywhere: Jaeger's own metrics (:8888 by default) are off.
    assert _dig(config, "service", "telemetry", "metrics", "level") == "none"


def test_config_pipes_otlp_into_the_memory_store_the_query_api_reads() -> None:
    config = render_config(PORTS, max_traces=500)
    pipeline = _dig(config, "service", "pipelines", "traces")
    assert pipeline == {
        "receivers": ["otlp"],
        "processors": ["batch"],
        "exporters": ["jaeger_storage_exporter"],
    }
    store = _dig(config, "exporters", "jaeger_storage_exporter", "trace_storage")
    assert _dig(config, "extensions", "jaeger_query", "storage", "traces") == store
    assert _dig(config, "extensions", "jaeger_storage", "backends", store) == {"memory": {"max_traces": 500}}
    assert set(_dig(config, "service", "extensions")) == {"jaeger_storage", "jaeger_query"}
    assert _dig(config, "extensions", "jaeger_query", "enable_tracing") is False


def test_config_is_plain_yaml() -> None:
    assert yaml.safe_load(yaml.safe_dump(render_config(PORTS))) == render_config(PORTS)


def _span(
    span_id: str, name: str, process: str, parent: str | None = None, start: int = 0, **tags: object
) -> dict[str, object]:
    types = {bool: "bool", int: "int64", float: "float64", str: "string"}
    return {
        "traceID": "5a9ce84b66e5e73a1aa007edccc6af9",
        "spanID": span_id,
        "operationName": name,
        "references": (
            [{"refType": "CHILD_OF", "traceID": "5a9ce84b66e5e73a1aa007edccc6af9", "spanID": parent}]
            if parent
            else []
        ),
        "startTime": start,
        "duration": 10,
        "tags": [{"key": k, "type": types[type(v)], "value": v} for k, v in tags.items()],
        "logs": [],
        "processID": process,
        "warnings": None,
        "someFutureField": 1,
    }


ANSWER = {
    "data": [
        {
            "traceID": "5a9ce84b66e5e73a1aa007edccc6af9",
            "spans": [
                _span(
                    "0000000000000003", "consume cloneset", "p2", parent="2", start=30, **{"flotilla.n": 2}
                ),
                _span("0000000000000001", "watch.event", "p1", start=10),
                _span("0000000000000002", "watch.publish", "p1", parent="1", start=20, ok=True, ratio=0.5),
                _span("0000000000000004", "plan", "p2", parent="0000000000000003", start=40),
            ],
            "processes": {
                "p1": {"serviceName": "flotilla-watcher", "tags": []},
                "p2": {"serviceName": "flotilla-worker-cloneset", "tags": []},
            },
        }
    ],
    "total": 0,
    "errors": None,
}


def test_parse_traces_reads_spans_services_parents_and_typed_attributes() -> None:
    (trace,) = parse_traces(ANSWER)
    # A 128-bit id whose leading digit is 0 comes back at full width.
    assert trace.trace_id == "05a9ce84b66e5e73a1aa007edccc6af9"
    assert [s.name for s in trace.spans] == ["watch.event", "watch.publish", "consume cloneset", "plan"]
    event, publish, consume, plan = trace.spans
    assert (event.parent_id, publish.parent_id, consume.parent_id) == (None, event.span_id, publish.span_id)
    assert plan.parent_id == consume.span_id
    assert event.service == "flotilla-watcher"
    assert consume.service == "flotilla-worker-cloneset"
    assert publish.attributes == {"ok": True, "ratio": 0.5}
    assert consume.attributes == {"flotilla.n": 2}
    assert trace.services == {"flotilla-watcher", "flotilla-worker-cloneset"}


def test_trace_navigation() -> None:
    (trace,) = parse_traces(ANSWER)
    (consume,) = trace.named("consume cloneset")
    (plan,) = trace.children(consume)
    assert plan.name == "plan"
    assert [s.name for s in trace.ancestors(plan)] == ["consume cloneset", "watch.publish", "watch.event"]
    assert "flotilla-watcher:watch.event" in trace.summary()


def test_parse_traces_of_empty_and_odd_answers() -> None:
    assert parse_traces({"data": None, "total": 0}) == []
    assert parse_traces({"data": [{"traceID": "ab", "spans": [], "processes": {}}]}) == [
        Trace("ab".zfill(32), ())
    ]
    with pytest.raises(ValueError, match="not a Jaeger API answer"):
        parse_traces(["no"])
