"""The write fence (workers/runtime/fence.py): the pure decision, and the fence around a KV whose
I/O is faked (a dict with revisions, as NATS KV compare-and-set behaves), plus the KubeClient side:
a refused write sends nothing, an admitted one carries its server-side deadline, and a write
cancelled in flight keeps its key from being released."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace

import pytest
from nats.js.errors import APIError, KeyWrongLastSequenceError

from flotilla.runtime.errors import Fenced
from flotilla.runtime.kube import WRITE_FENCE, Connection, KubeClient
from workers.runtime.fence import LeaseFence, Permit, Step, decide
from workers.runtime.lease import KeyLeases, Lease, now


def test_decide() -> None:
    # expiry at 100 s, 3 s margin, 1.5 s minimum, 30 s maximum: worked out by hand.
    limits = {"margin": 3.0, "min_timeout": 1.5, "max_timeout": 30.0}
    assert decide(lost=True, expires_at=100.0, at=50.0, **limits) == (Step.REFUSE, 0.0)
    assert decide(lost=False, expires_at=100.0, at=85.0, **limits) == (Step.ADMIT, 12.0)
    assert decide(lost=False, expires_at=100.0, at=50.0, **limits) == (Step.ADMIT, 30.0)  # capped
    assert decide(lost=False, expires_at=100.0, at=95.5, **limits) == (Step.ADMIT, 1.5)  # the minimum
    assert decide(lost=False, expires_at=100.0, at=95.6, **limits) == (Step.RENEW, 0.0)
    # resumed after a stop past the expiry: never admitted without a renewal
    assert decide(lost=False, expires_at=100.0, at=130.0, **limits) == (Step.RENEW, 0.0)


class FakeKV:
    """Compare-and-set like NATS KV: ``update(last=...)`` succeeds only at the subject's last
    revision, a delete leaves a marker at a revision of its own, ``create`` succeeds on no entry
    or a marker (nats.py's). Also the JetStream publish a release writes its marker with."""

    def __init__(self, delay: float = 0.0, hang: bool = False) -> None:
        self.revisions: dict[str, int] = {}
        self.markers: dict[str, int] = {}
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
        self.markers.pop(key, None)
        return self.seq

    async def publish(self, subject: str, headers: dict[str, str]) -> SimpleNamespace:
        prefix = "$KV.flotilla-leases."
        assert subject.startswith(prefix), subject
        assert headers["KV-Operation"] == "DEL", headers
        key = subject.removeprefix(prefix)
        if self.revisions.get(key) != int(headers["Nats-Expected-Last-Subject-Sequence"]):
            raise APIError(code=400, err_code=10071, description="wrong last sequence")
        del self.revisions[key]
        self.seq += 1
        self.markers[key] = self.seq
        return SimpleNamespace(seq=self.seq)

    async def update(self, key: str, value: bytes, last: int) -> int:
        self.updates += 1
        if self.hang:
            await asyncio.sleep(3600)
        await asyncio.sleep(self.delay)
        if self.revisions.get(key, self.markers.get(key)) != last:
            raise KeyWrongLastSequenceError()
        return self.put(key)


def key_leases(kv: FakeKV, holder: str = "me", ttl: float = 15.0) -> KeyLeases:
    return KeyLeases(kv, holder, ttl, js=kv)  # type: ignore[arg-type]


async def _leased(kv: FakeKV, ttl: float = 15.0) -> tuple[KeyLeases, Lease]:
    leases = key_leases(kv, ttl=ttl)
    lease = await leases.acquire("cloneset/ns/a")
    assert lease is not None
    return leases, lease


async def test_writes_of_a_fresh_lease_go_with_a_deadline_before_its_expiry_and_no_kv_call() -> None:
    kv = FakeKV()
    leases, lease = await _leased(kv, ttl=15.0)
    fence = LeaseFence(leases, lease, "cloneset")
    permits = [await fence.admit("POST", f"/p{i}") for i in range(100)]
    assert kv.updates == 0  # the heartbeat renews; writes do not wait for NATS
    for permit in permits:
        # 15 s TTL - 3 s margin, less the few ms since the lease was taken
        assert 11.0 < permit.timeout <= 12.0
        assert permit.deadline <= lease.renewed_at + 15.0 - 3.0
    assert lease.writes == 100


async def test_a_lease_near_its_expiry_is_renewed_once_for_concurrent_writes() -> None:
    kv = FakeKV(delay=0.05)
    leases, lease = await _leased(kv, ttl=15.0)
    lease.renewed_at = now() - 11.0  # 15 - 3 - 11 = 1 s left: under the 1.5 s minimum
    fence = LeaseFence(leases, lease, "cloneset")
    permits = await asyncio.gather(*(fence.admit("POST", f"/p{i}") for i in range(16)))
    assert kv.updates == 1
    assert all(11.0 < p.timeout <= 12.0 for p in permits)


async def test_resumed_after_a_stop_past_the_ttl_a_taken_lease_refuses_every_write() -> None:
    kv = FakeKV()
    leases, lease = await _leased(kv)
    lease.renewed_at = now() - 20.0  # as if the process was stopped for 20 s
    kv.put(lease.kv_key)  # meanwhile the entry expired and another holder took the key
    fence = LeaseFence(leases, lease, "cloneset")
    with pytest.raises(Fenced, match="taken over"):
        await fence.admit("POST", "/y")
    assert lease.lost
    updates = kv.updates
    with pytest.raises(Fenced, match="lost"):
        await fence.admit("DELETE", "/z")
    assert kv.updates == updates  # known lost: refused without asking NATS again
    assert lease.writes == 0


async def test_resumed_after_a_stop_past_the_ttl_an_expired_lease_refuses_the_write() -> None:
    kv = FakeKV()
    leases, lease = await _leased(kv)
    lease.renewed_at = now() - 20.0
    del kv.revisions[lease.kv_key]  # expired by TTL, nobody took it yet
    with pytest.raises(Fenced):
        await LeaseFence(leases, lease, "cloneset").admit("POST", "/x")


async def test_a_renewal_that_hangs_refuses_the_write() -> None:
    kv = FakeKV(hang=True)
    leases, lease = await _leased(kv, ttl=0.3)
    lease.renewed_at = now() - 0.3
    with pytest.raises(Fenced, match="could not be renewed in time"):
        await LeaseFence(leases, lease, "cloneset").admit("PUT", "/x")
    assert not lease.lost  # unproven, not known lost


async def test_a_write_that_ends_unanswered_keeps_the_key_until_its_deadline() -> None:
    kv = FakeKV()
    leases, lease = await _leased(kv, ttl=15.0)
    fence = LeaseFence(leases, lease, "cloneset")
    answered, unanswered, timed_out = [await fence.admit("PATCH", f"/{i}") for i in range(3)]
    assert lease.writes == 3
    assert not leases.settled(lease, now())
    answered.settle(200)
    answered.settle(None)  # a second settle changes nothing
    assert (lease.writes, lease.unsettled_until) == (2, 0.0)
    unanswered.settle(None)  # cancelled or the connection dropped: it may still commit
    timed_out.settle(504)  # the deadline fired while the storage call may still run
    assert lease.writes == 0
    assert lease.unsettled_until == max(unanswered.deadline, timed_out.deadline)
    # settled only after the deadline plus the margin (3 s of 15): worked out by hand
    assert not leases.settled(lease, lease.unsettled_until + 2.9)
    assert leases.settled(lease, lease.unsettled_until + 3.0)
    assert await leases.release(lease) is False
    assert lease.kv_key in kv.revisions  # left to expire by its TTL


async def test_a_settled_lease_is_released() -> None:
    kv = FakeKV()
    leases, lease = await _leased(kv)
    permit = await LeaseFence(leases, lease, "cloneset").admit("POST", "/x")
    assert await leases.release(lease) is False  # still in flight
    permit.settle(201)
    assert await leases.release(lease) is True
    assert lease.kv_key not in kv.revisions


def test_a_permit_counts_on_its_lease() -> None:
    lease = Lease(key="k", kv_key="kk", revision=1, renewed_at=0.0)
    permit = Permit(lease, timeout=5.0, deadline=105.0)
    assert lease.writes == 1
    permit.settle(None)
    assert (lease.writes, lease.unsettled_until) == (0, 105.0)


def test_the_next_pass_under_a_lease_waits_for_its_unanswered_writes_to_settle() -> None:
    """The wait before a follow-up reconcile observes (the consumer's ``_until_settled``): none after
    answered writes; until deadline + margin (3 s of a 15 s TTL, by hand) after one that ended
    unanswered; a short poll while one is still in flight."""
    leases = key_leases(FakeKV())
    lease = Lease(key="k", kv_key="kk", revision=1, renewed_at=0.0)
    Permit(lease, timeout=5.0, deadline=105.0).settle(201)
    assert leases.settle_wait(lease, 100.0) == 0.0
    Permit(lease, timeout=5.0, deadline=105.0).settle(None)  # connection lost: may commit until 105
    assert leases.settle_wait(lease, 100.0) == pytest.approx(8.0)
    assert leases.settle_wait(lease, 108.0) == 0.0
    in_flight = Permit(lease, timeout=5.0, deadline=120.0)
    assert 0.0 < leases.settle_wait(lease, 200.0) <= 0.1
    in_flight.settle(504)  # the server's deadline fired: its storage call may still run until 120
    assert leases.settle_wait(lease, 119.0) == pytest.approx(4.0)


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


async def test_an_admitted_write_is_sent_with_the_server_side_deadline() -> None:
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(65536))
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    kv = FakeKV()
    leases, lease = await _leased(kv, ttl=15.0)
    client = KubeClient(Connection(f"http://127.0.0.1:{port}", None, lambda: None))
    token = WRITE_FENCE.set(LeaseFence(leases, lease, "cloneset"))
    try:
        assert await client.create("/api/v1/namespaces/n/configmaps", {"metadata": {"name": "x"}}) == {}
    finally:
        WRITE_FENCE.reset(token)
        await client.close()
        server.close()
        await server.wait_closed()
    line = received[0].split(b"\r\n", 1)[0].decode()
    match = re.fullmatch(r"POST /api/v1/namespaces/n/configmaps\?timeout=(\d+)ms HTTP/1.1", line)
    assert match, line
    assert 11000 < int(match.group(1)) <= 12000  # 15 s TTL - 3 s margin, less the test's own time
    assert kv.updates == 0
    assert (lease.writes, lease.unsettled_until) == (0, 0.0)  # answered: settled


async def test_a_write_cancelled_in_flight_leaves_the_lease_unsettled() -> None:
    """The request reached the server and the reconcile was cancelled before the answer: the
    server may still commit it, so the key is not released until its deadline passed."""
    arrived = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        arrived.set()
        await asyncio.sleep(3600)  # a slow API server

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    kv = FakeKV()
    leases, lease = await _leased(kv, ttl=15.0)
    client = KubeClient(Connection(f"http://127.0.0.1:{port}", None, lambda: None))
    token = WRITE_FENCE.set(LeaseFence(leases, lease, "cloneset"))
    try:
        write = asyncio.create_task(client.patch("/api/v1/namespaces/n/configmaps/x", {"data": {}}))
        await asyncio.wait_for(arrived.wait(), 10)
        assert lease.writes == 1
        write.cancel()
        with pytest.raises(asyncio.CancelledError):
            await write
    finally:
        WRITE_FENCE.reset(token)
        await client.close()
        server.close()
    assert lease.writes == 0
    assert lease.unsettled_until > now()
    assert lease.unsettled_until <= lease.renewed_at + 15.0 - 3.0
    assert await leases.release(lease) is False
    assert lease.kv_key in kv.revisions
