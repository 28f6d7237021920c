"""`flotilla dev traces`: the sample's reconciles as trace trees in the terminal.

The Jaeger v2 binary built from its Go module carries no UI bundle, so a person reads
traces here instead: each recent trace of a service, as an indented tree of spans with
their durations and the attributes that matter (key, type, outcome, HTTP method and
path, status code). `render_trace` is pure; the command reads Jaeger's query API
(`jaeger.JaegerQuery`) at the address `flotilla dev up` recorded.
"""

from __future__ import annotations

from collections.abc import Iterator

from flotilla.devcluster.jaeger import Trace, TraceSpan

#: Span attributes worth a person's eye, in the order they are shown.
SHOWN_ATTRIBUTES = (
    "flotilla.key",
    "flotilla.type",
    "flotilla.outcome",
    "flotilla.actions",
    "messaging.destination.name",
    "http.request.method",
    "url.path",
    "http.response.status_code",
)


def _line(span: TraceSpan, depth: int) -> str:
    shown = [f"{key}={span.attributes[key]}" for key in SHOWN_ATTRIBUTES if key in span.attributes]
    details = f"  [{', '.join(shown)}]" if shown else ""
    return f"{'  ' * depth}{span.service}: {span.name}  {span.duration_us / 1000:.1f} ms{details}"


def _walk(trace: Trace, span: TraceSpan, depth: int) -> Iterator[str]:
    yield _line(span, depth)
    for child in sorted(trace.children(span), key=lambda s: s.start_us):
        yield from _walk(trace, child, depth + 1)


def render_trace(trace: Trace) -> str:
    """The trace as an indented span tree, roots (spans whose parent is absent) first."""
    ids = {span.span_id for span in trace.spans}
    roots = sorted((s for s in trace.spans if s.parent_id not in ids), key=lambda s: s.start_us)
    lines = [
        f"trace {trace.trace_id} ({len(trace.spans)} spans, services: {', '.join(sorted(trace.services))})"
    ]
    for root in roots:
        lines.extend(_walk(trace, root, 1))
    return "\n".join(lines)
