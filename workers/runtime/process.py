"""One worker process from start to stop: probes, NATS, bus declaration, API client, consumer loop.

Called by ``flotilla worker <type>`` (:mod:`workers.runtime.cli`) and by tests that run a
worker in-process. The HTTP port (``/metrics``, ``/healthz``, ``/readyz``) comes up first, so
a bad configuration (NATS unreachable, a stream with a conflicting config) shows as a
non-ready probe plus an error log line while the process keeps retrying; it never exits
into a crash loop. ``stop`` (SIGTERM) ends the loop gracefully.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import APIError

from flotilla.runtime.errors import KubeError
from flotilla.runtime.health import Health
from flotilla.runtime.httpserver import start_http_server
from flotilla.runtime.kube import KubeClient
from flotilla.runtime.natsconn import connect
from flotilla.runtime.tracing import setup_tracing, shutdown_tracing
from schemas.bus.bootstrap import BusConfigError, declare
from schemas.bus.permissions import inbox_prefix, worker_user
from schemas.bus.settings import BusSettings
from schemas.bus.streams import FAILURE_BUCKET, LEASE_BUCKET, BusSpec, check_timing, worker_bus
from workers.runtime.consumer import RuntimeOptions, WorkerRuntime
from workers.runtime.contract import WorkerType
from workers.runtime.failures import FailureCounts
from workers.runtime.lease import KeyLeases

log = logging.getLogger("flotilla.worker.process")
T = TypeVar("T")


@dataclass(frozen=True)
class WorkerSettings:
    """Where a worker connects to and how it is tuned."""

    nats_url: str
    kubeconfig: Path | None = None
    http_port: int | None = None  # None: FLOTILLA_HTTP_PORT or 8080
    options: RuntimeOptions = field(default_factory=RuntimeOptions)
    holder: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    bus: BusSettings = field(default_factory=BusSettings)  # replicas and byte limits


async def _until(stop: asyncio.Event, awaitable: Awaitable[T]) -> T | None:
    """``awaitable``'s result, or None if ``stop`` is set first (the awaitable is cancelled)."""
    work: asyncio.Future[T] = asyncio.ensure_future(awaitable)
    stopped = asyncio.create_task(stop.wait())
    waiting: set[asyncio.Future[Any]] = {work, stopped}
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if work.done():
        return work.result()
    work.cancel()
    return None


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    await _until(stop, asyncio.sleep(seconds))


async def run_worker(
    worker: WorkerType[Any, Any], settings: WorkerSettings, stop: asyncio.Event, health: Health | None = None
) -> int:
    """Run until ``stop``; returns the process exit code."""
    options = settings.options
    check_timing(options.lease_ttl, options.ack_wait, options.heartbeat_every, options.heartbeat_every)
    setup_tracing(f"flotilla-worker-{worker.name}")
    health = health or Health("nats", "bus", "kube")
    runner = await start_http_server(health, settings.http_port)
    try:
        nc = await _until(
            stop,
            connect(
                settings.nats_url,
                name=f"flotilla-worker-{worker.name}",
                health=health,
                inbox_prefix=inbox_prefix(worker_user(worker.name)),
            ),
        )
        if nc is None:
            return 0
        try:
            return await _run_connected(worker, settings, stop, health, nc.jetstream())
        finally:
            health.alive = False
            await nc.drain()
    finally:
        shutdown_tracing()
        await runner.cleanup()


def _bus_spec(worker: WorkerType[Any, Any], settings: WorkerSettings) -> BusSpec:
    options = settings.options
    return worker_bus(
        worker.name,
        ack_wait=options.ack_wait,
        lease_ttl=options.lease_ttl,
        max_ack_pending=options.max_ack_pending,
    )


async def _declare_until_ready(
    worker: WorkerType[Any, Any],
    settings: WorkerSettings,
    stop: asyncio.Event,
    health: Health,
    js: JetStreamContext,
) -> bool:
    spec = _bus_spec(worker, settings)
    while not stop.is_set():
        try:
            await declare(js, spec, settings.bus)
            health.set_ready("bus")
            return True
        except BusConfigError as err:
            health.set_not_ready("bus", str(err))
            log.error("bus configuration conflict: %s (retrying in 10s)", err)
            await _sleep_or_stop(stop, 10.0)
        except (TimeoutError, NatsError, APIError, OSError) as err:
            health.set_not_ready("bus", f"{type(err).__name__}: {err}")
            log.warning("declaring the bus failed: %s: %s (retrying)", type(err).__name__, err)
            await _sleep_or_stop(stop, 2.0)
    return False


async def _kube_client(
    settings: WorkerSettings, stop: asyncio.Event, health: Health, user_agent: str
) -> KubeClient | None:
    """The API client; a missing or broken kubeconfig is a non-ready ``kube`` check, retried."""
    while not stop.is_set():
        try:
            return KubeClient.from_environment(settings.kubeconfig, user_agent=user_agent)
        except Exception as err:  # the kubernetes config loaders raise several unrelated types
            reason = f"cannot load Kubernetes credentials: {type(err).__name__}: {err}"
            health.set_not_ready("kube", reason)
            log.error("%s (retrying in 10s)", reason)
            await _sleep_or_stop(stop, 10.0)
    return None


async def _check_kube(api: KubeClient, stop: asyncio.Event, health: Health) -> None:
    while not stop.is_set():
        try:
            await api.request("GET", "/version", retry=False)
            health.set_ready("kube")
        except KubeError as err:
            health.set_not_ready("kube", str(err))
        await _sleep_or_stop(stop, 10.0)


async def _run_connected(
    worker: WorkerType[Any, Any],
    settings: WorkerSettings,
    stop: asyncio.Event,
    health: Health,
    js: JetStreamContext,
) -> int:
    if not await _declare_until_ready(worker, settings, stop, health, js):
        return 0
    lease_kv = await js.key_value(LEASE_BUCKET)
    leases = KeyLeases(lease_kv, settings.holder, settings.options.lease_ttl, js=js, bucket=LEASE_BUCKET)
    failures = FailureCounts(await js.key_value(FAILURE_BUCKET))
    api = await _kube_client(settings, stop, health, f"flotilla-worker-{worker.name}/{settings.holder}")
    if api is None:
        return 0
    async with api:
        probe = asyncio.create_task(_check_kube(api, stop, health))
        try:
            spec = _bus_spec(worker, settings)
            runtime = WorkerRuntime(
                worker,
                js,
                api,
                leases,
                failures,
                settings.options,
                redeclare=lambda: declare(js, spec, settings.bus),
            )
            log.info("worker %s started (holder %s)", worker.name, settings.holder)
            await runtime.run(stop)
        finally:
            probe.cancel()
    log.info("worker %s stopped", worker.name)
    return 0
