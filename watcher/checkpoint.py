"""Watch checkpoints: the last safe resourceVersion of each watch, kept in NATS KV.

:mod:`watcher.service` loads them when this replica becomes leader (so the informers resume
where the previous leader stopped) and runs :func:`run_checkpointer` while leading; it writes
what :meth:`Ledger.safe_resource_versions` allows, only when it changed. Bucket and its settings
come from :mod:`schemas.bus.streams` (``WATCHER_BUCKET``), declared once at start by bootstrap.

A checkpoint is never trusted blindly: :func:`parse_checkpoint` refuses a value that is not a
resourceVersion kube-apiserver hands out (an etcd revision: a positive decimal integer), and
:meth:`KvCheckpoints.load` then logs why and answers "none", so the informer relists (and
triggers every key) instead of retrying a watch that can never start. A well-formed value the
API server cannot serve is handled by the informer the same way: one ahead of the server's
current resourceVersion (:func:`ahead_of`; etcd restored from a backup, another cluster's
bucket: kube-apiserver 1.36 answers such a watch with silence until it times out, forever), or
one the server refuses (:func:`resource_version_rejected`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Hashable, Mapping
from typing import Protocol

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from flotilla.runtime.errors import Gone, KubeError
from watcher.config import WatchTarget

log = logging.getLogger("flotilla.watcher.checkpoint")


#: kube-apiserver's resourceVersions are etcd revisions; 20 digits hold any int64.
_RESOURCE_VERSION = re.compile(r"[1-9][0-9]{0,19}")


class BadCheckpoint(ValueError):
    """A stored checkpoint that cannot be a resourceVersion; the message says what is wrong with it."""


def parse_checkpoint(raw: bytes) -> str:
    """The resourceVersion stored in a checkpoint value, or :class:`BadCheckpoint` saying why not."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise BadCheckpoint(f"not ASCII text ({len(raw)} bytes: {raw[:32]!r})") from None
    if not _RESOURCE_VERSION.fullmatch(text):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise BadCheckpoint(f"{shown!r} is not a resourceVersion (a positive decimal integer)")
    return text


def ahead_of(resource_version: str, current: str) -> bool:
    """Whether ``resource_version`` is past the server's ``current`` one (both decimal; else False)."""
    return resource_version.isdigit() and current.isdigit() and int(resource_version) > int(current)


def resource_version_rejected(err: KubeError) -> bool:
    """Whether the API server refused a watch because of its resourceVersion (410 Gone aside):
    ``Too large resource version`` (older servers: the rv is ahead of etcd) or an invalid value
    (kube-apiserver 1.36: ``500 resourceVersion: Invalid value: ...``). Relisting is the only way on."""
    if isinstance(err, Gone):
        return False
    text = str(err).lower()
    if "too large resource version" in text or "resourceversiontoolarge" in text:
        return True
    return "resourceversion: invalid value" in text or "invalid resource version" in text


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
        """The checkpointed resourceVersion; "" when there is none or it is unusable (logged)."""
        try:
            entry = await (await self._bound()).get(key)
        except KeyNotFoundError:
            return ""
        except Exception:
            self._kv = None
            raise
        if not entry.value:  # a deleted or purged key reads as an empty value
            return ""
        try:
            return parse_checkpoint(entry.value)
        except BadCheckpoint as bad:
            log.warning(
                "checkpoint %s in bucket %s is unusable, ignoring it and relisting instead: %s",
                key,
                self._bucket,
                bad,
            )
            return ""

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
