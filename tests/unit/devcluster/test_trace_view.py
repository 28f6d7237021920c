"""`flotilla dev traces` renders a trace as the span tree a person reads."""

from __future__ import annotations

from flotilla.devcluster.jaeger import Trace, TraceSpan
from flotilla.devcluster.trace_view import render_trace


def _span(span_id: str, parent: str | None, name: str, start: int, **attributes: str | int) -> TraceSpan:
    service = "flotilla-watcher" if name.startswith("watch") else "flotilla-worker-cloneset"
    return TraceSpan("t1", span_id, parent, name, service, attributes, start, 1500)


def test_spans_are_nested_under_their_parents_in_start_order() -> None:
    trace = Trace(
        "t1",
        (
            _span(
                "c",
                "b",
                "consume cloneset",
                3,
                **{"flotilla.key": "cloneset/ns/a", "flotilla.outcome": "success"},
            ),
            _span("a", None, "watch.event", 1),
            _span("e", "c", "act", 5),
            _span("d", "c", "plan", 4, **{"flotilla.actions": 2}),
            _span("b", "a", "watch.publish", 2),
        ),
    )
    assert render_trace(trace).splitlines() == [
        "trace t1 (5 spans, services: flotilla-watcher, flotilla-worker-cloneset)",
        "  flotilla-watcher: watch.event  1.5 ms",
        "    flotilla-watcher: watch.publish  1.5 ms",
        "      flotilla-worker-cloneset: consume cloneset  1.5 ms"
        "  [flotilla.key=cloneset/ns/a, flotilla.outcome=success]",
        "        flotilla-worker-cloneset: plan  1.5 ms  [flotilla.actions=2]",
        "        flotilla-worker-cloneset: act  1.5 ms",
    ]


def test_a_span_whose_parent_is_missing_is_shown_as_a_root() -> None:
    trace = Trace("t1", (_span("x", "gone", "plan", 1),))
    assert render_trace(trace).splitlines()[1] == "  flotilla-worker-cloneset: plan  1.5 ms"
