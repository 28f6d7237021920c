"""Which headers a trigger may pass on to a dead letter or a schedule (pure, no NATS)."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.bus.headers import forwardable, schedule_at, schedule_headers, scheduled


def test_forwardable_drops_every_nats_header_and_keeps_the_rest() -> None:
    headers = {
        "Nats-Msg-Id": "k|u|1|MODIFIED",
        "Nats-Expected-Stream": "RECONCILE",
        "nats-expected-last-sequence": "4",  # header names are case-insensitive
        "Nats-Schedule": "@at 2030-01-01T00:00:00Z",
        "Nats-Schedule-Target": "flotilla.reconcile.x.ns.a",
        "Nats-Scheduler": "flotilla.requeue.x.ns.a",
        "Nats-Schedule-Next": "purge",
        "Nats-TTL": "5m",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "Flotilla-Reason": "failures",
    }
    assert forwardable(headers) == {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "Flotilla-Reason": "failures",
    }
    assert forwardable(None) == {}


def test_schedule_at_is_rfc3339_utc() -> None:
    # 2026-11-29T16:30:00.250Z worked out by hand: 1795969800 s since the epoch, + 0.25 s.
    when = datetime(2026, 11, 29, 16, 30, 0, 250000, tzinfo=UTC).timestamp()
    assert when == 1795969800.25
    assert schedule_at(when) == "@at 2026-11-29T16:30:00.250Z"


def test_schedule_headers_replace_the_triggers_control_headers() -> None:
    out = schedule_headers(
        {"Nats-Expected-Stream": "RECONCILE", "Nats-Scheduler": "old", "traceparent": "t"},
        1795969800.0,
        "flotilla.reconcile.x.ns.a",
    )
    assert out == {
        "traceparent": "t",
        "Nats-Schedule": "@at 2026-11-29T16:30:00.000Z",
        "Nats-Schedule-Target": "flotilla.reconcile.x.ns.a",
    }


def test_scheduled_tells_a_fired_requeue_from_a_trigger() -> None:
    assert scheduled({"Nats-Scheduler": "flotilla.requeue.x.ns.a", "Nats-Schedule-Next": "purge"})
    assert not scheduled({"Nats-Msg-Id": "x"})
    assert not scheduled(None)
