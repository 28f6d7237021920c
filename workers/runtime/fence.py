"""The write fence: a reconcile writes to the API server only while it can prove its key's lease.

The lease (:mod:`workers.runtime.lease`) stops a reconcile by cancelling its task once a renewal
fails, but that is timer-based: a process stalled (SIGSTOP, a long GC or swap pause, a frozen VM)
past the lease TTL wakes up with its timers overdue and requests ready to go, after another
replica may have taken the key. So every write attempt of a leased reconcile passes
:class:`LeaseFence` first (installed by the consumer in :data:`flotilla.runtime.kube.WRITE_FENCE`,
inherited by every task the reconcile starts, checked by :class:`~flotilla.runtime.kube.KubeClient`
for each POST/PUT/PATCH/DELETE attempt once it has its connection, right before the request is
written: a write admitted earlier and then queued for a free connection could leave much later):

* a write is admitted only after a compare-and-set renewal of the lease in NATS KV that was *sent
  after the write was asked for* succeeded: that proves nobody has taken the key since, and it
  extends the entry to at least ``sent + ttl``; concurrent writes (a slow-start batch) share one
  renewal when it started after they asked (:func:`decide`, pure);
* the renewal has a deadline of a third of the TTL, so an admitted write leaves with at least two
  thirds of the TTL before any other replica could hold the key;
* a renewal that finds another revision (taken over, or deleted) marks the lease lost; one that
  fails or times out proves nothing: either way the write is refused with
  :class:`~flotilla.runtime.errors.Fenced` before anything is sent, counted in
  ``flotilla_fenced_writes_total``, and the runtime hands the key back (no failure is counted).

What no client can close: a process stalled *between* a successful proof and the moment its
request's bytes leave (one event-loop step, versus the seconds a stall must last to matter),
and a request already sent that the API server commits late. The API server's own optimistic
concurrency (resourceVersion and uid preconditions) still guards updates and deletes there.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time

from nats.errors import Error as NatsError
from nats.js.errors import APIError, KeyWrongLastSequenceError

from flotilla.runtime import metrics
from flotilla.runtime.errors import Fenced
from workers.runtime.lease import KeyLeases, Lease

log = logging.getLogger("flotilla.worker.fence")

#: The proof's deadline as a fraction of the lease TTL (shorter than the TTL, with margin).
DEADLINE_FRACTION = 1 / 3


class Step(enum.Enum):
    ADMIT = "admit"  # a renewal sent after the write was asked already succeeded
    PROVE = "prove"  # renew (compare-and-set) first
    REFUSE = "refuse"  # the lease is known lost


def decide(lost: bool, renewed_at: float, asked_at: float) -> Step:
    """What a write asked at monotonic ``asked_at`` needs, given the lease's state."""
    if lost:
        return Step.REFUSE
    if renewed_at >= asked_at:
        return Step.ADMIT
    return Step.PROVE


class LeaseFence:
    """Admits the writes of one leased key's reconciles (a :class:`flotilla.runtime.kube.WriteFence`)."""

    def __init__(self, leases: KeyLeases, lease: Lease, worker_type: str) -> None:
        self.leases = leases
        self.lease = lease
        self.worker_type = worker_type
        self.deadline = leases.ttl * DEADLINE_FRACTION

    async def admit(self, method: str, path: str) -> None:
        asked = time.monotonic()
        lease = self.lease
        reason = ""
        async with lease.lock:
            step = decide(lease.lost, lease.renewed_at, asked)
            if step is Step.PROVE:
                try:
                    async with asyncio.timeout(self.deadline):  # no extra task: nothing left behind
                        await self.leases.compare_and_renew(lease)
                    step = Step.ADMIT
                except KeyWrongLastSequenceError:
                    reason = "the lease was taken over"
                except (TimeoutError, NatsError, APIError, OSError) as exc:
                    reason = f"the lease could not be renewed within {self.deadline:.1f}s ({exc!r})"
            elif step is Step.REFUSE:
                reason = "the lease is lost"
        if step is Step.ADMIT:
            return
        metrics.FENCED_WRITES.labels(self.worker_type).inc()
        log.warning("write refused, %s: %s %s (key %s)", reason, method, path, lease.key)
        raise Fenced(f"{method} {path} not sent: {reason} (key {lease.key})", reason="LeaseLost")
