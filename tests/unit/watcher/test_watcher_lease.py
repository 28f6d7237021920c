"""Leader-election decisions (pure), with client-go's rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from watcher.lease import (
    ElectionTiming,
    LeaseRecord,
    Observation,
    claim,
    lease_body,
    observe,
    parse_lease,
    release,
)

T = ElectionTiming()
WALL = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def held(holder: str, renew: str = "r1", transitions: int = 0) -> LeaseRecord:
    return LeaseRecord(holder, 15, "a1", renew, transitions, resource_version="42")


def test_absent_lease_is_created_for_me() -> None:
    record = claim("me", None, now=0.0, wall=WALL, timing=T)
    assert record == LeaseRecord("me", 15, "2026-01-02T03:04:05.678901Z", "2026-01-02T03:04:05.678901Z", 0)


def test_other_holders_lease_is_respected_until_unchanged_for_lease_duration() -> None:
    seen = observe(None, held("other"), now=100.0)
    assert claim("me", seen, now=114.9, wall=WALL, timing=T) is None
    # renewed meanwhile: the clock starts again
    seen = observe(seen, held("other", renew="r2"), now=110.0)
    assert claim("me", seen, now=120.0, wall=WALL, timing=T) is None
    # unchanged for 15 s: taken over, transitions +1, rv kept for the optimistic update
    seen = observe(seen, held("other", renew="r2"), now=125.0)
    taken = claim("me", seen, now=125.0, wall=WALL, timing=T)
    assert taken is not None
    assert (taken.holder, taken.transitions, taken.resource_version) == ("me", 1, "42")


def test_renewal_keeps_acquire_time_and_transitions() -> None:
    seen = observe(None, held("me", transitions=3), now=0.0)
    renewed = claim("me", seen, now=1.0, wall=WALL, timing=T)
    assert renewed is not None
    assert (renewed.acquire_time, renewed.transitions, renewed.renew_time) == (
        "a1",
        3,
        "2026-01-02T03:04:05.678901Z",
    )


def test_released_lease_is_taken_at_once() -> None:
    seen = observe(None, LeaseRecord("", 1, "a", "r", 2, "9"), now=0.0)
    taken = claim("me", seen, now=0.0, wall=WALL, timing=T)
    assert taken is not None
    assert taken.transitions == 2


def test_release_only_when_mine() -> None:
    assert release("me", held("other"), WALL) is None
    freed = release("me", held("me", transitions=4), WALL)
    assert freed is not None
    assert (freed.holder, freed.lease_duration_seconds, freed.transitions) == ("", 1, 4)


def test_lease_round_trips_through_the_api_shape() -> None:
    record = held("me")
    body = lease_body("flotilla-watcher", "ns", record)
    assert body["metadata"] == {"name": "flotilla-watcher", "namespace": "ns", "resourceVersion": "42"}
    assert parse_lease(body) == record


def test_timing_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="lease_duration > renew_deadline > retry_period"):
        ElectionTiming(10, 10, 2)


def test_observation_keeps_change_time_while_unchanged() -> None:
    first = observe(None, held("x"), now=1.0)
    assert observe(first, held("x"), now=5.0) == Observation(held("x"), 1.0)
