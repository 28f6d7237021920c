"""Event correlation (pure): which Events are repeats of a recent one.

As client-go's ``EventCorrelator`` (``tools/record/events_cache.go``) does:

- **similar Events are aggregated**: once 10 Events on one object with the same (source,
  type, reason) but distinct messages have been seen, each one less than 10 minutes after the
  previous, further ones become one Event whose message is ``(combined from similar events): ``
  + the latest message, correlated under the key without the message;
- **identical Events are counted**: an Event identical to a recent one in (involved object incl.
  uid, reason, message, type, source component) is not created again; the existing Event is
  patched with ``count + 1`` and a new ``lastTimestamp``;
- **spam is dropped**: each (source component, involved object) has a token bucket of 25
  Events refilled at one per 5 minutes (``EventSourceObjectSpamFilter``); an Event that finds
  it empty is not written at all. A CloneSet creating 1000 pods records its first 25 Events,
  as kube-controller-manager's ReplicaSet does, instead of 1000 API requests.

"Recent" is a bounded LRU cache (4096 keys, client-go's ``maxLruCacheEntries``) per process.
No I/O and no clock here (``now`` is passed in); ``workers/runtime/events.py`` does the API calls.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

MAX_CACHE_ENTRIES = 4096
SIMILAR_MAX_EVENTS = 10
SIMILAR_INTERVAL_SECONDS = 600.0
SPAM_BURST = 25
SPAM_REFILL_PER_SECOND = 1.0 / 300.0
COMBINED_PREFIX = "(combined from similar events): "

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class SpamKey:
    """One source and one object: their Events share a token bucket (client-go's ``getSpamKey``)."""

    component: str
    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class SimilarKey:
    """Events that are the same but for the message (client-go's ``EventAggregatorByReasonFunc``)."""

    source: SpamKey
    event_type: str
    reason: str


@dataclass(frozen=True)
class TokenBucket:
    """Tokens left at ``updated`` (client-go's ``spamRecord`` rate limiter)."""

    tokens: float
    updated: float


def take_token(
    bucket: TokenBucket | None,
    now: float,
    burst: int = SPAM_BURST,
    refill_per_second: float = SPAM_REFILL_PER_SECOND,
) -> tuple[TokenBucket, bool]:
    """The bucket after one Event asked for a token at ``now``, and whether it got one.

    A new bucket starts full (``burst`` tokens); tokens come back at ``refill_per_second``, never
    above ``burst``.
    """
    if bucket is None:
        tokens = float(burst)
    else:
        tokens = min(float(burst), bucket.tokens + max(0.0, now - bucket.updated) * refill_per_second)
    if tokens >= 1.0:
        return TokenBucket(tokens - 1.0, now), True
    return TokenBucket(tokens, now), False


@dataclass(frozen=True)
class EventKey:
    """What makes two Events the same Event (client-go's ``getEventKey``): the similar-Event key
    and the message.

    ``combined`` keys stand for the aggregate of similar Events; their ``message`` is empty.
    """

    similar: SimilarKey
    message: str
    combined: bool = False

    @property
    def spam(self) -> SpamKey:
        return self.similar.source


@dataclass(frozen=True)
class CachedEvent:
    """The Event object last written for a key."""

    namespace: str
    name: str
    count: int
    first_timestamp: str


@dataclass(frozen=True)
class CreateEvent:
    """No recent identical Event: create a new object with count 1."""


@dataclass(frozen=True)
class PatchEvent:
    """A recent identical Event exists: patch ``name`` to ``count`` and the new lastTimestamp."""

    namespace: str
    name: str
    count: int
    first_timestamp: str


Decision = CreateEvent | PatchEvent


def decide(cached: CachedEvent | None) -> Decision:
    """Create when nothing is cached for the key, else patch the cached object with count + 1."""
    if cached is None:
        return CreateEvent()
    return PatchEvent(cached.namespace, cached.name, cached.count + 1, cached.first_timestamp)


@dataclass(frozen=True)
class SimilarRecord:
    """The distinct messages seen for a :class:`SimilarKey` and when the last one was seen."""

    messages: frozenset[str]
    last_seen: float


def aggregate(
    record: SimilarRecord | None,
    message: str,
    now: float,
    max_events: int = SIMILAR_MAX_EVENTS,
    interval: float = SIMILAR_INTERVAL_SECONDS,
) -> tuple[SimilarRecord, bool]:
    """The new record, and whether this Event is to be combined with its similar ones.

    A record idle for more than ``interval`` seconds starts over. As in client-go, the
    ``max_events``-th distinct message is the first one combined, and the set never grows past
    ``max_events - 1`` messages.
    """
    messages = set() if record is None or now - record.last_seen > interval else set(record.messages)
    messages.add(message)
    if len(messages) < max_events:
        return SimilarRecord(frozenset(messages), now), False
    messages.discard(min(messages - {message}, default=message))
    return SimilarRecord(frozenset(messages), now), True


class LruCache(Generic[K, V]):
    """A bounded map; the least recently used keys are dropped first."""

    def __init__(self, max_entries: int = MAX_CACHE_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: K) -> V | None:
        """The value for ``key`` (marks it recently used), or None."""
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


@dataclass(frozen=True)
class Correlated:
    """What to record: the cache key and the message (prefixed when combined)."""

    key: EventKey
    message: str


class EventCache:
    """Per-process correlation state: similar-Event records, Events last written, spam buckets."""

    def __init__(self, max_entries: int = MAX_CACHE_ENTRIES, spam_burst: int = SPAM_BURST) -> None:
        self.max_entries = max_entries
        self.spam_burst = spam_burst
        self.similar: LruCache[SimilarKey, SimilarRecord] = LruCache(max_entries)
        self.events: LruCache[EventKey, CachedEvent] = LruCache(max_entries)
        self.buckets: LruCache[SpamKey, TokenBucket] = LruCache(max_entries)

    def allow(self, key: EventKey, now: float) -> bool:
        """Whether the spam filter lets an Event under ``key`` be written (takes a token)."""
        spam = key.spam
        bucket, allowed = take_token(self.buckets.get(spam), now, self.spam_burst)
        self.buckets.put(spam, bucket)
        return allowed

    def correlate(self, key: EventKey, now: float) -> Correlated:
        """Aggregate ``key`` with its similar Events; the key and message to record it under."""
        similar = key.similar
        record, combine = aggregate(self.similar.get(similar), key.message, now)
        self.similar.put(similar, record)
        if not combine:
            return Correlated(key, key.message)
        combined = EventKey(similar, message="", combined=True)
        return Correlated(combined, COMBINED_PREFIX + key.message)

    # the identical-Event part
    def get(self, key: EventKey) -> CachedEvent | None:
        return self.events.get(key)

    def put(self, key: EventKey, cached: CachedEvent) -> None:
        self.events.put(key, cached)

    def forget(self, key: EventKey) -> None:
        self.events.forget(key)

    def __len__(self) -> int:
        return len(self.events)

    def __contains__(self, key: object) -> bool:
        return key in self.events
