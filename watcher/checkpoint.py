"""Watch checkpoints: the last safe resourceVersion of each watch, kept in NATS KV.

:mod:`watcher.service` loads them when this replica becomes leader (so the informers resume
where the previous leader stopped) and runs :func:`run_checkpointer` while leading; it writes
what :meth:`Ledger.safe_resource_versions` allows, only when it changed. Bucket and its settings
come from :mod:`schemas.bus.streams` (``WATCHER_BUCKET``), declared once at start by bootstrap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable, Mapping
from typing import Protocol

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from watcher.config import WatchTarget

log = logging.getLogger("flotilla.watcher.checkpoint")


class CheckpointStore(Protocol):
    async def load(self, key: str) -> str:
        """The stored resourceVersion, or "" when there is none."""
        ...

    async def save(self, key: str, resource_version: str) -> None: ...


class SafeVersions(Protocol):
    """What :class:`~watcher.ledger.Ledger` tells the checkpointer."""

    def safe_resource_versions(self) -> dict[Hashable, str]: ...


class KvCheckpoints:
    """:class:`CheckpointStore` over a JetStream KV bucket, bound on first use (and again after a failure)."""

    def __init__(self, js: JetStreamContext, bucket: str) -> None:
        self._js, self._bucket = js, bucket
        self._kv: KeyValue | None = None

    async def _bound(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self._js.key_value(self._bucket)
        return self._kv

    async def load(self, key: str) -> str:
        try:
            entry = await (await self._bound()).get(key)
        except KeyNotFoundError:
            return ""
        except Exception:
            self._kv = None
            raise
        return (entry.value or b"").decode()

    async def save(self, key: str, resource_version: str) -> None:
        try:
            await (await self._bound()).put(key, resource_version.encode())
        except Exception:
            self._kv = None
            raise


def due_checkpoints(
    safe: Mapping[Hashable, str], saved: Mapping[str, str], keys: Mapping[WatchTarget, str]
) -> dict[str, str]:
    """Checkpoint key -> resourceVersion for every watch whose safe rv differs from the saved one."""
    due: dict[str, str] = {}
    for target, key in keys.items():
        rv = safe.get(target)
        if rv and saved.get(key) != rv:
            due[key] = rv
    return due


async def run_checkpointer(
    store: CheckpointStore, ledger: SafeVersions, keys: Mapping[WatchTarget, str], every: float
) -> None:
    """Write due checkpoints every ``every`` seconds, forever; a failed write is retried next round."""
    saved: dict[str, str] = {}
    while True:
        await asyncio.sleep(every)
        await flush(store, ledger, keys, saved)


async def flush(
    store: CheckpointStore, ledger: SafeVersions, keys: Mapping[WatchTarget, str], saved: dict[str, str]
) -> None:
    for key, rv in due_checkpoints(ledger.safe_resource_versions(), saved, keys).items():
        try:
            await store.save(key, rv)
        except Exception as exc:  # NATS away: keep the old checkpoint, retry next round
            log.warning("checkpoint %s=%s not saved: %s: %s", key, rv, type(exc).__name__, exc)
            return
        saved[key] = rv
