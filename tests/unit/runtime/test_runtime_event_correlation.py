"""Event correlation (pure): identical Events patch the cached one, similar ones are combined, LRU bounds."""

from __future__ import annotations

import pytest

from workers.runtime.event_correlation import (
    COMBINED_PREFIX,
    MAX_CACHE_ENTRIES,
    SPAM_BURST,
    CachedEvent,
    CreateEvent,
    EventCache,
    EventKey,
    PatchEvent,
    SimilarKey,
    SimilarRecord,
    SpamKey,
    TokenBucket,
    aggregate,
    decide,
    take_token,
)
from workers.runtime.events import ObjectRef, event_key

REF = ObjectRef("apps.kruise.io/v1alpha1", "CloneSet", "ns", "cs", uid="u1")


def _key(**changes: str) -> EventKey:
    fields = {
        "component": "flotilla-cloneset",
        "api_version": REF.api_version,
        "kind": REF.kind,
        "namespace": REF.namespace,
        "name": REF.name,
        "uid": REF.uid,
        "event_type": "Normal",
        "reason": "SuccessfulCreate",
        "message": "succeed to create pod cs-a",
    }
    fields.update(changes)
    source = SpamKey(*(fields[f] for f in ("component", "api_version", "kind", "namespace", "name", "uid")))
    return EventKey(SimilarKey(source, fields["event_type"], fields["reason"]), fields["message"])


@pytest.mark.parametrize(
    ("cached", "expected"),
    [
        (None, CreateEvent()),
        (CachedEvent("ns", "cs.1", 1, "T0"), PatchEvent("ns", "cs.1", 2, "T0")),
        (CachedEvent("ns", "cs.1", 41, "T0"), PatchEvent("ns", "cs.1", 42, "T0")),
    ],
)
def test_decide(cached: CachedEvent | None, expected: object) -> None:
    assert decide(cached) == expected


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({}, True),
        ({"message": "succeed to create pod cs-b"}, False),
        ({"reason": "ScaleUpLimited"}, False),
        ({"event_type": "Warning"}, False),
        ({"uid": "u2"}, False),  # a re-created object with the same name is another object
        ({"component": "flotilla"}, False),
        ({"namespace": "other"}, False),
        ({"name": "cs2"}, False),
        ({"kind": "Pod"}, False),
    ],
)
def test_key_identity(change: dict[str, str], same: bool) -> None:
    cache = EventCache()
    cache.put(_key(), CachedEvent("ns", "cs.1", 1, "T0"))
    assert (cache.get(_key(**change)) is not None) is same


def test_event_key_from_ref() -> None:
    key = event_key(REF, "SuccessfulCreate", "succeed to create pod cs-a", "Normal", "flotilla-cloneset")
    assert key == _key()


@pytest.mark.parametrize(
    ("max_entries", "puts", "touched", "kept", "dropped"),
    [
        (2, ["a", "b"], [], ["a", "b"], []),
        (2, ["a", "b", "c"], [], ["b", "c"], ["a"]),
        (2, ["a", "b", "c"], ["a"], ["a", "c"], ["b"]),  # a read after b: b is the oldest
        (2, ["a", "b"], ["a"], ["a"], []),
        (3, ["a", "b", "c", "a", "d"], [], ["a", "c", "d"], ["b"]),  # re-put refreshes a
        (1, ["a", "b"], [], ["b"], ["a"]),
    ],
)
def test_lru(
    max_entries: int, puts: list[str], touched: list[str], kept: list[str], dropped: list[str]
) -> None:
    cache = EventCache(max_entries)
    for i, message in enumerate(puts):
        cache.put(_key(message=message), CachedEvent("ns", f"e{i}", 1, "T0"))
        if i == 1:
            for t in touched:
                cache.get(_key(message=t))
    assert len(cache) <= max_entries
    for message in kept:
        assert _key(message=message) in cache
    for message in dropped:
        assert _key(message=message) not in cache


def test_lru_get_refreshes() -> None:
    cache = EventCache(2)
    cache.put(_key(message="a"), CachedEvent("ns", "ea", 1, "T0"))
    cache.put(_key(message="b"), CachedEvent("ns", "eb", 1, "T0"))
    assert cache.get(_key(message="a")) is not None
    cache.put(_key(message="c"), CachedEvent("ns", "ec", 1, "T0"))
    assert _key(message="a") in cache
    assert _key(message="b") not in cache


def test_forget_and_put_replaces() -> None:
    cache = EventCache()
    cache.put(_key(), CachedEvent("ns", "e1", 1, "T0"))
    cache.put(_key(), CachedEvent("ns", "e1", 2, "T0"))
    assert cache.get(_key()) == CachedEvent("ns", "e1", 2, "T0")
    assert len(cache) == 1
    cache.forget(_key())
    cache.forget(_key())  # forgetting twice is fine
    assert cache.get(_key()) is None


def test_bounds() -> None:
    assert EventCache().max_entries == MAX_CACHE_ENTRIES == 4096
    with pytest.raises(ValueError, match="at least 1"):
        EventCache(0)


def _record(*messages: str, last_seen: float = 0.0) -> SimilarRecord:
    return SimilarRecord(frozenset(messages), last_seen)


NINE = [f"m{i}" for i in range(9)]


@pytest.mark.parametrize(
    ("record", "message", "now", "combine", "size"),
    [
        (None, "m0", 0.0, False, 1),
        (_record("m0"), "m0", 1.0, False, 1),  # the same message again is not a new one
        (_record(*NINE[:8]), "m8", 1.0, False, 9),  # nine distinct: still separate
        (_record(*NINE), "m9", 1.0, True, 9),  # the tenth distinct message is combined
        (_record(*NINE), "m0", 1.0, False, 9),  # an already seen message is not combined
        (_record(*NINE), "m9", 601.0, False, 1),  # idle more than 10 minutes: starts over
        (_record(*NINE), "m9", 600.0, True, 9),  # exactly 10 minutes is still within
    ],
)
def test_aggregate(record: SimilarRecord | None, message: str, now: float, combine: bool, size: int) -> None:
    new, combined = aggregate(record, message, now)
    assert combined is combine
    assert len(new.messages) == size
    assert message in new.messages
    assert new.last_seen == now


def test_correlate_combines_after_ten_similar() -> None:
    cache = EventCache()
    results = [cache.correlate(_key(message=f"succeed to create pod cs-{i}"), float(i)) for i in range(12)]
    assert [r.key.combined for r in results] == [False] * 9 + [True] * 3
    assert [r.message for r in results[:9]] == [f"succeed to create pod cs-{i}" for i in range(9)]
    assert {r.key for r in results[9:]} == {results[9].key}  # one combined Event
    assert results[9].key.message == ""
    assert results[11].message == COMBINED_PREFIX + "succeed to create pod cs-11"
    # other reasons and other objects are aggregated apart
    assert not cache.correlate(_key(reason="SuccessfulDelete"), 12.0).key.combined
    assert not cache.correlate(_key(uid="u2", message="succeed to create pod cs-99"), 12.0).key.combined


def test_token_bucket_starts_full_and_empties_after_the_burst() -> None:
    bucket: TokenBucket | None = None
    allowed = []
    for _ in range(SPAM_BURST + 3):
        bucket, ok = take_token(bucket, now=100.0)
        allowed.append(ok)
    assert allowed == [True] * SPAM_BURST + [False] * 3


def test_token_bucket_refills_one_token_per_five_minutes_up_to_the_burst() -> None:
    empty = TokenBucket(0.0, 0.0)
    assert take_token(empty, now=299.0)[1] is False
    assert take_token(empty, now=300.0)[1] is True
    refilled, ok = take_token(empty, now=10 * 300.0 * SPAM_BURST)
    assert ok
    assert refilled.tokens == SPAM_BURST - 1  # capped at the burst before taking one


def test_spam_filter_is_per_source_and_object_not_per_reason() -> None:
    cache = EventCache(spam_burst=2)
    assert cache.allow(_key(reason="A"), 0.0)
    assert cache.allow(_key(reason="B", message="other"), 0.0)
    assert not cache.allow(_key(reason="C"), 0.0)
    assert cache.allow(_key(name="another-cloneset"), 0.0)
    assert cache.allow(_key(component="another-worker"), 0.0)
