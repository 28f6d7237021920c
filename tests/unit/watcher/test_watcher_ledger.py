"""The publish ledger: coalescing per key and the checkpoint watermark (pure)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.bus.envelope import ReconcileKey
from watcher.ledger import Ledger

A, B = ReconcileKey("t/ns/a"), ReconcileKey("t/ns/b")


def test_burst_on_one_key_becomes_one_publish_of_the_newest_trigger() -> None:
    ledger: Ledger[str] = Ledger()
    for rv in ("1", "2", "3"):
        ledger.record("pods", rv, [(A, f"event@{rv}")])
    taken = ledger.take(10)
    assert [trigger for _, trigger in taken] == ["event@3"]


def test_checkpoint_waits_for_the_ack_of_every_earlier_event() -> None:
    ledger: Ledger[str] = Ledger()
    ledger.record("pods", "10", [(A, "a")])
    ledger.record("pods", "11", [(B, "b")])
    ledger.record("pods", "12", ())  # a bookmark
    assert ledger.safe_resource_versions() == {}
    (ticket_a, _), (ticket_b, _) = ledger.take(10)
    ledger.acked(ticket_b)
    assert ledger.safe_resource_versions() == {}  # A (rv 10) not yet acked
    ledger.acked(ticket_a)
    assert ledger.safe_resource_versions() == {"pods": "12"}


def test_event_during_flight_is_published_again() -> None:
    ledger: Ledger[str] = Ledger()
    ledger.record("pods", "1", [(A, "old")])
    ((ticket, _),) = ledger.take(10)
    ledger.record("pods", "2", [(A, "new")])
    ledger.acked(ticket)
    assert ledger.safe_resource_versions() == {"pods": "1"}
    assert [t for _, t in ledger.take(10)] == ["new"]


def test_failed_publish_is_retried_first_and_holds_the_watermark() -> None:
    ledger: Ledger[str] = Ledger()
    ledger.record("pods", "1", [(A, "a1")])
    ledger.record("pods", "2", [(B, "b2")])
    (ticket_a, _), (ticket_b, _) = ledger.take(10)
    ledger.record("pods", "3", [(A, "a3")])
    ledger.failed(ticket_a)
    ledger.acked(ticket_b)
    assert ledger.watermark() == 0
    assert [t for _, t in ledger.take(10)] == ["a3"]  # the newest trigger for A, once


def test_streams_checkpoint_independently() -> None:
    ledger: Ledger[str] = Ledger()
    ledger.record("pods", "5", ())
    ledger.record("clonesets", "6", [(A, "a")])
    ledger.record("pods", "7", ())
    assert ledger.safe_resource_versions() == {"pods": "5"}
    ((ticket, _),) = ledger.take(1)
    ledger.acked(ticket)
    assert ledger.safe_resource_versions() == {"pods": "7", "clonesets": "6"}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("event"), st.sampled_from("abcd")),
            st.tuples(st.just("take"), st.integers(1, 3)),
            st.tuples(st.just("ack"), st.integers(0, 5)),
            st.tuples(st.just("fail"), st.integers(0, 5)),
        ),
        max_size=60,
    )
)
def test_nothing_is_lost_and_the_checkpoint_is_safe(ops: list[tuple[str, object]]) -> None:
    """Every event is covered by an acked publish sent after it, or still pending; never checkpointed past."""
    ledger: Ledger[int] = Ledger()
    in_flight: list = []
    last_event: dict[str, int] = {}  # key -> seq of its newest event
    acked_upto: dict[str, int] = {}  # key -> newest event seq covered by an acked publish
    for op, arg in ops:
        if op == "event":
            key = ReconcileKey(f"t/ns/{arg}")
            seq = ledger.record("s", str(ledger.last_seq + 1), [(key, ledger.last_seq + 1)])
            last_event[key] = seq
        elif op == "take":
            in_flight.extend(ledger.take(int(arg)))  # type: ignore[call-overload]
        elif in_flight:
            ticket, trigger = in_flight.pop(int(arg) % len(in_flight))  # type: ignore[call-overload]
            if op == "ack":
                ledger.acked(ticket)
                acked_upto[ticket.key] = max(acked_upto.get(ticket.key, 0), trigger)
            else:
                ledger.failed(ticket)
        safe = ledger.safe_resource_versions().get("s")
        if safe is not None:
            for key, seq in last_event.items():
                if seq <= int(safe):
                    assert acked_upto.get(key, 0) >= seq, (key, seq, safe)
    # drain: every key's newest event gets published
    for ticket, _ in in_flight:
        ledger.failed(ticket)
    while batch := ledger.take(10):
        for ticket, trigger in batch:
            ledger.acked(ticket)
            acked_upto[ticket.key] = max(acked_upto.get(ticket.key, 0), trigger)
    assert all(acked_upto.get(key, 0) >= seq for key, seq in last_event.items())
    assert ledger.safe_resource_versions().get("s") == (str(ledger.last_seq) if ledger.last_seq else None)
