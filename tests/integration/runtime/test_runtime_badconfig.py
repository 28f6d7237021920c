"""Bad configuration gives a clear error and a non-ready probe, never a crash loop: an unreachable
NATS, a conflicting stream, a missing bus, a NATS_CREDS file that cannot be used."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import nats
import nats.js.errors
import orjson
from nats.js import api

from flotilla.devcluster.nats import NatsServer
from flotilla.runtime.kube import KubeClient
from tests.support.fixtures import StartWorker
from tests.support.natscreds import SAMPLE_CREDS
from tests.support.polling import eventually_async
from tests.support.workers import create_configmaps, free_port, publish_trigger, reconciled_values


async def _probe(url: str, path: str) -> tuple[int, dict[str, object]]:
    try:
        async with aiohttp.ClientSession() as http, http.get(url + path) as response:
            body = await response.read()
            return response.status, orjson.loads(body) if path == "/readyz" else {}
    except aiohttp.ClientError:
        return 0, {}


async def test_unreachable_nats_is_not_ready_and_keeps_running(start_worker: StartWorker) -> None:
    worker = start_worker("--nats-url", f"nats://127.0.0.1:{free_port()}")

    async def not_ready_for_nats() -> bool:
        status, body = await _probe(worker.url, "/readyz")
        nats_check = body.get("nats")
        return (
            status == 503 and isinstance(nats_check, dict) and "cannot connect" in str(nats_check["reason"])
        )

    await eventually_async(not_ready_for_nats, 20)
    await asyncio.sleep(3)
    assert worker.proc is not None
    assert worker.proc.poll() is None
    assert (await _probe(worker.url, "/healthz"))[0] == 200


async def test_conflicting_stream_is_reported_then_recovered(
    start_worker: StartWorker, tmp_path: Path
) -> None:
    server = NatsServer(run_dir=tmp_path / "private-nats")
    server.start()
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(
            api.StreamConfig(
                name="RECONCILE", subjects=["flotilla.reconcile.>"], storage=api.StorageType.MEMORY
            )
        )
        worker = start_worker("--nats-url", server.url)

        async def bus_conflict() -> bool:
            status, body = await _probe(worker.url, "/readyz")
            reason = (
                str((body.get("bus") or {}).get("reason", "")) if isinstance(body.get("bus"), dict) else ""
            )
            return status == 503 and "RECONCILE" in reason and "cannot correct" in reason

        await eventually_async(bus_conflict, 20)
        assert worker.proc is not None
        assert worker.proc.poll() is None

        await js.delete_stream("RECONCILE")  # the operator follows the advice in the error

        async def ready() -> bool:
            return (await _probe(worker.url, "/readyz"))[0] == 200

        await eventually_async(ready, 25)
        info = await js.stream_info("RECONCILE")
        assert info.config.storage == api.StorageType.FILE
        assert info.config.max_msgs_per_subject == 1
        await nc.close()
    finally:
        server.stop()


async def test_worker_declares_the_bus_again_when_it_disappears(
    start_worker: StartWorker, tmp_path: Path, kube: KubeClient, namespace: str
) -> None:
    """NATS lost its store (or an operator deleted the stream): the worker re-declares and goes on."""
    server = NatsServer(run_dir=tmp_path / "private-nats")
    server.start()
    try:
        worker = start_worker("--nats-url", server.url)

        async def ready() -> bool:
            return (await _probe(worker.url, "/readyz"))[0] == 200

        await eventually_async(ready, 30)
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.delete_stream("RECONCILE")

        async def consumer_back() -> bool:
            try:
                await js.consumer_info("RECONCILE", "worker-testcm")
            except nats.js.errors.NotFoundError:
                return False
            return True

        await eventually_async(consumer_back, 20)
        await create_configmaps(kube, namespace, ["again"], {"desired": "v1"})
        await publish_trigger(js, namespace, "again")

        async def reconciled() -> bool:
            return (await reconciled_values(kube, namespace)).get("again") == "v1"

        await eventually_async(reconciled, 30)
        await nc.close()
    finally:
        server.stop()


async def test_unusable_nats_creds_file_is_not_ready_and_keeps_running(
    start_worker: StartWorker, tmp_path: Path
) -> None:
    """NATS_CREDS as the Helm chart sets it; the file is checked again at every connect attempt."""
    creds = tmp_path / "nats.creds"
    worker = start_worker(env={"NATS_CREDS": str(creds)})

    async def nats_reason(part: str) -> bool:
        status, body = await _probe(worker.url, "/readyz")
        check = body.get("nats")
        return status == 503 and isinstance(check, dict) and part in str(check["reason"])

    await eventually_async(lambda: nats_reason(f"NATS_CREDS={creds}: no such file"), 20)
    await asyncio.sleep(3)
    assert worker.proc is not None
    assert worker.proc.poll() is None
    assert (await _probe(worker.url, "/healthz"))[0] == 200

    creds.write_text("user: flotilla\n")
    await eventually_async(lambda: nats_reason("not a NATS credentials file"), 30)

    # well-formed: nats.py loads it (nkeys is a dependency) and connects; this test server asks for
    # no signature, so the worker turns ready. A server in operator mode would check the JWT.
    creds.write_text(SAMPLE_CREDS)

    async def ready() -> bool:
        return (await _probe(worker.url, "/readyz"))[0] == 200

    await eventually_async(ready, 30)
    assert worker.proc.poll() is None
