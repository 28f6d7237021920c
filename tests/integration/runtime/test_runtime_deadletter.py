"""Dead letters land, with triggers published exactly as the watcher publishes them.

Every trigger here goes through the watcher's own publish code
(:func:`watcher.pipeline.publish_trigger`, via :func:`tests.support.workers.publish_body`), so
it carries the watcher's headers: ``Nats-Expected-Stream: RECONCILE``, a ``Nats-Msg-Id`` and
the trace context. A dead letter that copied ``Nats-Expected-Stream`` is refused by NATS
(err 10060) and never lands; these tests read the DEADLETTER stream itself and the worker's
``flotilla_dead_letters_total``, real worker processes on real NATS and a real API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass

import aiohttp
import msgpack
import pytest
from kubernetes import client as k8s
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client.parser import text_string_to_metric_families

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.kube import CONFIGMAPS, JsonObject, KubeClient
from schemas.bus.bootstrap import declare
from schemas.bus.envelope import Envelope, EventType, KeyParts, encode, make_key
from schemas.bus.streams import DEADLETTER_STREAM, RECONCILE_STREAM, worker_bus
from schemas.bus.subjects import deadletter_subject, reconcile_subject
from schemas.crdgen import install_crds
from tests.support.fixtures import StartWorker
from tests.support.polling import eventually_async
from tests.support.testcm import RECONCILED
from tests.support.workers import WorkerProcess, create_configmaps, free_port, publish_body, publish_trigger
from workers.cloneset.lowering import CLONESETS
from workers.runtime.consumer import RuntimeOptions
from workers.runtime.contract import Plan, TerminalError, WorkerType
from workers.runtime.deadletter import CONDITION_TYPE, ERROR_ANNOTATION
from workers.runtime.observe import StateReader
from workers.runtime.process import WorkerSettings, run_worker


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
        body = b"\xc1 not msgpack"  # 0xc1 is never used by msgpack
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


async def test_terminal_annotation_is_cleared_when_the_key_next_succeeds(
    kube: KubeClient, testcm_bus: JetStreamContext, namespace: str, start_worker: StartWorker
) -> None:
    """TerminalError: dead letter at once (one reconcile, no retry), the annotation says why;
    the user fixes the object, the next clean reconcile removes the annotation."""
    worker = start_worker("--max-failures", "5")
    await create_configmaps(kube, namespace, ["t"], {"desired": "v1", "terminal": "yes"})
    await publish_trigger(testcm_bus, namespace, "t")
    path = CONFIGMAPS.path(namespace, "t")

    async def annotated() -> bool:
        annotations = (await kube.get(path))["metadata"].get("annotations") or {}
        return "data.terminal is set" in annotations.get(ERROR_ANNOTATION, "")

    await eventually_async(annotated, 60, interval=0.2)
    headers = await landed(testcm_bus, deadletter_subject("testcm", namespace, "t"))
    assert headers is not None
    assert headers["Flotilla-Reason"] == "terminal"
    assert await dead_letters_total(worker, "terminal") >= 1

    await kube.patch(path, {"data": {"terminal": None}})
    await publish_trigger(testcm_bus, namespace, "t")

    async def cleared() -> bool:
        annotations = (await kube.get(path))["metadata"].get("annotations") or {}
        return ERROR_ANNOTATION not in annotations and annotations.get(RECONCILED) == "v1"

    await eventually_async(cleared, 30, interval=0.2)


@dataclass(frozen=True)
class SeenCloneSet:
    broken: bool


async def test_failed_condition_is_cleared_when_the_key_next_succeeds(
    dev_env: DevEnvironment,
    api_client: k8s.ApiClient,
    kube: KubeClient,
    jetstream: JetStreamContext,
    namespace: str,
) -> None:
    """A type with a status subresource (has_status=True, here on CloneSets): a TerminalError
    sets the FlotillaReconcileFailed condition; the next clean reconcile removes it and keeps
    the other conditions."""
    install_crds(api_client, names=["clonesets.apps.kruise.io"])
    type_name = f"dl-{secrets.token_hex(3)}"

    async def observe(read: StateReader, key: KeyParts) -> SeenCloneSet:
        obj = await read.get(CLONESETS, key.namespace, key.name)
        if obj is not None and "broken" in (obj["metadata"].get("labels") or {}):
            raise TerminalError("label broken is set; remove it")
        return SeenCloneSet(broken=False)

    def plan(seen: SeenCloneSet, config: None, now: float) -> Plan:
        return Plan(reason="clean")

    worker: WorkerType[SeenCloneSet, None] = WorkerType(
        name=type_name, kind="CloneSet", resource=CLONESETS, observe=observe, plan=plan, config=None
    )
    path = CLONESETS.path(namespace, "web")
    await kube.create(CLONESETS.path(namespace), _cloneset(namespace, broken=True))
    current = await kube.get(path)
    other = {
        "type": "Other",
        "status": "True",
        "reason": "Kept",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    await kube.replace(
        CLONESETS.path(namespace, "web", "status"), {**current, "status": {"conditions": [other]}}
    )

    await declare(jetstream, worker_bus(type_name))
    settings = WorkerSettings(
        nats_url=dev_env.nats_url,
        kubeconfig=dev_env.kubeconfig,
        http_port=free_port(),
        options=RuntimeOptions(),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(worker, settings, stop))
    try:
        await publish_trigger(jetstream, namespace, "web", worker_type=type_name)

        async def condition_types() -> list[str]:
            return [c["type"] for c in (await kube.get(path)).get("status", {}).get("conditions") or []]

        async def failed() -> bool:
            return CONDITION_TYPE in await condition_types()

        await eventually_async(failed, 60, interval=0.2)
        headers = await landed(jetstream, deadletter_subject(type_name, namespace, "web"))
        assert headers is not None
        assert headers["Flotilla-Reason"] == "terminal"

        await kube.patch(path, {"metadata": {"labels": {"broken": None}}})
        await publish_trigger(jetstream, namespace, "web", worker_type=type_name)

        async def cleared() -> bool:
            return await condition_types() == ["Other"]

        await eventually_async(cleared, 30, interval=0.2)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        with contextlib.suppress(NotFoundError):
            await jetstream.delete_consumer(RECONCILE_STREAM, f"worker-{type_name}")


def _cloneset(namespace: str, broken: bool) -> JsonObject:
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "CloneSet",
        "metadata": {"name": "web", "namespace": namespace, "labels": {"broken": "yes"} if broken else {}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1"}]},
            },
        },
    }
