"""Re-acquiring a key this process released (workers/runtime/lease.py): the delete marker's
revision is remembered from the release and the next acquire is one compare-and-set on it; any
write to the key since (another holder's lease, its release) or a marker that may have aged out
sends the acquire down ``create`` as before. The KV is faked (``FakeKV``: NATS KV's revisions,
markers and compare-and-set); the same paths run against the real NATS in
tests/integration/runtime/test_runtime_lease_markers.py."""

from __future__ import annotations

from tests.unit.runtime.test_runtime_fence import FakeKV, key_leases
from workers.runtime.lease import Marker, ReleasedMarkers


class CountingKV(FakeKV):
    """FakeKV counting the calls ``acquire`` makes."""

    def __init__(self) -> None:
        super().__init__()
        self.creates = 0

    async def create(self, key: str, value: bytes) -> int:
        self.creates += 1
        return await super().create(key, value)


def test_a_marker_is_offered_once_and_only_while_it_cannot_have_aged_out() -> None:
    markers = ReleasedMarkers(ttl=15.0)
    assert markers.take("k", at=0.0) is None
    markers.remember("k", Marker(revision=7, sent_at=100.0))
    assert markers.take("k", at=114.9) == 7
    assert markers.take("k", at=114.9) is None  # taken: the acquire's write replaces it
    markers.remember("k", Marker(revision=9, sent_at=100.0))
    assert markers.take("k", at=115.0) is None  # stored after 100.0, so gone at 115 + x: unknown
    assert len(markers) == 0


def test_markers_are_bounded_least_recently_released_first() -> None:
    markers = ReleasedMarkers(ttl=15.0, max_entries=2)
    for revision, key in enumerate(["a", "b", "c"], start=1):
        markers.remember(key, Marker(revision, sent_at=0.0))
    assert len(markers) == 2
    assert [markers.take(k, at=1.0) for k in ("a", "b", "c")] == [None, 2, 3]


async def test_a_key_released_here_is_taken_back_by_one_update_on_its_marker() -> None:
    kv = CountingKV()
    leases = key_leases(kv)
    first = await leases.acquire("statefulset/ns/web")
    assert first is not None
    assert (kv.creates, kv.updates) == (1, 0)
    assert await leases.release(first) is True
    marker = kv.markers[first.kv_key]
    again = await leases.acquire("statefulset/ns/web")
    assert again is not None
    assert (kv.creates, kv.updates) == (1, 1)  # one write, no create
    assert again.revision == marker + 1 == kv.revisions[first.kv_key]


async def test_a_key_another_holder_took_since_the_release_is_not_acquired() -> None:
    kv = CountingKV()
    mine, theirs = key_leases(kv, "me"), key_leases(kv, "them")
    lease = await mine.acquire("cloneset/ns/a")
    assert lease is not None
    assert await mine.release(lease)
    taken = await theirs.acquire("cloneset/ns/a")  # create over the marker (nats.py's create)
    assert taken is not None
    assert await mine.acquire("cloneset/ns/a") is None  # the marker's revision is stale; create fails
    assert kv.revisions[taken.kv_key] == taken.revision  # their lease untouched
    # theirs released it again: a marker of theirs, which create takes over
    assert await theirs.release(taken)
    back = await mine.acquire("cloneset/ns/a")
    assert back is not None
    assert kv.revisions[back.kv_key] == back.revision


async def test_a_lease_not_released_leaves_no_marker_to_take() -> None:
    kv = CountingKV()
    leases = key_leases(kv)
    lease = await leases.acquire("cloneset/ns/b")
    assert lease is not None
    lease.lost = True  # taken over: released by nobody here
    assert await leases.release(lease) is False
    assert len(leases.markers) == 0
    assert await leases.acquire("cloneset/ns/b") is None  # still someone's entry: create refuses
    assert kv.updates == 0
