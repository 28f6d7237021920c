"""The shared rule of when a shell sends its stray LISTs (``workers.runtime.strayreads``), with
the stray selectors themselves as what a workload asks for (the CloneSet's way): a table worked
out by hand from the rule (first look, other LISTs, a resync trigger, 300 s), the unseen-pod
trigger, and the ``FLOTILLA_STRAY_RESYNC_SECONDS`` setting (0: every reconcile, as before)."""

from __future__ import annotations

import pytest

from schemas.bus.envelope import Envelope, EventType, ReconcileKey
from workers.runtime.strayreads import (
    STRAY_RESYNC,
    LastRead,
    stray_resync,
    strays_due,
    trigger_names_unseen_pod,
)

KEY = ReconcileKey("cloneset/ns/web")
LISTS: tuple[str, ...] = ("app!=web,a", "app!=web,b")


def event(kind: str, event_type: EventType, uid: str = "uid-1") -> Envelope:
    return Envelope(KEY, event_type, kind, uid, "7", 0.0)


def test_when_the_stray_lists_are_due() -> None:
    last: LastRead[tuple[str, ...]] = LastRead(LISTS, strays_read_at=500.0)
    table: list[tuple[LastRead[tuple[str, ...]] | None, tuple[str, ...], Envelope | None, float, bool]] = [
        (None, LISTS, None, 500.0, True),  # a first look
        (last, LISTS, None, 500.0, False),
        (last, LISTS, event("CloneSet", EventType.MODIFIED), 799.9, False),
        (last, LISTS, event("Pod", EventType.MODIFIED), 600.0, False),
        (last, ("app!=web,c",), None, 500.0, True),  # a new revision: other LISTs
        (last, LISTS, event("CloneSet", EventType.RESYNC), 500.0, True),
        (last, LISTS, None, 800.0, True),  # 300 s after the last look
    ]
    assert STRAY_RESYNC == 300.0
    for previous, reads, trigger, at, due in table:
        assert strays_due(previous, reads, trigger, at) is due, (previous, reads, trigger, at)


def test_an_event_of_a_pod_not_read_may_be_a_stray() -> None:
    read = [{"metadata": {"uid": "uid-1"}}]
    assert trigger_names_unseen_pod(event("Pod", EventType.MODIFIED, "uid-2"), read) is True
    assert trigger_names_unseen_pod(event("Pod", EventType.MODIFIED, "uid-1"), read) is False
    assert trigger_names_unseen_pod(event("Pod", EventType.DELETED, "uid-2"), read) is False
    assert trigger_names_unseen_pod(event("CloneSet", EventType.MODIFIED, "uid-2"), read) is False
    assert trigger_names_unseen_pod(None, read) is False


def test_the_resync_seconds_come_from_the_environment() -> None:
    assert stray_resync({}) == 300.0
    assert stray_resync({"FLOTILLA_STRAY_RESYNC_SECONDS": "0"}) == 0.0
    assert stray_resync({"FLOTILLA_STRAY_RESYNC_SECONDS": "60"}) == 60.0
    for bad in ("soon", "-1", "nan"):
        with pytest.raises(ValueError, match="FLOTILLA_STRAY_RESYNC_SECONDS"):
            stray_resync({"FLOTILLA_STRAY_RESYNC_SECONDS": bad})
