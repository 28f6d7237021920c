"""The write fence: every API write of a leased reconcile is bounded, on the API server, by the lease.

The lease (:mod:`workers.runtime.lease`) stops a reconcile by cancelling its task once a renewal
fails, but that is timer-based, and a cancelled task does not recall a request already sent: a
loaded API server (or one waiting for a restarting etcd) can still commit it seconds later, and
a process stalled (SIGSTOP, a long GC or swap pause, a frozen VM) past the TTL wakes up with
requests ready to go. So every write attempt of a leased reconcile passes :class:`LeaseFence`
(installed by the consumer in :data:`flotilla.runtime.kube.WRITE_FENCE`, inherited by every task
the reconcile starts), which :class:`~flotilla.runtime.kube.KubeClient` asks once the request
has its connection, in the step that writes it:

* The lease's expiry is known without asking NATS: the entry cannot expire (nor another replica
  take the key) before ``renewed_at + ttl``, where ``renewed_at`` is when the last successful
  create or compare-and-set was *sent* (NATS counts the TTL from when it stored it, later), on a
  monotonic clock that keeps running while the process is stopped.
* A write is admitted with a server-side deadline ``timeout = expiry - margin - now``
  (:func:`decide`, pure; margin 20 % of the TTL, 3 s by default), sent as the API server's
  ``timeout`` query parameter. The API server (``WithRequestDeadline``, k8s.io/apiserver
  ``pkg/endpoints/filters/request_deadline.go``) puts a context deadline of ``received + timeout``
  on the request, and admission and the storage layer run under that context: an etcd
  transaction not yet sent when it passes is never sent, so the write cannot commit after it.
* When less than the minimum deadline (10 % of the TTL) would be left, the write first renews
  the lease by compare-and-set (shared with the heartbeat under ``lease.lock``) and decides
  again; a renewal that finds another revision marks the lease lost. A lease known lost, or one
  that could not be renewed, refuses the write with :class:`~flotilla.runtime.errors.Fenced`
  before anything is sent, counted in ``flotilla_fenced_writes_total``; the runtime hands the
  key back. In the steady state the heartbeat renews every third of the TTL and no write waits
  for NATS at all (the per-write compare-and-set of the first fence starved the renewals).
* Each admitted write is counted on the lease until it is answered (:class:`Permit`); one that
  ends without an answer proving it finished (cancelled, connection lost, a 5xx, which the API
  server also sends when the deadline fires while the storage call still runs) leaves the lease
  *unsettled* until its deadline. The runtime releases (deletes) a lease only when it is settled;
  otherwise, and always once lost, the entry is left to expire by its TTL, which comes after the
  deadline of every write it admitted. So no other replica can hold the key while a write of
  this one may still commit.

What this guarantees, given the API server and NATS run on clocks that advance at the rate of
this process's clock: no write of a reconcile commits once another replica holds the key,
including when the process was stopped for any length of time (a request written before the
stop carries a deadline that ends before the lease can expire; one not yet written is decided on
resume, when the clock shows the lease expired). What it does not guarantee:

* the margin must cover the time a request waits at the API server *before* its deadline starts
  (the deadline counts from when the server begins handling it: bytes queued in its socket, TLS,
  the connection's goroutine scheduled) plus etcd committing a transaction sent just before the
  deadline. Both are milliseconds normally and under a few seconds on a loaded 2-core machine;
  a longer stall of the API server itself is not covered;
* the process can stop between the decision and the bytes reaching the kernel (one event-loop
  step in aiohttp's request writer): the deadline then counts from when the server receives the
  request, after the resume. The window is microseconds long; no client-side scheme closes it.
  A server-side token would: a ValidatingAdmissionPolicy (GA in the pinned Kubernetes) can only
  compare the request with the object, its namespace and a parameter object, and CEL has no
  clock, so it could check a lease generation written on each object (the newer holder bumps it)
  but not a lease expiry; that costs a write per object per takeover and an annotation kruise
  does not have, and was not done;
* an entry deleted or overwritten in KV by hand (out of protocol: replicas only create absent
  entries) is noticed at the holder's next renewal, within a third of the TTL;
* the API server's optimistic concurrency (resourceVersion and uid preconditions) still guards
  updates and deletes in those windows.

Tests: tests/unit/runtime/test_runtime_fence.py (the decision with time as a parameter, permits,
release); tests/integration/runtime/test_runtime_write_deadline.py (a slow API server, made by a
webhook that holds one write: a stopped holder's pending write never commits after a takeover; a
key with a write in flight is not freed before the API server ended it).
"""

from __future__ import annotations

import asyncio
import enum
import logging

from nats.errors import Error as NatsError
from nats.js.errors import APIError, KeyWrongLastSequenceError

from flotilla.runtime import metrics
from flotilla.runtime.errors import Fenced
from workers.runtime.lease import KeyLeases, Lease, now

log = logging.getLogger("flotilla.worker.fence")


class Step(enum.Enum):
    ADMIT = "admit"  # send now, with the server-side deadline decided
    RENEW = "renew"  # too close to the lease's expiry: renew (compare-and-set) first
    REFUSE = "refuse"  # the lease is known lost


def decide(
    lost: bool, expires_at: float, at: float, margin: float, min_timeout: float, max_timeout: float
) -> tuple[Step, float]:
    """What a write at time ``at`` may do, and the server-side deadline (seconds) to send it with.

    ``expires_at`` is the earliest time the lease can expire; the deadline ends ``margin`` before
    it, is at most ``max_timeout`` and at least ``min_timeout`` (else the lease must be renewed).
    """
    if lost:
        return Step.REFUSE, 0.0
    timeout = min(expires_at - margin - at, max_timeout)
    if timeout >= min_timeout:
        return Step.ADMIT, timeout
    return Step.RENEW, 0.0


class Permit:
    """One admitted write attempt: its server-side deadline, counted on the lease until answered."""

    def __init__(self, lease: Lease, timeout: float, deadline: float) -> None:
        self.lease = lease
        #: Seconds, sent as the API server's ``timeout`` query parameter.
        self.timeout = timeout
        #: The deadline on :func:`~workers.runtime.lease.now` (the server's is a little later).
        self.deadline = deadline
        self._open = True
        lease.writes += 1

    def settle(self, status: int | None) -> None:
        """The attempt ended: ``status`` is the HTTP status answered, None when there was none.

        A status below 500 means the API server finished with the request. Anything else (no
        answer, or a 5xx, which the server also returns when the deadline fires while the storage
        call still runs) leaves the lease unsettled until the deadline.
        """
        if not self._open:
            return
        self._open = False
        self.lease.writes -= 1
        if status is None or status >= 500:
            self.lease.unsettled_until = max(self.lease.unsettled_until, self.deadline)


class LeaseFence:
    """Admits the writes of one leased key's reconciles (a :class:`flotilla.runtime.kube.WriteFence`)."""

    def __init__(self, leases: KeyLeases, lease: Lease, worker_type: str, max_timeout: float = 30.0) -> None:
        self.leases = leases
        self.lease = lease
        self.worker_type = worker_type
        self.max_timeout = max_timeout

    def _decide(self) -> tuple[Step, float, float]:
        at = now()
        leases, lease = self.leases, self.lease
        step, timeout = decide(
            lease.lost, leases.expires_at(lease), at, leases.write_margin, leases.min_write, self.max_timeout
        )
        return step, timeout, at

    async def admit(self, method: str, path: str) -> Permit:
        """A permit for one write attempt sent right after this returns, or :class:`Fenced`."""
        lease = self.lease
        step, timeout, at = self._decide()
        failed = ""
        if step is Step.RENEW:
            async with lease.lock:
                step, timeout, at = self._decide()  # a renewal may have finished meanwhile
                if step is Step.RENEW:
                    failed = await self._renew()
                    step, timeout, at = self._decide()
        if step is Step.ADMIT:
            return Permit(lease, timeout, at + timeout)
        if lease.lost:  # known lost, taken over, or given up by the heartbeat meanwhile
            reason = failed or "the lease is lost"
        else:  # the renewal failed, or took so long that it left too little time
            reason = failed or "the lease was renewed too late to leave time for the write"
        metrics.FENCED_WRITES.labels(self.worker_type).inc()
        log.warning("write refused, %s: %s %s (key %s)", reason, method, path, lease.key)
        raise Fenced(f"{method} {path} not sent: {reason} (key {lease.key})", reason="LeaseLost")

    async def _renew(self) -> str:
        """Renew the lease (``lease.lock`` held); the reason a write is refused if that failed."""
        lease, leases = self.lease, self.leases
        budget = max(0.05, leases.expires_at(lease) - leases.write_margin - now())
        try:
            async with asyncio.timeout(budget):  # no extra task: nothing left behind
                await leases.compare_and_renew(lease)
            return ""
        except KeyWrongLastSequenceError:
            return "the lease was taken over"
        except (TimeoutError, NatsError, APIError, OSError) as exc:
            return f"the lease could not be renewed in time ({exc!r})"
