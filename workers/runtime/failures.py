"""Consecutive reconcile failures per key, kept in NATS KV so every replica sees the same count.

JetStream's delivery count also grows with requeue-after naks and lease hand-backs, so it
cannot decide the dead letter; this count does. Only the lease holder writes a key's count,
so plain put/delete suffices. Entries expire with the bucket TTL (an hour).
Used by :mod:`workers.runtime.consumer`.
"""

from __future__ import annotations

import logging

from nats.errors import Error as NatsError
from nats.js.errors import APIError, KeyNotFoundError
from nats.js.kv import KeyValue

from schemas.bus.subjects import lease_key

log = logging.getLogger("flotilla.worker.failures")


class FailureCounts:
    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def record(self, key: str) -> int:
        """Count one more failure of ``key``; returns the new count."""
        kv_key = lease_key(key)
        try:
            entry = await self.kv.get(kv_key)
            count = int(entry.value or b"0") + 1
        except KeyNotFoundError:
            count = 1
        await self.kv.put(kv_key, str(count).encode())
        return count

    async def clear(self, key: str) -> None:
        """Forget ``key``'s failures after a clean reconcile (best effort)."""
        try:
            await self.kv.purge(lease_key(key))
        except (TimeoutError, NatsError, APIError, OSError) as exc:
            log.info("could not clear failure count of %s: %s", key, exc)
