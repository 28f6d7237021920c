"""When a reconcile looks for its workload's strays: the rule the CloneSet and Advanced StatefulSet
shells share.

A stray is a pod the workload owns that its selector no longer matches (kruise's ``ClaimPods``
releases it; kruise sees it in its informer cache, which costs it no request). Flotilla finds
them with LISTs of their own (``podmechanics.strays``), which cost a request each and, in a
roll, return nothing. The selector is immutable, so a stray only appears when someone relabels
a pod, and that pod's event triggers the workload. So the stray LISTs go out (:func:`strays_due`)
on a process's first look at a workload, when the LISTs it asks for changed (another selector
or a new revision), on the watcher's periodic resync trigger, and at least every
:data:`STRAY_RESYNC` seconds per workload; a shell also sends them when the trigger is an event
of a pod its selector LIST did not return (:func:`trigger_names_unseen_pod`: it may have left
the selector) or the LIST came back short of the last status's count
(``podmechanics.strays.owned_pods_missing``). What a shell last read is kept per process, per
workload, in an :class:`~workers.runtime.event_correlation.LruCache` of :class:`LastRead`.
Pure; used by ``workers.cloneset.worker`` and ``workers.statefulset.worker`` / ``reads``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from schemas.bus.envelope import Envelope, EventType
from workers.podmechanics.kube_json import JsonObject, uid_of

#: The environment variable that sets :data:`STRAY_RESYNC` (seconds; 0 sends the stray LISTs with
#: every reconcile, as before the rule: benchmarks compare the two).
STRAY_RESYNC_ENV = "FLOTILLA_STRAY_RESYNC_SECONDS"


def stray_resync(environ: Mapping[str, str]) -> float:
    """:data:`STRAY_RESYNC` from ``environ`` (default 300 s, the watcher's resync period)."""
    raw = environ.get(STRAY_RESYNC_ENV, "")
    try:
        seconds = float(raw) if raw.strip() else 300.0
    except ValueError:
        raise ValueError(f"{STRAY_RESYNC_ENV}: a number of seconds, not {raw!r}") from None
    if not seconds >= 0:
        raise ValueError(f"{STRAY_RESYNC_ENV}: a number of seconds >= 0, not {raw!r}")
    return seconds


#: Seconds after which a workload's strays are looked for again though nothing said one may exist
#: (per process): how late, at most, a stray the triggers and counts missed is released (e.g. a
#: pod relabelled while a status write that counted it failed). The watcher's resync period.
STRAY_RESYNC = stray_resync(os.environ)

Reads = TypeVar("Reads")


@dataclass(frozen=True)
class LastRead(Generic[Reads]):
    """What a workload's last reconcile in this process read (``reads``: whatever names its stray
    LISTs, compared with ``==``), and when (on ``time.monotonic``) its strays were last looked
    for."""

    reads: Reads
    strays_read_at: float


def strays_due(
    last: LastRead[Reads] | None, reads: Reads | None, trigger: Envelope | None, at: float
) -> bool:
    """Whether the stray LISTs go out: on the first look at the workload, when ``reads`` (what it
    asks for now; None before it is known) differ from the last, on a resync trigger, and once
    :data:`STRAY_RESYNC` passed since they were last read."""
    if last is None or (reads is not None and reads != last.reads):
        return True
    if trigger is not None and trigger.event_type == EventType.RESYNC:
        return True
    return at >= last.strays_read_at + STRAY_RESYNC


def trigger_names_unseen_pod(trigger: Envelope | None, found: Iterable[JsonObject]) -> bool:
    """``trigger`` is an event of a pod, not its deletion, that is not among the pods read
    (``found``): it may have been relabelled out of the selector."""
    if trigger is None or trigger.object_kind != "Pod" or not trigger.object_uid:
        return False
    if trigger.event_type == EventType.DELETED:
        return False
    return all(uid_of(p) != trigger.object_uid for p in found)
