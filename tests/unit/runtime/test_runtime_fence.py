"""The write fence (workers/runtime/fence.py): the pure decision, and the fence around a KV whose
I/O is faked (a dict with revisions, as NATS KV compare-and-set behaves), plus the KubeClient hook:
a refused write sends no request (the transport is a closed port that would fail loudly)."""

from __future__ import annotations

import asyncio

import pytest
from nats.js.errors import KeyWrongLastSequenceError

from flotilla.runtime.errors import Fenced
from flotilla.runtime.kube import WRITE_FENCE, Connection, KubeClient
from workers.runtime.fence import LeaseFence, Step, decide
from workers.runtime.lease import KeyLeases, Lease


def test_decide() -> None:
    assert decide(lost=True, renewed_at=10.0, asked_at=5.0) is Step.REFUSE
    assert decide(lost=False, renewed_at=10.0, asked_at=10.0) is Step.ADMIT
    assert decide(lost=False, renewed_at=10.0, asked_at=9.0) is Step.ADMIT
    assert decide(lost=False, renewed_at=10.0, asked_at=10.5) is Step.PROVE


class FakeKV:
    """Compare-and-set like NATS KV: ``update(last=...)`` succeeds only at the current revision."""

    def __init__(self, delay: float = 0.0, hang: bool = False) -> None:
        self.revisions: dict[str, int] = {}
        self.seq = 0
        self.updates = 0
        self.delay = delay
        self.hang = hang

    async def create(self, key: str, value: bytes) -> int:
        if key in self.revisions:
            raise KeyWrongLastSequenceError()
        return self.put(key)

    def put(self, key: str) -> int:
        self.seq += 1
        self.revisions[key] = self.seq
        return self.seq

    async def update(self, key: str, value: bytes, last: int) -> int:
        self.updates += 1
        if self.hang:
            await asyncio.sleep(3600)
        await asyncio.sleep(self.delay)
        if self.revisions.get(key) != last:
            raise KeyWrongLastSequenceError()
        return self.put(key)


async def _leased(kv: FakeKV, ttl: float = 15.0) -> tuple[KeyLeases, Lease]:
    leases = KeyLeases(kv, "me", ttl)  # type: ignore[arg-type]
    lease = await leases.acquire("cloneset/ns/a")
    assert lease is not None
    return leases, lease


async def test_each_write_proves_the_lease_by_compare_and_set() -> None:
    kv = FakeKV()
    leases, lease = await _leased(kv)
    fence = LeaseFence(leases, lease, "cloneset")
    await fence.admit("POST", "/x")
    await fence.admit("PATCH", "/x")
    assert kv.updates == 2
    assert lease.revision == kv.revisions[lease.kv_key]


async def test_concurrent_writes_share_a_renewal_started_after_they_asked() -> None:
    kv = FakeKV(delay=0.05)
    leases, lease = await _leased(kv)
    fence = LeaseFence(leases, lease, "cloneset")
    await asyncio.gather(*(fence.admit("POST", f"/p{i}") for i in range(16)))
    # the first asks and renews; the 15 others asked before that renewal was sent, or while it
    # ran: at most one more renewal covers them all.
    assert 1 <= kv.updates <= 2


async def test_a_taken_lease_refuses_the_write_and_every_later_one() -> None:
    kv = FakeKV()
    leases, lease = await _leased(kv)
    fence = LeaseFence(leases, lease, "cloneset")
    await fence.admit("POST", "/x")
    kv.put(lease.kv_key)  # another holder wrote the key
    with pytest.raises(Fenced, match="taken over"):
        await fence.admit("POST", "/y")
    assert lease.lost
    updates = kv.updates
    with pytest.raises(Fenced, match="lost"):
        await fence.admit("DELETE", "/z")
    assert kv.updates == updates  # known lost: refused without asking NATS again


async def test_a_deleted_lease_refuses_the_write() -> None:
    kv = FakeKV()
    leases, lease = await _leased(kv)
    del kv.revisions[lease.kv_key]  # expired by TTL, or deleted
    with pytest.raises(Fenced):
        await LeaseFence(leases, lease, "cloneset").admit("POST", "/x")


async def test_a_renewal_past_the_deadline_refuses_the_write() -> None:
    kv = FakeKV(hang=True)
    leases, lease = await _leased(kv, ttl=0.3)  # deadline: 0.1 s
    with pytest.raises(Fenced, match="could not be renewed within"):
        await LeaseFence(leases, lease, "cloneset").admit("PUT", "/x")
    assert not lease.lost  # unproven, not known lost: the runtime releases it normally


async def test_the_kube_client_sends_nothing_when_the_fence_refuses() -> None:
    """The fence is asked once the request has its connection: the server sees a connection and
    not one byte of the request."""
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(65536))
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    kv = FakeKV()
    leases, lease = await _leased(kv)
    lease.lost = True
    client = KubeClient(Connection(f"http://127.0.0.1:{port}", None, lambda: None))
    token = WRITE_FENCE.set(LeaseFence(leases, lease, "cloneset"))
    try:
        with pytest.raises(Fenced):
            await client.create("/api/v1/namespaces/n/configmaps", {"metadata": {"name": "x"}})
    finally:
        WRITE_FENCE.reset(token)
        await client.close()
        server.close()
        await server.wait_closed()
    assert received in ([], [b""])  # connected (maybe), nothing sent


async def test_an_admitted_write_is_sent() -> None:
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(65536))
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    kv = FakeKV()
    leases, lease = await _leased(kv)
    client = KubeClient(Connection(f"http://127.0.0.1:{port}", None, lambda: None))
    token = WRITE_FENCE.set(LeaseFence(leases, lease, "cloneset"))
    try:
        assert await client.create("/api/v1/namespaces/n/configmaps", {"metadata": {"name": "x"}}) == {}
    finally:
        WRITE_FENCE.reset(token)
        await client.close()
        server.close()
        await server.wait_closed()
    assert received[0].startswith(b"POST /api/v1/namespaces/n/configmaps")
    assert kv.updates == 1  # proven once, after the connection was there
