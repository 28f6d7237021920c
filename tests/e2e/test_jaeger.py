"""The Jaeger launcher against the real Jaeger v2: spans a process exports over OTLP/HTTP
(configured only by the OTEL_* variables, through Flotilla's own tracing setup) come back
from the query API whole; a Jaeger that cannot listen fails with its log."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from flotilla.devcluster.jaeger import Jaeger, JaegerPorts
from flotilla.devcluster.ports import LOOPBACK
from flotilla.devcluster.process import ComponentError

REPO = Path(__file__).resolve().parents[2]

_EXPORTING_PROCESS = textwrap.dedent(
    """
    from opentelemetry import trace
    from flotilla.runtime.tracing import setup_tracing, shutdown_tracing

    setup_tracing("unused-default")
    tracer = trace.get_tracer("probe")
    with tracer.start_as_current_span(
        "probe.parent", attributes={"flotilla.key": "cloneset/ns/web", "flotilla.actions": 5}
    ) as parent:
        with tracer.start_as_current_span("probe.child", kind=trace.SpanKind.CLIENT):
            pass
    shutdown_tracing()
    print(format(parent.get_span_context().trace_id, "032x"))
    """
)


def test_a_span_exported_over_otlp_http_shows_up_in_jaeger(jaeger: Jaeger) -> None:
    service = f"probe-{secrets.token_hex(3)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(jaeger.otel_env(service), PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", _EXPORTING_PROCESS],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    trace_id = done.stdout.strip().splitlines()[-1]

    query = jaeger.query()
    found = query.wait_for_trace(service, lambda t: t.trace_id == trace_id, timeout=30)
    assert service in query.services()
    (parent,) = found.named("probe.parent")
    (child,) = found.named("probe.child")
    assert child.parent_id == parent.span_id
    assert parent.parent_id is None
    assert found.services == {service}
    assert parent.attributes["flotilla.key"] == "cloneset/ns/web"
    assert parent.attributes["flotilla.actions"] == 5
    assert child.attributes["span.kind"] == "client"
    assert query.trace(trace_id) == found
    assert query.trace(secrets.token_hex(16)) is None
    # Searching by tag finds the trace too (what the e2e test relies on).
    tagged = query.traces(service, tags={"flotilla.key": "cloneset/ns/web"})
    assert [t.trace_id for t in tagged] == [trace_id]


def test_a_jaeger_that_cannot_listen_fails_with_its_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        broken = Jaeger(tmp_path, ports=replace(JaegerPorts.free(), otlp_http=port))
        with pytest.raises(ComponentError) as failure:
            broken.start(timeout=30)
    message = str(failure.value)
    assert message.startswith("jaeger exited")
    assert str(tmp_path / "logs" / "jaeger.log") in message
    assert "address already in use" in message
    assert broken.process is not None
    assert not broken.process.running()
