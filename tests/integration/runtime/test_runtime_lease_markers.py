"""Lease acquire against the real NATS KV (workers/runtime/lease.py): a key this process released
is taken back in one request (a compare-and-set on the delete marker its release wrote); a key
another process released costs nats.py's ``create`` its three (put expecting no entry, GET, put on
the marker's revision); and however the acquires race, exactly one holds the key.

Requests are counted by the test's own NATS connection (``stats["out_msgs"]``: every request is
one message out; the leases under test are its only users while counting).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import TypeVar

import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from schemas.bus.streams import LEASE_BUCKET, LEASE_TTL
from schemas.bus.subjects import lease_key
from workers.runtime.lease import KeyLeases, Lease, Marker, now

T = TypeVar("T")


async def _counted(nc: NATS, call: Awaitable[T]) -> tuple[T, int]:
    before = nc.stats["out_msgs"]
    result = await call
    return result, int(nc.stats["out_msgs"] - before)


async def _replicas(js: JetStreamContext) -> tuple[KeyLeases, KeyLeases]:
    kv = await js.key_value(LEASE_BUCKET)
    return (
        KeyLeases(kv, "replica-a", LEASE_TTL, js=js, bucket=LEASE_BUCKET),
        KeyLeases(kv, "replica-b", LEASE_TTL, js=js, bucket=LEASE_BUCKET),
    )


def _key() -> str:
    return f"testcm/lease-{uuid.uuid4().hex[:8]}/k"


async def _holder(js: JetStreamContext, key: str) -> tuple[str, int]:
    entry = await (await js.key_value(LEASE_BUCKET)).get(lease_key(key))
    return str(orjson.loads(entry.value or b"{}")["holder"]), entry.revision or 0


async def test_a_key_released_here_is_acquired_again_in_one_request(
    nats_client: NATS, testcm_bus: JetStreamContext
) -> None:
    mine, other = await _replicas(testcm_bus)
    key = _key()
    first, sent = await _counted(nats_client, mine.acquire(key))
    assert first is not None
    assert sent == 1
    released, sent = await _counted(nats_client, mine.release(first))
    assert released is True
    assert sent == 1

    again, sent = await _counted(nats_client, mine.acquire(key))
    assert again is not None
    assert sent == 1
    assert await _holder(testcm_bus, key) == ("replica-a", again.revision)
    # held as any lease: the other replica cannot take it, the holder renews it
    assert await other.acquire(key) is None
    assert await mine.renew(again) is True
    assert await _holder(testcm_bus, key) == ("replica-a", again.revision)

    # released by replica A, acquired by replica B (no marker of its own): nats.py's three
    assert await mine.release(again) is True
    theirs, sent = await _counted(nats_client, other.acquire(key))
    assert theirs is not None
    assert sent == 3
    assert await _holder(testcm_bus, key) == ("replica-b", theirs.revision)


async def test_a_marker_written_over_since_falls_back_to_create(
    nats_client: NATS, testcm_bus: JetStreamContext
) -> None:
    mine, other = await _replicas(testcm_bus)
    key = _key()
    lease = await mine.acquire(key)
    assert lease is not None
    assert await mine.release(lease)
    taken = await other.acquire(key)
    assert taken is not None
    # while B holds it, A's marker is stale: its update fails, create finds B's entry
    held, sent = await _counted(nats_client, mine.acquire(key))
    assert held is None
    assert sent == 1 + 2  # the update on the stale marker; create's put and GET
    assert await _holder(testcm_bus, key) == ("replica-b", taken.revision)
    # B released it: A (its marker already spent) gets it through create
    assert await other.release(taken)
    back = await mine.acquire(key)
    assert back is not None
    assert await _holder(testcm_bus, key) == ("replica-a", back.revision)


async def _marker_revision(js: JetStreamContext, key: str) -> int:
    """The revision of the key's last message, which the release made a delete marker."""
    last = await js.get_last_msg(f"KV_{LEASE_BUCKET}", f"$KV.{LEASE_BUCKET}.{lease_key(key)}")
    assert (last.headers or {}).get("KV-Operation") == "DEL", last.headers
    return int(last.seq)


@pytest.mark.parametrize("both_remember", [False, True])
async def test_racing_acquires_of_a_released_key_give_it_to_exactly_one(
    testcm_bus: JetStreamContext, both_remember: bool
) -> None:
    """Each round the last holder released the key; both replicas then acquire at once: the
    releaser by its marker, the other by create (or, ``both_remember``, both by the marker, as two
    processes each believing they released it last)."""
    replicas = await _replicas(testcm_bus)
    key = _key()
    lease = await replicas[0].acquire(key)
    assert lease is not None
    owner = 0
    for _ in range(12):
        assert await replicas[owner].release(lease)
        if both_remember:
            marker = Marker(await _marker_revision(testcm_bus, key), now())
            for leases in replicas:
                leases.markers.remember(lease.kv_key, marker)
        got: list[Lease | None] = list(await asyncio.gather(*(r.acquire(key) for r in replicas)))
        held = [i for i, g in enumerate(got) if g is not None]
        assert len(held) == 1, got
        winner = held[0]
        found = got[winner]
        assert found is not None
        assert await _holder(testcm_bus, key) == (replicas[winner].holder, found.revision)
        assert await replicas[1 - winner].acquire(key) is None
        lease, owner = found, winner
    assert await replicas[owner].release(lease)
