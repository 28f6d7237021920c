"""Triggers for a key this process is already reconciling are coalesced, on real NATS.

Each test runs the worker runtime in-process (``run_worker``) with a worker type of its own
(unique name, so its consumer sees only this test's triggers) whose reconciles the test
steers step by step: reconcile ``n`` may wait on a gate, fail, or ask to be requeued. The
reconciles record their start and end, so the tests check exactly how many ran and that
none overlapped; consumer info shows that every trigger was settled.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace

import pytest
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NotFoundError
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.kube import CONFIGMAPS
from flotilla.runtime.tracing import add_span_processor
from schemas.bus.bootstrap import declare
from schemas.bus.envelope import KeyParts, make_key
from schemas.bus.streams import FAILURE_BUCKET, LEASE_BUCKET, RECONCILE_STREAM, worker_bus
from schemas.bus.subjects import lease_key
from tests.support.workers import free_port, publish_trigger, wait_for
from workers.runtime.consumer import RuntimeOptions
from workers.runtime.contract import Plan, WorkerType
from workers.runtime.observe import StateReader
from workers.runtime.process import WorkerSettings, run_worker


@dataclass
class Step:
    """What reconcile number n does: wait for ``gate``, take ``duration``, then fail or finish."""

    gate: asyncio.Event | None = None
    duration: float = 0.0
    fail: bool = False
    requeue_after: float | None = None


@dataclass
class Run:
    name: str
    start: float
    end: float = float("inf")
    outcome: str = "running"


@dataclass
class Script:
    """The steps of one test's reconciles (missing steps do as ``default``) and what ran."""

    steps: dict[int, Step] = field(default_factory=dict)
    default: Step = field(default_factory=Step)
    runs: list[Run] = field(default_factory=list)

    def gate(self, n: int) -> asyncio.Event:
        step = self.steps.setdefault(n, Step())
        step.gate = step.gate or asyncio.Event()
        return step.gate


@dataclass(frozen=True)
class Observed:
    requeue_after: float | None


def scripted_worker(name: str, script: Script) -> WorkerType[Observed, Script]:
    async def observe(read: StateReader, key: KeyParts) -> Observed:
        run = Run(name=key.name, start=time.monotonic())
        step = script.steps.get(len(script.runs), script.default)
        script.runs.append(run)
        try:
            if step.gate is not None:
                await step.gate.wait()
            await asyncio.sleep(step.duration)
            if step.fail:
                raise RuntimeError("scripted failure")
            run.outcome = "ok"
            return Observed(step.requeue_after)
        except BaseException:
            run.outcome = "error"
            raise
        finally:
            run.end = time.monotonic()

    def plan(observed: Observed, config: Script, now: float) -> Plan:
        return Plan(requeue_after=observed.requeue_after, reason="scripted")

    return WorkerType(
        name=name, kind="ConfigMap", resource=CONFIGMAPS, observe=observe, plan=plan, config=script
    )


@dataclass
class InProcessWorker:
    stop: asyncio.Event
    task: asyncio.Task[int]

    async def shutdown(self) -> int:
        self.stop.set()
        return await asyncio.wait_for(self.task, 60)


StartWorker = Callable[..., InProcessWorker]


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
async def worker_type(jetstream: JetStreamContext) -> AsyncIterator[str]:
    """A worker type name of this test's own: its consumer holds only this test's triggers."""
    name = f"coal-{secrets.token_hex(3)}"
    await declare(jetstream, worker_bus(name))
    yield name
    with contextlib.suppress(NotFoundError):
        await jetstream.delete_consumer(RECONCILE_STREAM, f"worker-{name}")


@pytest.fixture
async def start_in_process(dev_env: DevEnvironment) -> AsyncIterator[StartWorker]:
    started: list[InProcessWorker] = []

    def start(
        worker: WorkerType[Observed, Script], backoff_base: float = 1.0, concurrency: int = 16
    ) -> InProcessWorker:
        options = RuntimeOptions(shutdown_grace=15.0, backoff_base=backoff_base, concurrency=concurrency)
        settings = WorkerSettings(
            nats_url=dev_env.nats_url, kubeconfig=dev_env.kubeconfig, http_port=free_port(), options=options
        )
        stop = asyncio.Event()
        running = InProcessWorker(stop, asyncio.create_task(run_worker(worker, settings, stop)))
        started.append(running)
        return running

    yield start
    for running in started:
        if not running.task.done():
            await running.shutdown()


@pytest.fixture
def open_gates_at_teardown() -> Iterator[list[Script]]:
    """Scripts whose gates are opened at teardown, so a failed test does not hang the shutdown."""
    scripts: list[Script] = []
    yield scripts
    for script in scripts:
        for step in script.steps.values():
            if step.gate is not None:
                step.gate.set()


def sample(metric: str, worker_type: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, {"type": worker_type, **labels}) or 0.0


def coalesced(worker_type: str) -> float:
    return sample("flotilla_triggers_coalesced_total", worker_type)


async def _coalesced_at_least(worker_type: str, count: int) -> bool:
    return coalesced(worker_type) >= count


async def consumer_idle(js: JetStreamContext, worker_type: str) -> bool:
    info = await js.consumer_info(RECONCILE_STREAM, f"worker-{worker_type}")
    return info.num_pending == 0 and info.num_ack_pending == 0


async def trigger_delivered(js: JetStreamContext, worker_type: str) -> bool:
    """Every published trigger was delivered (or replaced in the stream by a newer one)."""
    return (await js.consumer_info(RECONCILE_STREAM, f"worker-{worker_type}")).num_pending == 0


async def start_then_trigger_again(js: JetStreamContext, worker_type: str, script: Script, name: str) -> None:
    """Trigger ns/``name``, wait for its first reconcile to start, trigger it again, and wait
    until the second trigger was delivered (to be held while the first reconcile runs)."""
    await publish_trigger(js, "ns", name, worker_type=worker_type)
    assert await wait_for(lambda: started(script, 1), 30, interval=0.02)
    await publish_trigger(js, "ns", name, worker_type=worker_type)
    assert await wait_for(lambda: trigger_delivered(js, worker_type), 15, interval=0.05)


def assert_no_overlap(runs: list[Run]) -> None:
    """No two reconciles of one key ran at the same time."""
    for name in {r.name for r in runs}:
        of_key = [r for r in runs if r.name == name]
        for earlier, later in itertools.pairwise(of_key):
            assert later.start >= earlier.end, of_key


async def started(script: Script, count: int) -> bool:
    return len(script.runs) >= count


async def test_burst_during_a_slow_reconcile_is_one_follow_up_under_the_same_lease(
    jetstream: JetStreamContext,
    worker_type: str,
    start_in_process: StartWorker,
    open_gates_at_teardown: list[Script],
    spans: InMemorySpanExporter,
) -> None:
    script = Script()
    open_gates_at_teardown.append(script)
    first = script.gate(0)
    start_in_process(scripted_worker(worker_type, script))
    await publish_trigger(jetstream, "ns", "a", worker_type=worker_type)
    assert await wait_for(lambda: started(script, 1), 30, interval=0.02)

    for _ in range(50):
        await publish_trigger(jetstream, "ns", "a", worker_type=worker_type)
    assert await wait_for(lambda: trigger_delivered(jetstream, worker_type), 15, interval=0.05)
    assert 1 <= coalesced(worker_type) <= 50
    await asyncio.sleep(0.5)
    assert len(script.runs) == 1  # nothing started beside the running reconcile

    first.set()
    assert await wait_for(lambda: consumer_idle(jetstream, worker_type), 15, interval=0.05)
    await asyncio.sleep(1.5)  # a third reconcile, or a handed-back trigger, would show by now
    assert [r.outcome for r in script.runs] == ["ok", "ok"]
    assert_no_overlap(script.runs)
    assert sample("flotilla_lease_conflicts_total", worker_type) == 0
    assert sample("flotilla_reconciles_total", worker_type, outcome="success") == 2
    assert await consumer_idle(jetstream, worker_type)

    key = make_key(worker_type, "ns", "a")
    consumed = [
        s
        for s in spans.get_finished_spans()
        if s.name == f"consume {worker_type}" and s.attributes and s.attributes["flotilla.key"] == key
    ]
    held = [s for s in consumed if s.attributes and s.attributes.get("flotilla.coalesced")]
    assert len(held) == coalesced(worker_type)
    assert all(any(e.name == "coalesced" for e in s.events) for s in held)
    outcomes = sorted(str(s.attributes["flotilla.outcome"]) for s in held if s.attributes)
    assert outcomes == ["coalesced"] * (len(held) - 1) + ["success"]  # one ran the follow-up


async def test_a_trigger_during_the_follow_up_gets_another_reconcile(
    jetstream: JetStreamContext,
    worker_type: str,
    start_in_process: StartWorker,
    open_gates_at_teardown: list[Script],
) -> None:
    script = Script()
    open_gates_at_teardown.append(script)
    first, follow_up = script.gate(0), script.gate(1)
    start_in_process(scripted_worker(worker_type, script))
    await publish_trigger(jetstream, "ns", "b", worker_type=worker_type)
    assert await wait_for(lambda: started(script, 1), 30, interval=0.02)
    await publish_trigger(jetstream, "ns", "b", worker_type=worker_type)

    async def held(count: int) -> bool:
        return coalesced(worker_type) >= count

    assert await wait_for(lambda: held(1), 15, interval=0.02)
    first.set()
    assert await wait_for(lambda: started(script, 2), 15, interval=0.02)
    await publish_trigger(jetstream, "ns", "b", worker_type=worker_type)  # after the follow-up read state
    assert await wait_for(lambda: held(2), 15, interval=0.02)
    follow_up.set()

    assert await wait_for(lambda: started(script, 3), 15, interval=0.02)
    assert await wait_for(lambda: consumer_idle(jetstream, worker_type), 15, interval=0.05)
    await asyncio.sleep(1.5)
    assert [r.outcome for r in script.runs] == ["ok", "ok", "ok"]
    assert_no_overlap(script.runs)
    assert sample("flotilla_lease_conflicts_total", worker_type) == 0


async def test_graceful_stop_hands_a_held_trigger_back_and_another_worker_reconciles(
    jetstream: JetStreamContext,
    worker_type: str,
    start_in_process: StartWorker,
    open_gates_at_teardown: list[Script],
) -> None:
    script = Script()
    open_gates_at_teardown.append(script)
    first = script.gate(0)
    leaving = start_in_process(scripted_worker(worker_type, script))
    await start_then_trigger_again(jetstream, worker_type, script, "c")
    # delivered (the consumer's num_pending is 0) is not yet dispatched by the worker: wait until held
    assert await wait_for(lambda: _coalesced_at_least(worker_type, 1), 15, interval=0.02)
    assert coalesced(worker_type) == 1

    leaving.stop.set()  # SIGTERM: the running reconcile may finish, the held trigger goes back
    await asyncio.sleep(0.3)
    first.set()
    assert await asyncio.wait_for(leaving.task, 30) == 0
    assert [r.outcome for r in script.runs] == ["ok"]  # no follow-up after stop
    info = await jetstream.consumer_info(RECONCILE_STREAM, f"worker-{worker_type}")
    assert info.num_ack_pending == 1  # handed back (nak'ed): waiting for redelivery, not lost

    start_in_process(scripted_worker(worker_type, script))
    assert await wait_for(lambda: started(script, 2), 15, interval=0.05)
    assert await wait_for(lambda: consumer_idle(jetstream, worker_type), 15, interval=0.05)
    assert [r.outcome for r in script.runs] == ["ok", "ok"]
    assert_no_overlap(script.runs)
    assert sample("flotilla_lease_conflicts_total", worker_type) == 0


async def test_a_failing_follow_up_backs_off_and_is_retried(
    jetstream: JetStreamContext,
    worker_type: str,
    start_in_process: StartWorker,
    open_gates_at_teardown: list[Script],
) -> None:
    script = Script(steps={1: Step(fail=True)})
    open_gates_at_teardown.append(script)
    first = script.gate(0)
    start_in_process(scripted_worker(worker_type, script), backoff_base=1.0)
    await start_then_trigger_again(jetstream, worker_type, script, "d")
    first.set()

    assert await wait_for(lambda: started(script, 3), 15, interval=0.05)
    assert await wait_for(lambda: consumer_idle(jetstream, worker_type), 15, interval=0.05)
    assert [r.outcome for r in script.runs] == ["ok", "error", "ok"]
    assert_no_overlap(script.runs)
    assert script.runs[2].start - script.runs[1].end >= 0.75  # backoff 1 s (+-20 %), then redelivered
    assert sample("flotilla_reconciles_total", worker_type, outcome="error") == 1
    failures = await jetstream.key_value(FAILURE_BUCKET)
    with pytest.raises(KeyNotFoundError):  # the clean retry cleared the count
        await failures.get(lease_key(make_key(worker_type, "ns", "d")))


async def test_a_follow_up_supersedes_the_first_reconciles_retry_and_requeue(
    jetstream: JetStreamContext,
    worker_type: str,
    start_in_process: StartWorker,
    open_gates_at_teardown: list[Script],
) -> None:
    """Reconcile 0 fails, reconcile 1 (the follow-up) asks for a requeue, reconcile 2 (triggered
    during 1) is clean: each follow-up runs at once and its outcome alone decides what comes next.
    The failure was counted and the clean reconcile cleared it; nothing comes back later."""
    script = Script(steps={0: Step(fail=True), 1: Step(requeue_after=2.0)})
    open_gates_at_teardown.append(script)
    first, second = script.gate(0), script.gate(1)
    start_in_process(scripted_worker(worker_type, script), backoff_base=5.0)
    await start_then_trigger_again(jetstream, worker_type, script, "e")
    first.set()
    assert await wait_for(lambda: started(script, 2), 15, interval=0.02)
    assert script.runs[1].start - script.runs[0].end < 1.0  # not after the 5 s backoff
    await publish_trigger(jetstream, "ns", "e", worker_type=worker_type)
    assert await wait_for(lambda: trigger_delivered(jetstream, worker_type), 15, interval=0.05)
    second.set()

    assert await wait_for(lambda: started(script, 3), 15, interval=0.02)
    assert await wait_for(lambda: consumer_idle(jetstream, worker_type), 15, interval=0.05)
    await asyncio.sleep(3.0)  # past the superseded requeue-after (2 s)
    assert [r.outcome for r in script.runs] == ["error", "ok", "ok"]
    assert_no_overlap(script.runs)
    assert await consumer_idle(jetstream, worker_type)
    failures = await jetstream.key_value(FAILURE_BUCKET)
    with pytest.raises(KeyNotFoundError):
        await failures.get(lease_key(make_key(worker_type, "ns", "e")))


async def test_held_triggers_take_no_slot(
    jetstream: JetStreamContext,
    worker_type: str,
    start_in_process: StartWorker,
    open_gates_at_teardown: list[Script],
) -> None:
    """Two slots: "a" reconciles slowly in one while its triggers keep coming; "b" still gets
    the other slot at once, and "a" then gets exactly one follow-up."""
    script = Script()
    open_gates_at_teardown.append(script)
    first = script.gate(0)
    start_in_process(scripted_worker(worker_type, script), concurrency=2)
    await publish_trigger(jetstream, "ns", "a", worker_type=worker_type)
    assert await wait_for(lambda: started(script, 1), 30, interval=0.02)
    for _ in range(20):
        await publish_trigger(jetstream, "ns", "a", worker_type=worker_type)
        await asyncio.sleep(0.02)
    assert await wait_for(lambda: trigger_delivered(jetstream, worker_type), 15, interval=0.05)
    await publish_trigger(jetstream, "ns", "b", worker_type=worker_type)

    async def b_done() -> bool:
        return any(r.name == "b" and r.outcome == "ok" for r in script.runs)

    assert await wait_for(b_done, 15, interval=0.02)
    assert script.runs[0].outcome == "running"  # "a" still holds its slot
    assert coalesced(worker_type) >= 1
    first.set()
    assert await wait_for(lambda: consumer_idle(jetstream, worker_type), 15, interval=0.05)
    await asyncio.sleep(1.5)
    assert [(r.name, r.outcome) for r in script.runs] == [("a", "ok"), ("b", "ok"), ("a", "ok")]
    assert_no_overlap(script.runs)
    assert sample("flotilla_lease_conflicts_total", worker_type) == 0


async def test_a_chain_of_follow_ups_longer_than_the_lease_keeps_it(
    jetstream: JetStreamContext,
    worker_type: str,
    start_in_process: StartWorker,
) -> None:
    """Triggers every 0.2 s for 12 s, reconciles of 0.4 s: one chain of follow-ups under one
    lease, longer than its safe time (60 % of the 15 s TTL). Each reconcile renews the lease
    when it is due since the last renewal, so no reconcile is stopped for a lost lease."""
    script = Script(default=Step(duration=0.4))
    start_in_process(scripted_worker(worker_type, script))
    leases = await jetstream.key_value(LEASE_BUCKET)
    revisions: list[tuple[float, int]] = []  # when the lease entry was seen at a new revision
    began = time.monotonic()
    while time.monotonic() - began < 12:
        await publish_trigger(jetstream, "ns", "f", worker_type=worker_type)
        with contextlib.suppress(KeyNotFoundError):
            revision = (await leases.get(lease_key(make_key(worker_type, "ns", "f")))).revision or 0
            if not revisions or revisions[-1][1] != revision:
                revisions.append((time.monotonic(), revision))
        await asyncio.sleep(0.2)
    renewals = [later[0] - earlier[0] for earlier, later in itertools.pairwise(revisions)]
    assert len(renewals) >= 1, revisions  # acquired once, then renewed (not re-acquired) in the chain
    assert max(renewals) < 6.5, renewals  # every third of the TTL (5 s), not only at the safe time
    assert await wait_for(lambda: consumer_idle(jetstream, worker_type), 15, interval=0.05)
    await asyncio.sleep(1.0)
    gaps = [later.start - earlier.end for earlier, later in itertools.pairwise(script.runs)]
    assert max(gaps) < 0.3, gaps  # one chain: each follow-up started right after the previous
    assert script.runs[-1].end - script.runs[0].start > 11
    assert {r.outcome for r in script.runs} == {"ok"}
    assert_no_overlap(script.runs)
    assert sample("flotilla_leases_lost_total", worker_type) == 0
    assert sample("flotilla_lease_conflicts_total", worker_type) == 0
    assert sample("flotilla_reconciles_total", worker_type, outcome="success") == len(script.runs)


async def test_a_plan_gives_way_to_a_held_trigger_at_most_once_in_a_row(
    jetstream: JetStreamContext,
    worker_type: str,
    start_in_process: StartWorker,
    open_gates_at_teardown: list[Script],
) -> None:
    """A worker type whose ``outdated_by`` says yes: the first reconcile's plan, made while a newer
    trigger was held, is dropped before it is acted on and the held trigger reconciled at once
    under the same lease; the plan of that reconcile is acted on although a third trigger is held
    by then (at most once in a row), and the third is reconciled after it."""
    script = Script()
    open_gates_at_teardown.append(script)
    first, second = script.gate(0), script.gate(1)
    acted: list[int] = []  # the reconciles whose plan was acted on, by number
    asked: list[int] = []

    def outdated_by(observed: Observed, plan: Plan, held: object) -> bool:
        asked.append(len(script.runs) - 1)
        return True

    async def act(api: object, observed: Observed, plan: Plan) -> None:
        acted.append(len(script.runs) - 1)

    worker = replace(scripted_worker(worker_type, script), outdated_by=outdated_by, act=act)
    start_in_process(worker)
    await start_then_trigger_again(jetstream, worker_type, script, "g")
    assert await wait_for(lambda: _coalesced_at_least(worker_type, 1), 15, interval=0.02)
    first.set()
    assert await wait_for(lambda: started(script, 2), 15, interval=0.02)
    assert acted == []  # the first plan was dropped; the held trigger is being reconciled
    await publish_trigger(jetstream, "ns", "g", worker_type=worker_type)
    assert await wait_for(lambda: _coalesced_at_least(worker_type, 2), 15, interval=0.02)
    second.set()

    assert await wait_for(lambda: started(script, 3), 15, interval=0.02)
    assert await wait_for(lambda: consumer_idle(jetstream, worker_type), 15, interval=0.05)
    await asyncio.sleep(1.5)  # a fourth reconcile, or a handed-back trigger, would show by now
    assert [r.outcome for r in script.runs] == ["ok", "ok", "ok"]
    assert asked == [0]  # the second may not give way again; nothing was held for the third
    assert acted == [1, 2]
    assert_no_overlap(script.runs)
    assert sample("flotilla_reconciles_total", worker_type, outcome="superseded") == 1
    assert sample("flotilla_reconciles_total", worker_type, outcome="success") == 2
    assert sample("flotilla_lease_conflicts_total", worker_type) == 0
