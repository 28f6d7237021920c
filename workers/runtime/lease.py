"""Per-key exclusivity across all replicas: a lease per reconcile key in NATS KV.

Acquire is create-if-absent (fails when another holder's entry exists); the entry lives for
the bucket's TTL unless rewritten, so a SIGKILLed holder's key frees itself. Release leaves a
delete marker; a key whose marker this process wrote is acquired again by one compare-and-set on
that marker's revision (one NATS round trip; nats.py's ``create`` needs three on a marker: a put
expecting no entry, a GET, a put on the marker's revision), falling back to ``create`` when the
key was written since (another holder took it) or the marker may have aged out. The holder
renews by compare-and-set on its own revision every third of the TTL; a renewal that finds
another revision, or no successful renewal for most of the TTL, means the lease is lost and
the reconcile is cancelled. Every API write of a leased reconcile is bounded by the lease's
expiry (:mod:`workers.runtime.fence`); the lease counts the writes that may still commit, and
release deletes the entry only when it is still ours *and* none may: otherwise the entry is
left to expire by its TTL, which comes after every such write's server-side deadline.

Times are on :func:`now` (``CLOCK_BOOTTIME`` on Linux: monotonic, and it also counts a
suspended machine, which ``CLOCK_MONOTONIC`` would not).

Within one process, :class:`LocalKeys` comes first: a trigger for a key this process is
already reconciling never touches the lease; it is held, and the key is reconciled once more
under the same lease when the running reconcile ends (pure bookkeeping, no I/O).

Used by :mod:`workers.runtime.consumer` around every reconcile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import orjson
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import Header
from nats.js.client import KV_PRE_TEMPLATE
from nats.js.errors import APIError, KeyWrongLastSequenceError
from nats.js.kv import KV_DEL, KV_OP, KeyValue

from schemas.bus.streams import LEASE_BUCKET
from schemas.bus.subjects import lease_key
from workers.runtime.event_correlation import LruCache

log = logging.getLogger("flotilla.worker.lease")

T = TypeVar("T")

#: Of the TTL, the margin a write's server-side deadline keeps before the lease can expire: it
#: covers the time a request waits at the API server before its deadline starts (the deadline
#: counts from when the server begins handling it) and an etcd transaction sent just before the
#: deadline committing just after it. 3 s at the default 15 s TTL.
WRITE_MARGIN_FRACTION = 0.2
#: Of the TTL, the shortest server-side deadline a write is sent with (1.5 s at 15 s): a lease
#: closer to its expiry must be renewed before the write goes.
MIN_WRITE_FRACTION = 0.1
#: A holder that could not renew for this fraction of the TTL gives the key up (stops its work):
#: past it no write could be admitted without a renewal anyway.
SAFE_FRACTION = 1.0 - WRITE_MARGIN_FRACTION - MIN_WRITE_FRACTION


_CLOCK: int = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


#: Seconds between looks at a lease whose writes are still unanswered (:meth:`KeyLeases.settle_wait`).
SETTLE_POLL = 0.1


def now() -> float:
    """The lease clock: monotonic, and counting time the machine was suspended (Linux)."""
    return time.clock_gettime(_CLOCK)


@dataclass
class Lease:
    """A held lease; ``revision`` moves with each renewal.

    ``renewed_at`` is the :func:`now` the last successful write was *sent*, so the entry's
    expiry on the server (counted from when NATS stored it) is never earlier than
    ``renewed_at + ttl``. ``writes`` counts API writes sent and not yet answered;
    ``unsettled_until`` is the latest server-side deadline (on :func:`now`) of a write that ended
    without an answer that proves it finished (cancelled, connection lost, 5xx): it may still
    commit until then.
    """

    key: str
    kv_key: str
    revision: int
    renewed_at: float
    lost: bool = False
    writes: int = 0
    unsettled_until: float = 0.0
    #: One compare-and-set at a time: the heartbeat and the write fence (:mod:`workers.runtime.fence`)
    #: both renew on this revision, and of two concurrent ones the loser would think the key taken.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)


@dataclass(frozen=True)
class Marker:
    """The delete marker a release wrote: its revision, and the :func:`now` it was sent at."""

    revision: int
    sent_at: float


class ReleasedMarkers:
    """The delete markers this process's releases wrote, per KV key (bounded, least recently
    released dropped first): a hint for the next acquire, never a claim on the key.

    A marker is offered while it cannot have aged out of the bucket: NATS stored it after it was
    sent, so it lives at least until ``sent_at + ttl`` unless a later write replaced it (which the
    compare-and-set on its revision then detects). Pure bookkeeping: time is a parameter.
    """

    def __init__(self, ttl: float, max_entries: int = 4096) -> None:
        self.ttl = ttl
        self._markers: LruCache[str, Marker] = LruCache(max_entries)

    def __len__(self) -> int:
        return len(self._markers)

    def remember(self, kv_key: str, marker: Marker) -> None:
        self._markers.put(kv_key, marker)

    def take(self, kv_key: str, at: float) -> int | None:
        """The revision of the marker left on ``kv_key`` (now forgotten), or None when there is
        none or it may have aged out by ``at``."""
        marker = self._markers.get(kv_key)
        if marker is None:
            return None
        self._markers.forget(kv_key)
        return marker.revision if at < marker.sent_at + self.ttl else None


class KeyLeases:
    """Leases of one process; ``holder`` identifies it in the KV value (debugging, not logic).

    ``kv`` is the lease bucket ``bucket`` opened on ``js``; a release writes its delete marker
    through ``js`` itself, as nats.py's ``KeyValue.delete`` does, to learn the marker's revision
    from the publish acknowledgement (which ``delete`` drops).
    """

    def __init__(
        self, kv: KeyValue, holder: str, ttl: float, *, js: JetStreamContext, bucket: str = LEASE_BUCKET
    ) -> None:
        self.kv = kv
        self.holder = holder
        self.ttl = ttl
        self.js = js
        self.subject_prefix = KV_PRE_TEMPLATE.format(bucket=bucket)
        self.markers = ReleasedMarkers(ttl)

    def _value(self, key: str) -> bytes:
        return orjson.dumps({"holder": self.holder, "key": key, "at": time.time()})

    async def acquire(self, key: str) -> Lease | None:
        """The lease, or None when another holder has it.

        A key this process released last (its delete marker still the key's last write) is taken
        by one compare-and-set on the marker's revision: it succeeds only if nobody wrote the key
        since, exactly when ``create`` would. Otherwise (another holder took the key, and maybe
        released it again; the marker aged out) ``create`` decides as always.
        """
        kv_key = lease_key(key)
        marker_revision = self.markers.take(kv_key, now())
        if marker_revision is not None:
            sent = now()
            try:
                revision = await self.kv.update(kv_key, self._value(key), last=marker_revision)
            except KeyWrongLastSequenceError:
                pass  # written since our release: create() tells free from held
            else:
                return Lease(key=key, kv_key=kv_key, revision=revision, renewed_at=sent)
        sent = now()
        try:
            revision = await self.kv.create(kv_key, self._value(key))
        except KeyWrongLastSequenceError:
            return None
        return Lease(key=key, kv_key=kv_key, revision=revision, renewed_at=sent)

    def safe_until(self, lease: Lease) -> float:
        """:func:`now` after which the holder must stop: well before the entry can expire."""
        return lease.renewed_at + self.ttl * SAFE_FRACTION

    def expires_at(self, lease: Lease) -> float:
        """The earliest :func:`now` at which the entry can expire (and another replica take the key)."""
        return lease.renewed_at + self.ttl

    @property
    def write_margin(self) -> float:
        return self.ttl * WRITE_MARGIN_FRACTION

    @property
    def min_write(self) -> float:
        return self.ttl * MIN_WRITE_FRACTION

    async def compare_and_renew(self, lease: Lease) -> None:
        """One compare-and-set on the holder's revision (call with ``lease.lock`` held).

        Success proves the entry was still ours (nobody wrote the key since our last write, and
        it had not expired: an expired entry has no last revision to match) and extends it to at
        least ``sent + ttl``. Raises ``KeyWrongLastSequenceError`` when the key was taken over
        (``lease.lost`` is set), and NATS transport errors as they come.
        """
        sent = now()
        try:
            lease.revision = await self.kv.update(lease.kv_key, self._value(lease.key), last=lease.revision)
        except KeyWrongLastSequenceError:
            lease.lost = True
            raise
        lease.renewed_at = sent

    async def renew(self, lease: Lease) -> bool:
        """Extend the lease; False (and ``lease.lost``) once it is no longer ours or too old."""
        if lease.lost:
            return False
        if lease.lock.locked():
            # A write (workers.runtime.fence) found the lease too close to its expiry and is
            # renewing it right now: that is this renewal too. If it fails, ``safe_until`` still
            # passes on time and the caller gives the key up.
            return True
        try:
            async with lease.lock:
                if lease.lost:
                    return False
                await self.compare_and_renew(lease)
            return True
        except KeyWrongLastSequenceError:
            log.warning("lease of %s was taken over; abandoning the reconcile", lease.key)
            lease.lost = True
            return False
        except (TimeoutError, NatsError, APIError, OSError) as exc:
            age = now() - lease.renewed_at
            if now() >= self.safe_until(lease):
                log.warning("lease of %s not renewed for %.1fs (%s); abandoning", lease.key, age, exc)
                lease.lost = True
                return False
            log.info("lease renewal of %s failed (%s); will retry", lease.key, exc)
            return True

    def settled(self, lease: Lease, at: float) -> bool:
        """Whether no write of ``lease`` can commit after ``at`` (pure: time is a parameter).

        A write still unanswered may; one that ended unanswered may until its deadline plus the
        margin (the server's deadline counts from when it began handling the request).
        """
        return lease.writes == 0 and at >= lease.unsettled_until + self.write_margin

    def settle_wait(self, lease: Lease, at: float) -> float:
        """Seconds from ``at`` until :meth:`settled` can hold (pure): 0 when it holds now.

        While writes are still unanswered the end is unknown; a short poll interval is returned.
        """
        if lease.writes:
            return SETTLE_POLL
        return max(0.0, lease.unsettled_until + self.write_margin - at)

    async def release(self, lease: Lease) -> bool:
        """Delete the entry if it is still ours and none of its writes can still commit.

        True when deleted. Otherwise the entry expires by its TTL (best effort either way): a
        lost lease is someone else's or expiring, and a key whose writes may still commit must
        not be taken by another replica before they are bounded, which the TTL guarantees.
        """
        if lease.lost:
            return False
        if not self.settled(lease, now()):
            log.info(
                "lease of %s left to expire: %d writes unanswered, unsettled for %.1fs",
                lease.key,
                lease.writes,
                max(0.0, lease.unsettled_until - now()),
            )
            return False
        sent = now()
        try:
            # kv.delete(kv_key, last=revision), keeping the acknowledgement's revision
            ack = await self.js.publish(
                self.subject_prefix + lease.kv_key,
                headers={KV_OP: KV_DEL, Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(lease.revision)},
            )
        except (TimeoutError, NatsError, APIError, OSError) as exc:
            log.info("lease release of %s failed (%s); it expires by TTL", lease.key, exc)
            return False
        self.markers.remember(lease.kv_key, Marker(ack.seq, sent))
        return True


class LocalKeys(Generic[T]):
    """The keys this process is reconciling now, each with at most one held trigger.

    A key is *claimed* while its reconcile (or the lease acquire before it) runs. A trigger
    for a claimed key is *held* instead: only the newest is kept, and the one it replaces is
    returned so the caller can settle it at once (triggers carry no data; the newest stands
    for all). When a reconcile ends, :meth:`take_held` gives the trigger to reconcile next
    under the same lease; :meth:`release` unclaims the key and returns whatever was still held.
    Synchronous, so a check-then-release between two awaits is atomic.
    """

    def __init__(self) -> None:
        self._held: dict[str, T | None] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._held

    def __len__(self) -> int:
        return len(self._held)

    def claim(self, key: str) -> bool:
        """Claim ``key``; False when this process already works on it (hold the trigger instead)."""
        if key in self._held:
            return False
        self._held[key] = None
        return True

    def hold(self, key: str, trigger: T) -> T | None:
        """Hold ``trigger`` for claimed ``key``; returns the older held trigger it replaces."""
        if key not in self._held:
            raise KeyError(f"{key!r} is not claimed")
        older = self._held[key]
        self._held[key] = trigger
        return older

    def held(self, key: str) -> T | None:
        """The trigger held for ``key``, left in place."""
        return self._held.get(key)

    def take_held(self, key: str) -> T | None:
        """The trigger held for claimed ``key`` (now no longer held), or None; the key stays claimed."""
        if key not in self._held:
            return None
        trigger, self._held[key] = self._held[key], None
        return trigger

    def release(self, key: str) -> T | None:
        """Unclaim ``key``; returns a trigger still held for it (the caller hands it back)."""
        return self._held.pop(key, None)
