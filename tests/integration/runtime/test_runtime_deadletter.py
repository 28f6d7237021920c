"""Dead letters land, with triggers published exactly as the watcher publishes them.

Every trigger here goes through the watcher's own publish code
(:func:`watcher.pipeline.publish_trigger`, via :func:`tests.support.workers.publish_body`), so
it carries the watcher's headers: ``Nats-Expected-Stream: RECONCILE``, a ``Nats-Msg-Id`` and
the trace context. A dead letter that copied ``Nats-Expected-Stream`` is refused by NATS
(err 10060) and never lands; these tests read the DEADLETTER stream itself and the worker's
``flotilla_dead_letters_total``, real worker processes on real NATS and a real API server.
"""

from __future__ import annotations

import os
import secrets
import time

import aiohttp
import msgpack
import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client.parser import text_string_to_metric_families

from flotilla.runtime.kube import KubeClient
from schemas.bus.envelope import Envelope, EventType, encode, make_key
from schemas.bus.streams import DEADLETTER_STREAM
from schemas.bus.subjects import deadletter_subject, reconcile_subject
from tests.support.fixtures import StartWorker
from tests.support.polling import eventually_async
from tests.support.workers import WorkerProcess, create_configmaps, publish_body
from workers.runtime.deadletter import ERROR_ANNOTATION


async def dead_letters_total(worker: WorkerProcess, reason: str) -> float:
    """``flotilla_dead_letters_total{type="testcm",reason=...}`` as the worker's /metrics reports it."""
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/metrics") as response:
        text = await response.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "flotilla_dead_letters_total" and sample.labels == {
                "type": "testcm",
                "reason": reason,
            }:
                return float(sample.value)
    return 0.0


async def landed(js: JetStreamContext, subject: str) -> dict[str, str] | None:
    """The headers of the last message DEADLETTER holds on ``subject`` (None: nothing landed)."""
    try:
        msg = await js.get_last_msg(DEADLETTER_STREAM, subject)
    except NotFoundError:
        return None
    return dict(msg.headers or {})


def watcher_envelope(namespace: str, name: str) -> bytes:
    key = make_key("testcm", namespace, name)
    return encode(Envelope(key, EventType.MODIFIED, "ConfigMap", "uid-1", "7", time.time()))


@pytest.mark.parametrize("case", ["poison_body", "unknown_version", "max_failures", "terminal"])
async def test_dead_letter_lands_for_watcher_published_trigger(
    case: str, kube: KubeClient, testcm_bus: JetStreamContext, namespace: str, start_worker: StartWorker
) -> None:
    worker = start_worker("--max-failures", "3", "--backoff-base", "0.2")
    name = f"{case.replace('_', '-')}-{secrets.token_hex(2)}"
    subject = reconcile_subject("testcm", namespace, name)
    reason = {
        "poison_body": "malformed",
        "unknown_version": "unsupported_version",
        "max_failures": "failures",
        "terminal": "terminal",
    }[case]
    if case == "poison_body":
        body = os.urandom(48)
    elif case == "unknown_version":
        body = msgpack.packb({"schema_version": 99, "key": make_key("testcm", namespace, name)})
    else:
        data = {"desired": "v1", "fail" if case == "max_failures" else "terminal": "yes"}
        await create_configmaps(kube, namespace, [name], data)
        body = watcher_envelope(namespace, name)
    await eventually_async(lambda: _serving(worker), 30)
    before = await dead_letters_total(worker, reason)
    await publish_body(testcm_bus, subject, body, msg_id=f"{name}|uid-1|7|MODIFIED")

    where = deadletter_subject("testcm", namespace, name)

    async def in_deadletter() -> bool:
        return await landed(testcm_bus, where) is not None

    await eventually_async(in_deadletter, 60, interval=0.2)
    headers = await landed(testcm_bus, where)
    assert headers is not None
    assert headers["Flotilla-Reason"] == reason
    assert headers["Flotilla-Original-Subject"] == subject
    assert not any(h.lower().startswith("nats-expected") or h == "Nats-Msg-Id" for h in headers), headers

    async def counted() -> bool:
        return await dead_letters_total(worker, reason) == before + 1

    await eventually_async(counted, 10)
    if case in ("max_failures", "terminal"):
        obj = await kube.get(f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        assert ERROR_ANNOTATION in obj["metadata"]["annotations"]


async def _serving(worker: WorkerProcess) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(worker.url + "/metrics") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False
