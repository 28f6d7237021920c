"""Fault: malformed and unknown-version messages injected on the reconcile subjects are
dead-lettered with their reason, and the consumer keeps reconciling the good ones."""

from __future__ import annotations

import asyncio
import random
import time

import msgpack
import pytest
from nats.js import JetStreamContext

from flotilla.runtime.kube import KubeClient
from schemas.bus.envelope import Envelope, EventType, encode, make_key
from schemas.bus.streams import DEADLETTER_STREAM
from schemas.bus.subjects import DEADLETTER_PREFIX, reconcile_subject
from tests.support.fixtures import StartWorker
from tests.support.polling import eventually_async
from tests.support.workers import create_configmaps, publish_body, publish_trigger, reconciled_values

GOOD = 20


def _poison(namespace: str, index: int) -> tuple[str, bytes, str]:
    """(subject, body, expected Flotilla-Reason) of one bad message."""
    subject = reconcile_subject("testcm", namespace, f"bad-{index}")
    kind = index % 4
    if kind == 0:
        return subject, random.randbytes(random.randint(0, 64)), "malformed"  # seeded (conftest)
    if kind == 1:
        return subject, msgpack.packb([1, 2, 3]), "malformed"
    if kind == 2:
        body = msgpack.packb({"schema_version": 99, "key": f"testcm/{namespace}/bad-{index}"})
        return subject, body, "unsupported_version"
    other = Envelope(
        make_key("testcm", namespace, "elsewhere"), EventType.ADDED, "ConfigMap", "u", "1", time.time()
    )
    return subject, encode(other), "malformed"  # a key that does not belong on this subject


@pytest.mark.parametrize("repetition", range(3))
async def test_poison_messages_are_dead_lettered_and_consumer_keeps_going(
    repetition: int, kube: KubeClient, testcm_bus: JetStreamContext, namespace: str, start_worker: StartWorker
) -> None:
    workers = [start_worker(), start_worker()]
    names = [f"good-{i}" for i in range(GOOD)]
    await create_configmaps(kube, namespace, names, {"desired": "v1"})
    dead = await testcm_bus.subscribe(
        f"{DEADLETTER_PREFIX}.testcm.{namespace}.>", stream=DEADLETTER_STREAM, ordered_consumer=True
    )
    poison = [_poison(namespace, i) for i in range(12)]
    sends: list[tuple[str, bytes | None]] = [(s, b) for s, b, _ in poison] + [(n, None) for n in names]
    random.shuffle(sends)
    for target, body in sends:
        if body is None:
            await publish_trigger(testcm_bus, namespace, target)
        else:
            await publish_body(testcm_bus, target, body)  # as the watcher publishes (its headers too)
        await asyncio.sleep(random.uniform(0, 0.02))

    reasons: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while len(reasons) < len(poison) and time.monotonic() < deadline:
        msg = await dead.next_msg(timeout=max(0.1, deadline - time.monotonic()))
        assert msg.headers is not None
        reasons[msg.headers["Flotilla-Original-Subject"]] = msg.headers["Flotilla-Reason"]
    await dead.unsubscribe()
    assert reasons == {subject: reason for subject, _, reason in poison}

    async def all_good() -> bool:
        values = await reconciled_values(kube, namespace)
        return all(values.get(n) == "v1" for n in names)

    await eventually_async(all_good, 60)
    assert all(w.proc is not None and w.proc.poll() is None for w in workers)
