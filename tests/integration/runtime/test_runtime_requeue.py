"""Requeues are JetStream message schedules: they hold no delivery slot and outlive the worker.

Real NATS and a real control plane. The in-process tests run the runtime (``run_worker``) with
a worker type of their own whose plan is chosen per key name (``wait-*`` asks to be requeued,
anything else is clean), so the consumer sees only the test's triggers. The crash test runs
``flotilla worker testcm`` OS processes and SIGKILLs one. Triggers go through the watcher's
publish code (:func:`tests.support.workers.publish_trigger`).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NotFoundError

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.kube import CONFIGMAPS, KubeClient
from schemas.bus.bootstrap import declare
from schemas.bus.envelope import KeyParts, make_key
from schemas.bus.headers import SCHEDULE
from schemas.bus.streams import FAILURE_BUCKET, LEASE_BUCKET, RECONCILE_STREAM, worker_bus
from schemas.bus.subjects import lease_key, requeue_subject_for_key
from tests.support.fixtures import StartWorker
from tests.support.polling import eventually_async
from tests.support.workers import (
    create_configmaps,
    free_port,
    publish_trigger,
    read_records,
    reconcile_intervals,
)
from workers.runtime.consumer import RuntimeOptions
from workers.runtime.contract import Plan, WorkerType
from workers.runtime.observe import StateReader
from workers.runtime.process import WorkerSettings, run_worker


@dataclass
class Runs:
    """When each key's reconciles started (monotonic), and what the plans ask per key."""

    requeue_after: dict[str, float] = field(default_factory=dict)
    fail: set[str] = field(default_factory=set)
    starts: dict[str, list[float]] = field(default_factory=dict)

    def count(self, name: str) -> int:
        return len(self.starts.get(name, []))


@dataclass(frozen=True)
class Seen:
    name: str


def steered_worker(type_name: str, runs: Runs) -> WorkerType[Seen, Runs]:
    async def observe(read: StateReader, key: KeyParts) -> Seen:
        runs.starts.setdefault(key.name, []).append(time.monotonic())
        if key.name in runs.fail:
            raise RuntimeError("steered failure")
        return Seen(key.name)

    def plan(seen: Seen, config: Runs, now: float) -> Plan:
        return Plan(requeue_after=config.requeue_after.get(seen.name), reason="steered")

    return WorkerType(
        name=type_name, kind="ConfigMap", resource=CONFIGMAPS, observe=observe, plan=plan, config=runs
    )


@pytest.fixture
async def worker_type(jetstream: JetStreamContext) -> AsyncIterator[str]:
    """A worker type of this test's own; its triggers and pending schedules are purged after."""
    name = f"rq-{secrets.token_hex(3)}"
    yield name
    with contextlib.suppress(NotFoundError):
        await jetstream.delete_consumer(RECONCILE_STREAM, f"worker-{name}")
    for prefix in ("flotilla.requeue", "flotilla.reconcile"):
        await jetstream.purge_stream(RECONCILE_STREAM, subject=f"{prefix}.{name}.>")


@pytest.fixture
async def start_in_process(dev_env: DevEnvironment) -> AsyncIterator[Callable[..., asyncio.Event]]:
    started: list[tuple[asyncio.Event, asyncio.Task[int]]] = []

    def start(worker: WorkerType[Seen, Runs], **options: Any) -> asyncio.Event:
        settings = WorkerSettings(
            nats_url=dev_env.nats_url,
            kubeconfig=dev_env.kubeconfig,
            http_port=free_port(),
            options=RuntimeOptions(shutdown_grace=5.0, **options),
        )
        stop = asyncio.Event()
        started.append((stop, asyncio.create_task(run_worker(worker, settings, stop))))
        return stop

    yield start
    for stop, task in started:
        stop.set()
        await asyncio.wait_for(task, 60)


async def pending_requeues(js: JetStreamContext, worker_type: str) -> int:
    """Requeue subjects whose message is a pending schedule (not a cancelled one's tombstone)."""
    info = await js.stream_info(RECONCILE_STREAM, subjects_filter=f"flotilla.requeue.{worker_type}.>")
    pending = 0
    for subject in info.state.subjects or {}:
        try:
            last = await js.get_last_msg(RECONCILE_STREAM, subject)
        except NotFoundError:  # fired (and removed) since the listing
            continue
        pending += SCHEDULE in (last.headers or {})
    return pending


async def test_requeued_keys_hold_no_delivery_slot(
    jetstream: JetStreamContext, worker_type: str, start_in_process: Callable[..., asyncio.Event]
) -> None:
    """max_ack_pending=10, 10 keys requeued for 30 s: 5 fresh triggers are reconciled at once.

    With a delayed nak the 10 requeued triggers filled the consumer's ack-pending set and no
    fresh trigger was delivered until the delays ran out (issue #10)."""
    runs = Runs(requeue_after={f"wait-{i}": 30.0 for i in range(10)})
    await declare(jetstream, worker_bus(worker_type, max_ack_pending=10))
    start_in_process(steered_worker(worker_type, runs), max_ack_pending=10)
    for i in range(10):
        await publish_trigger(jetstream, "ns", f"wait-{i}", worker_type=worker_type)

    async def all_waiting() -> bool:
        return all(runs.count(f"wait-{i}") == 1 for i in range(10)) and (
            await pending_requeues(jetstream, worker_type) == 10
        )

    await eventually_async(all_waiting, 30, interval=0.05)

    async def all_acked() -> bool:  # the requeued triggers were acked: they hold no slot
        info = await jetstream.consumer_info(RECONCILE_STREAM, f"worker-{worker_type}")
        assert info.config.max_ack_pending == 10
        return bool(info.num_ack_pending == 0 and info.num_pending == 0)

    await eventually_async(all_acked, 5, interval=0.05)

    published = time.monotonic()
    for i in range(5):
        await publish_trigger(jetstream, "ns", f"fresh-{i}", worker_type=worker_type)

    async def fresh_done() -> bool:
        return all(runs.count(f"fresh-{i}") == 1 for i in range(5))

    await eventually_async(fresh_done, 10, interval=0.05)
    assert max(runs.starts[f"fresh-{i}"][0] for i in range(5)) - published < 5.0
    assert all(runs.count(f"wait-{i}") == 1 for i in range(10))  # their requeues are still ahead
    assert await pending_requeues(jetstream, worker_type) == 10


async def test_a_newer_trigger_supersedes_a_pending_requeue(
    jetstream: JetStreamContext, worker_type: str, start_in_process: Callable[..., asyncio.Event]
) -> None:
    """ "a" asks for a requeue in 3 s; a fresh trigger comes first and its clean reconcile
    cancels the schedule: no reconcile when the 3 s are up (the newest outcome decides)."""
    runs = Runs(requeue_after={"a": 3.0})
    await declare(jetstream, worker_bus(worker_type))
    start_in_process(steered_worker(worker_type, runs))
    await publish_trigger(jetstream, "ns", "a", worker_type=worker_type)
    await eventually_async(lambda: _at_least(runs, "a", 1), 30, interval=0.05)
    await eventually_async(lambda: _pending_is(jetstream, worker_type, 1), 10, interval=0.05)
    runs.requeue_after.clear()  # the state changed: the next plan is clean
    await publish_trigger(jetstream, "ns", "a", worker_type=worker_type)
    await eventually_async(lambda: _at_least(runs, "a", 2), 10, interval=0.05)
    await eventually_async(lambda: _pending_is(jetstream, worker_type, 0), 10, interval=0.05)
    await asyncio.sleep(4.0)  # past the cancelled requeue
    assert runs.count("a") == 2


async def test_requeue_fires_at_its_time_and_a_clean_retry_clears_the_failures(
    jetstream: JetStreamContext, worker_type: str, start_in_process: Callable[..., asyncio.Event]
) -> None:
    """A requeue after 2 s comes back after 2 s (not before); a failed reconcile's retry is a
    schedule too, and its clean reconcile (a first delivery now) clears the failure count."""
    runs = Runs(requeue_after={"r": 2.0}, fail={"f"})
    await declare(jetstream, worker_bus(worker_type))
    start_in_process(steered_worker(worker_type, runs), backoff_base=1.0)
    await publish_trigger(jetstream, "ns", "r", worker_type=worker_type)
    await publish_trigger(jetstream, "ns", "f", worker_type=worker_type)
    await eventually_async(lambda: _at_least(runs, "r", 3), 20, interval=0.05)
    first, second, third = runs.starts["r"][:3]
    assert 1.9 <= second - first <= 3.5, runs.starts["r"]
    assert 1.9 <= third - second <= 3.5, runs.starts["r"]

    failures = await jetstream.key_value(FAILURE_BUCKET)
    f_key = lease_key(make_key(worker_type, "ns", "f"))
    await eventually_async(lambda: _at_least(runs, "f", 2), 20, interval=0.05)
    runs.fail.clear()
    await eventually_async(lambda: _at_least(runs, "f", 3), 20, interval=0.05)

    async def cleared() -> bool:
        try:
            await failures.get(f_key)
        except KeyNotFoundError:
            return True
        return False

    await eventually_async(cleared, 10, interval=0.05)


async def test_requeue_fires_after_the_worker_was_killed_and_restarted(
    kube: KubeClient,
    testcm_bus: JetStreamContext,
    namespace: str,
    start_worker: StartWorker,
    record_dir: Path,
) -> None:
    """The worker asks for a requeue in 8 s, is SIGKILLed right after, and a new worker is
    started: the requeue still fires at its time (the schedule lives in JetStream)."""
    worker = start_worker()
    await create_configmaps(kube, namespace, ["k"], {"desired": "v1", "requeueAfter": "8"})
    key = f"testcm/{namespace}/k"
    await publish_trigger(testcm_bus, namespace, "k")

    async def requeued() -> bool:
        done = [
            i for i in reconcile_intervals(read_records(record_dir)) if i.key == key and i.outcome == "ok"
        ]
        if not done:
            return False
        try:
            await testcm_bus.get_last_msg(RECONCILE_STREAM, requeue_subject_for_key(key))
        except NotFoundError:
            return False
        # and the reconcile let go of its lease: a kill before that would leave the key
        # lease-busy for a TTL, which delays the fired requeue by design (not what this checks)
        try:
            await leases.get(lease_key(key))
        except KeyNotFoundError:
            return True
        return False

    leases = await testcm_bus.key_value(LEASE_BUCKET)
    await eventually_async(requeued, 30, interval=0.05)
    worker.kill()
    first_end = next(i.end for i in reconcile_intervals(read_records(record_dir)) if i.key == key)
    start_worker()

    async def second_run() -> bool:
        return len([i for i in reconcile_intervals(read_records(record_dir)) if i.key == key]) >= 2

    await eventually_async(second_run, 30, interval=0.1)
    starts = sorted(i.start for i in reconcile_intervals(read_records(record_dir)) if i.key == key)
    assert 7.5 <= starts[1] - first_end <= 12.0, (first_end, starts)


async def _at_least(runs: Runs, name: str, count: int) -> bool:
    return runs.count(name) >= count


async def _pending_is(js: JetStreamContext, worker_type: str, count: int) -> bool:
    return await pending_requeues(js, worker_type) == count
