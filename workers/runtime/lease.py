"""Per-key exclusivity across all replicas: a lease per reconcile key in NATS KV.

Acquire is create-if-absent (fails when another holder's entry exists); the entry lives for
the bucket's TTL unless rewritten, so a SIGKILLed holder's key frees itself. The holder
renews by compare-and-set on its own revision every third of the TTL; a renewal that finds
another revision, or no successful renewal for most of the TTL, means the lease is lost and
the reconcile is cancelled. Release deletes the entry only if it is still ours.

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
from nats.js.errors import APIError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from schemas.bus.subjects import lease_key

log = logging.getLogger("flotilla.worker.lease")

T = TypeVar("T")

#: A holder that could not renew for this fraction of the TTL gives the key up (stops its work),
#: leaving the rest of the TTL as margin before another replica can take the key.
SAFE_FRACTION = 0.6


@dataclass
class Lease:
    """A held lease; ``revision`` moves with each renewal.

    ``renewed_at`` is the monotonic time the last successful write was *sent*, so the entry's
    expiry on the server is never earlier than ``renewed_at + ttl``.
    """

    key: str
    kv_key: str
    revision: int
    renewed_at: float
    lost: bool = False
    #: One compare-and-set at a time: the heartbeat and the write fence (:mod:`workers.runtime.fence`)
    #: both renew on this revision, and of two concurrent ones the loser would think the key taken.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)


class KeyLeases:
    """Leases of one process; ``holder`` identifies it in the KV value (debugging, not logic)."""

    def __init__(self, kv: KeyValue, holder: str, ttl: float) -> None:
        self.kv = kv
        self.holder = holder
        self.ttl = ttl

    def _value(self, key: str) -> bytes:
        return orjson.dumps({"holder": self.holder, "key": key, "at": time.time()})

    async def acquire(self, key: str) -> Lease | None:
        """The lease, or None when another holder has it."""
        kv_key = lease_key(key)
        sent = time.monotonic()
        try:
            revision = await self.kv.create(kv_key, self._value(key))
        except KeyWrongLastSequenceError:
            return None
        return Lease(key=key, kv_key=kv_key, revision=revision, renewed_at=sent)

    def safe_until(self, lease: Lease) -> float:
        """Monotonic time after which the holder must stop: well before the entry can expire."""
        return lease.renewed_at + self.ttl * SAFE_FRACTION

    async def compare_and_renew(self, lease: Lease) -> None:
        """One compare-and-set on the holder's revision (call with ``lease.lock`` held).

        Success proves the entry was still ours (nobody wrote the key since our last write, and
        it had not expired: an expired entry has no last revision to match) and extends it to at
        least ``sent + ttl``. Raises ``KeyWrongLastSequenceError`` when the key was taken over
        (``lease.lost`` is set), and NATS transport errors as they come.
        """
        sent = time.monotonic()
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
            # A write's proof (workers.runtime.fence) is renewing the entry right now: that is
            # this renewal too. Queueing behind a burst of proofs could outlast the caller's
            # deadline and give up a healthy lease; if the proofs fail, ``safe_until`` still
            # expires on time and the caller gives the key up.
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
            age = time.monotonic() - lease.renewed_at
            if time.monotonic() >= self.safe_until(lease):
                log.warning("lease of %s not renewed for %.1fs (%s); abandoning", lease.key, age, exc)
                lease.lost = True
                return False
            log.info("lease renewal of %s failed (%s); will retry", lease.key, exc)
            return True

    async def release(self, lease: Lease) -> None:
        """Delete the entry if it is still ours (best effort: the TTL frees it anyway)."""
        if lease.lost:
            return
        try:
            await self.kv.delete(lease.kv_key, last=lease.revision)
        except (TimeoutError, NatsError, APIError, OSError) as exc:
            log.info("lease release of %s failed (%s); it expires by TTL", lease.key, exc)


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
