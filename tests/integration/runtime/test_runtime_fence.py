"""The write fence on the real API server and NATS: once a reconcile's lease is taken, it writes
nothing more. Evidence is the API server's own: a watch on the object records every write in
resourceVersion order, and each write of the ``steps`` reconcile (tests/support/testcm.py) names
its process and reconcile id in the object.

1. Another holder overwrites the lease entry in KV (out of protocol: a replica only creates an
   absent entry) while a reconcile writes every 0.25 s; the test then writes a marker to the
   object. The reconcile stops at its next renewal (every 5 s) and never finishes. Writes are
   bounded by the lease's expiry, not proven against KV one by one (see
   test_runtime_write_deadline.py for what that guarantees).
2. The holder is SIGSTOPped past the lease TTL; a second worker takes the key over and writes;
   the first is SIGCONTed while the second still writes. The first writes nothing after the
   second's first write.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import orjson
from nats.js import JetStreamContext

from flotilla.runtime.errors import KubeError
from flotilla.runtime.kube import CONFIGMAPS, JsonObject, KubeClient
from schemas.bus.streams import LEASE_BUCKET
from schemas.bus.subjects import lease_key
from tests.support.fixtures import StartWorker
from tests.support.polling import eventually_async
from tests.support.testcm import STEP
from tests.support.workers import configmap, publish_trigger


@dataclass
class Writes:
    """Every version of one ConfigMap the API server handed out, by resourceVersion."""

    versions: list[JsonObject] = field(default_factory=list)

    @staticmethod
    def rv(obj: JsonObject) -> int:
        return int(obj["metadata"]["resourceVersion"])

    @staticmethod
    def step(obj: JsonObject) -> tuple[int, str, int] | None:
        """(pid, reconcile id, n) of the worker write this version carries, if any."""
        value = (obj["metadata"].get("annotations") or {}).get(STEP)
        if not value:
            return None
        pid, rid, n = value.split("/")
        return int(pid), rid, int(n)

    def step_writes(self) -> list[tuple[int, tuple[int, str, int]]]:
        """(resourceVersion, step) of each version whose step annotation changed: one worker write each."""
        found: list[tuple[int, tuple[int, str, int]]] = []
        previous = None
        for obj in self.versions:
            step = self.step(obj)
            if step is not None and step != previous:
                found.append((self.rv(obj), step))
            previous = step
        return found


@contextlib.asynccontextmanager
async def watching(kube: KubeClient, namespace: str, name: str, since: str) -> AsyncIterator[Writes]:
    writes = Writes()

    async def run() -> None:
        rv = since
        while True:
            params = {"fieldSelector": f"metadata.name={name}", "resourceVersion": rv, "timeoutSeconds": "60"}
            with contextlib.suppress(KubeError):
                async for event in kube.watch(CONFIGMAPS.path(namespace), params):
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        writes.versions.append(event["object"])
                        rv = event["object"]["metadata"]["resourceVersion"]

    task = asyncio.create_task(run())
    try:
        yield writes
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _metric(url: str, name: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith(name):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _stopped_by_lease(url: str) -> bool:
    """The worker refused a write (fence), or its heartbeat noticed first and cancelled the work."""
    fenced = await _metric(url, 'flotilla_fenced_writes_total{type="testcm"}')
    lost = await _metric(url, 'flotilla_leases_lost_total{type="testcm"}')
    return fenced + lost >= 1


async def end_the_reconcile(kube: KubeClient, namespace: str, name: str) -> None:
    """Delete the ConfigMap once its writes are recorded: a reconcile still writing it ends at its
    next write (NotFound), so the workers stop at teardown without waiting their 20 s shutdown
    grace for it."""
    await kube.delete(CONFIGMAPS.path(namespace, name))


async def test_a_reconcile_whose_lease_is_taken_writes_nothing_more(
    kube: KubeClient, testcm_bus: JetStreamContext, namespace: str, start_worker: StartWorker
) -> None:
    worker = start_worker()
    created = await kube.create(
        CONFIGMAPS.path(namespace), configmap(namespace, "f", {"desired": "v1", "steps": "80"})
    )
    key = f"testcm/{namespace}/f"
    kv = await testcm_bus.key_value(LEASE_BUCKET)
    async with watching(kube, namespace, "f", created["metadata"]["resourceVersion"]) as writes:
        await publish_trigger(testcm_bus, namespace, "f")
        await eventually_async(lambda: len(writes.step_writes()) >= 3, 90, interval=0.05)
        # Another holder takes the key, then the test writes a marker: the point in the API
        # server's order after which the old holder must not write.
        await kv.put(lease_key(key), orjson.dumps({"holder": "another-replica"}))
        marker = await kube.patch(
            CONFIGMAPS.path(namespace, "f"), {"metadata": {"annotations": {"test/marker": "lease taken"}}}
        )
        marked = Writes.rv(marker)
        await asyncio.sleep(8.0)  # 32 more steps were due; the heartbeat renews every 5 s
        steps = writes.step_writes()
        await asyncio.sleep(2.0)
        assert writes.step_writes() == steps, "the reconcile still writes"
    await end_the_reconcile(kube, namespace, "f")
    before = [s for rv, s in steps if rv < marked]
    after = [(rv, s) for rv, s in steps if rv > marked]
    assert len(before) >= 3
    # stopped by its next renewal: at most one heartbeat period of steps 0.25 s apart (+ slack)
    assert len(after) <= 5.0 / 0.25 + 2, f"writes after the lease was taken: {after}"
    assert steps[-1][1][2] < 79  # the reconcile was stopped, not finished
    assert await _stopped_by_lease(worker.url)


async def test_a_stalled_holder_resumed_after_a_takeover_writes_nothing(
    kube: KubeClient, testcm_bus: JetStreamContext, namespace: str, start_worker: StartWorker
) -> None:
    workers = {w.pid: w for w in (start_worker(), start_worker())}
    # A write every 0.5 s (~50 s in all), stopped just after one: the stalled holder is between
    # writes, and its next one is due the moment it resumes. (Stopped in the one event-loop step
    # between a proof and the bytes leaving, a write would still go out: the window no client can
    # close, see workers/runtime/fence.py.) The second holder is still writing when it resumes.
    data = {"desired": "v1", "steps": "100", "stepGap": "0.5"}
    created = await kube.create(CONFIGMAPS.path(namespace), configmap(namespace, "s", data))
    stopped: int | None = None
    async with watching(kube, namespace, "s", created["metadata"]["resourceVersion"]) as writes:
        await publish_trigger(testcm_bus, namespace, "s")
        await eventually_async(lambda: len(writes.step_writes()) >= 2, 90, interval=0.02)
        stopped = writes.step_writes()[-1][1][0]
        assert stopped in workers
        os.kill(stopped, signal.SIGSTOP)
        try:
            # JetStream redelivers after ack_wait (15 s); the other worker leases the key once
            # the stalled holder's entry expires (TTL 15 s), then writes.
            def taken_over() -> bool:
                return any(s[0] != stopped for _, s in writes.step_writes())

            await eventually_async(taken_over, 90, interval=0.1, what="a takeover by the other worker")
        finally:
            os.kill(stopped, signal.SIGCONT)
        await asyncio.sleep(6.0)
        steps = writes.step_writes()
    await end_the_reconcile(kube, namespace, "s")
    first_other = next(rv for rv, s in steps if s[0] != stopped)
    stalled_rids = {s[1] for rv, s in steps if s[0] == stopped and rv < first_other}
    late = [(rv, s) for rv, s in steps if rv > first_other and s[0] == stopped]
    assert late == [], f"the resumed holder wrote after the takeover: {late}"
    assert len(stalled_rids) == 1
    assert await _stopped_by_lease(workers[stopped].url)
