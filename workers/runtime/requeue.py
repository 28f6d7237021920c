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
a newer schedule of a key replaces the older, and :meth:`Requeues.cancel` (a purge of that one
subject) drops it when a newer reconcile made it moot. Used by :mod:`workers.runtime.consumer`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

from nats.js import JetStreamContext

from schemas.bus.headers import schedule_headers
from schemas.bus.streams import RECONCILE_STREAM
from schemas.bus.subjects import reconcile_subject_for_key, requeue_subject_for_key


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

        A purge of the one subject: nats.py's ``purge_stream`` answers only ``success``, and
        the count tells the caller a requeue (or a retry) was pending.
        """
        request = json.dumps({"filter": requeue_subject_for_key(key)}).encode()
        response = await self.js._api_request(  # private: purge_stream() drops the count
            f"{self.js._prefix}.STREAM.PURGE.{RECONCILE_STREAM}",
            request,
            timeout=self.js._timeout,
        )
        return int(response.get("purged") or 0)
