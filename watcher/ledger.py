"""The publish ledger: pending triggers coalesced per key, and the checkpoint watermark.

Pure bookkeeping, no I/O and no clock. :mod:`watcher.informer` records every watch event
(:meth:`Ledger.record`), :mod:`watcher.publisher` takes pending triggers, publishes them and
reports :meth:`Ledger.acked` / :meth:`Ledger.failed`, and :mod:`watcher.checkpoint` asks
:meth:`Ledger.safe_resource_versions` which resourceVersion each watch may be resumed from.

Events get a global sequence number. A key already pending when a new event names it keeps
its place in the queue and takes the newer event's trigger (a burst on one object becomes one
publish); a key whose publish is in flight gets a new pending entry, so a change seen after a
send is always published again. The watermark is the highest sequence number below which every
event's keys have been published and acknowledged; a watch's checkpoint is the resourceVersion
of its last event at or below the watermark, so a restart from it loses nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from schemas.bus.envelope import ReconcileKey

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Pending(Generic[T]):
    """A trigger waiting to be (re)published: it covers events ``first_seq``..``last_seq``
    and carries the trigger of event ``last_seq``."""

    key: ReconcileKey
    trigger: T
    first_seq: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class Ticket:
    """One publish handed out by :meth:`Ledger.take`."""

    number: int
    key: ReconcileKey


class Ledger(Generic[T]):
    """Pending and in-flight triggers, and per-stream resourceVersions, for one leadership term."""

    def __init__(self) -> None:
        self._seq = 0
        self._tickets = 0
        self._pending: dict[ReconcileKey, Pending[T]] = {}
        self._in_flight: dict[int, Pending[T]] = {}
        self._versions: dict[Hashable, deque[tuple[int, str]]] = {}
        self._safe: dict[Hashable, str] = {}

    def record(
        self, stream: Hashable, resource_version: str, triggers: Iterable[tuple[ReconcileKey, T]]
    ) -> int:
        """Record one event (or a whole relist) of ``stream``; queue its triggers; return its seq."""
        self._seq += 1
        seq = self._seq
        if resource_version:
            self._versions.setdefault(stream, deque()).append((seq, resource_version))
        for key, trigger in triggers:
            current = self._pending.get(key)
            if current is None:
                self._pending[key] = Pending(key, trigger, seq, seq)
            else:
                self._pending[key] = replace(current, trigger=trigger, last_seq=seq)
        return seq

    def take(self, limit: int) -> list[tuple[Ticket, T]]:
        """Up to ``limit`` pending triggers, oldest first, moved to in flight."""
        taken: list[tuple[Ticket, T]] = []
        while self._pending and len(taken) < limit:
            key = next(iter(self._pending))
            entry = self._pending.pop(key)
            self._tickets += 1
            self._in_flight[self._tickets] = entry
            taken.append((Ticket(self._tickets, key), entry.trigger))
        return taken

    def acked(self, ticket: Ticket) -> None:
        """The publish of ``ticket`` was acknowledged by the stream."""
        self._in_flight.pop(ticket.number, None)

    def failed(self, ticket: Ticket) -> None:
        """The publish of ``ticket`` failed: queue it again (the newer of it and a pending trigger wins)."""
        entry = self._in_flight.pop(ticket.number, None)
        if entry is None:
            return
        other = self._pending.pop(entry.key, None)
        merged = entry
        if other is not None:
            newest = other if other.last_seq > entry.last_seq else entry
            merged = replace(newest, first_seq=min(other.first_seq, entry.first_seq))
        # Failed work goes to the front: it is the oldest.
        self._pending = {entry.key: merged, **self._pending}

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    @property
    def in_flight_count(self) -> int:
        return len(self._in_flight)

    @property
    def last_seq(self) -> int:
        return self._seq

    def watermark(self) -> int:
        """Every event with a sequence number at or below this one is fully published."""
        oldest = [entry.first_seq for entry in self._pending.values()]
        oldest.extend(entry.first_seq for entry in self._in_flight.values())
        return min(oldest) - 1 if oldest else self._seq

    def safe_resource_versions(self) -> dict[Hashable, str]:
        """Per stream, the resourceVersion a watch may resume from without losing a trigger."""
        mark = self.watermark()
        for stream, versions in self._versions.items():
            while versions and versions[0][0] <= mark:
                self._safe[stream] = versions.popleft()[1]
        return dict(self._safe)
