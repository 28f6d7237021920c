"""Durable requeues: a key's next reconcile at a given time, as a JetStream message schedule.

A reconcile that asks for ``requeue_after`` (or failed and backs off) must not keep its
trigger un-acked: a delayed ``nak`` holds the message in the consumer's ack-pending set until
it is redelivered, so ``max_ack_pending`` delayed keys stop every fresh trigger of the type.
Instead the runtime publishes a **schedule** (nats-server >= 2.12, stream option
``allow_msg_schedules``) to ``flotilla.requeue.<type>.<ns>.<name>`` in the RECONCILE stream, with
``Nats-Schedule: @at <RFC 3339>`` and ``Nats-Schedule-Target: flotilla.reconcile.<...>``, then
acks the trigger. At that time the server publishes the trigger's body to the reconcile subject
(with ``Nats-Scheduler`` naming the schedule) and removes the schedule; the consumer sees an
ordinary trigger. The schedule is stored (file storage) before the ack, so it outlives a worker
crash and a NATS restart. The requeue subject holds one message (``max_msgs_per_subject=1``):
a newer schedule of a key replaces the older, and :meth:`Requeues.cancel` drops it when a newer
reconcile made it moot: it reads the subject's last message and, when that is a pending schedule,
replaces it with an inert tombstone (no schedule headers; no consumer's filter matches
``flotilla.requeue.>``). That needs only a read of the stream and a publish to the worker's own
requeue subjects — never a stream purge, which NATS cannot limit to one subject and would let a
worker's credentials wipe every trigger (docs/deploy.md, NATS users). Used by
:mod:`workers.runtime.consumer`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from schemas.bus.headers import SCHEDULE, schedule_headers
from schemas.bus.streams import RECONCILE_STREAM
from schemas.bus.subjects import reconcile_subject_for_key, requeue_subject_for_key

#: Header of the inert message that replaces a cancelled schedule.
TOMBSTONE = "Flotilla-Requeue"


class Requeues:
    """The pending requeue of each key, kept by JetStream (no state in this process)."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def schedule(self, key: str, body: bytes, headers: Mapping[str, str] | None, delay: float) -> None:
        """Have ``body`` published to ``key``'s reconcile subject ``delay`` seconds from now,
        replacing any pending requeue of ``key``. Returns once JetStream stored the schedule
        (raises NATS errors: the caller leaves the trigger un-acked, JetStream redelivers it)."""
        when = time.time() + max(0.0, delay)
        out = schedule_headers(headers, when, reconcile_subject_for_key(key))
        await self.js.publish(requeue_subject_for_key(key), body, headers=out, stream=RECONCILE_STREAM)

    async def cancel(self, key: str) -> int:
        """Drop ``key``'s pending requeue; returns how many were dropped (0 or 1).

        A schedule that fires between the read and the tombstone is harmless: its trigger is one
        more look at the key, and the tombstone then replaces nothing pending.
        """
        subject = requeue_subject_for_key(key)
        try:
            last = await self.js.get_last_msg(RECONCILE_STREAM, subject)
        except NotFoundError:
            return 0
        if SCHEDULE not in (last.headers or {}):
            return 0  # an earlier tombstone
        await self.js.publish(subject, b"", headers={TOMBSTONE: "cancelled"}, stream=RECONCILE_STREAM)
        return 1
