"""The watcher process: connect, declare the bus, elect a leader, and while leading run the
informers, the publisher, the checkpointer and the periodic resync.

Called by :mod:`watcher.command` (``flotilla watcher``); tests and benchmarks call
:func:`run_term` directly. One :class:`Term` is one leadership term: it loads the checkpoints,
runs until cancelled (leadership lost or shutdown) and saves the last safe checkpoints on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from nats.js import JetStreamContext

from flotilla.runtime.health import Health
from flotilla.runtime.httpserver import bound_port, start_http_server
from flotilla.runtime.kube import KubeClient
from flotilla.runtime.logs import setup_logging
from flotilla.runtime.natsconn import connect
from flotilla.runtime.tracing import setup_tracing, shutdown_tracing
from schemas.bus.bootstrap import BusConfigError, declare
from schemas.bus.permissions import WATCHER_USER, inbox_prefix
from schemas.bus.settings import BusSettings
from schemas.bus.streams import WATCHER_BUCKET, watcher_bus
from watcher import metrics
from watcher.checkpoint import CheckpointStore, KvCheckpoints, flush, run_checkpointer
from watcher.config import TypeSpec, WatcherConfig, WatchTarget
from watcher.election import LeaderElector
from watcher.informer import Informer, KubeReader, list_all
from watcher.lease import ElectionTiming
from watcher.mapping import Router
from watcher.pipeline import Pipeline

log = logging.getLogger("flotilla.watcher")

T = TypeVar("T")


@dataclass(frozen=True)
class Options:
    """Everything the process needs besides the :class:`WatcherConfig`."""

    kubeconfig: Path | None
    nats_url: str
    lease_namespace: str
    lease_name: str
    identity: str
    timing: ElectionTiming
    http_port: int | None
    bus: BusSettings = field(default_factory=BusSettings)  # replicas and byte limits


class Term:
    """One leadership term: everything the active replica runs."""

    def __init__(
        self,
        config: WatcherConfig,
        kube: KubeReader,
        js: JetStreamContext,
        store: CheckpointStore,
        health: Health,
        scope: str,
    ) -> None:
        self.config, self.kube, self.js, self.store, self.health = config, kube, js, store, health
        self.router = Router(config)
        self.pipeline = Pipeline(self.router, max_in_flight=config.max_in_flight)
        self.keys = {stream: stream.checkpoint_key(scope, stream.namespace) for stream in config.streams()}
        self._saved: dict[str, str] = {}
        self._resync_wanted: asyncio.Queue[TypeSpec] = asyncio.Queue()

    async def resync(self, spec: TypeSpec) -> None:
        """Trigger every key of ``spec``: list its primary resource and publish one trigger per object."""
        primary = WatchTarget(spec.resource, spec.label_selector)
        for stream in self._streams_of(primary):
            objects, list_rv = await list_all(self.kube, stream, stream.namespace)
            # Each round its own dedup ids (list rv + wall clock): an unchanged cluster lists at
            # the same rv, and rounds closer than the duplicate window must still trigger.
            round_id = f"{list_rv}.{time.time_ns()}"
            # A type keyed by a filtered primary resource (pods) triggers only its own keys: the
            # types owning those pods have resyncs of their own.
            only = spec.name if spec.primary_when is not None else None
            keys = self.pipeline.relist(
                ("resync", spec.name, stream.namespace), stream, objects, "", round_id=round_id, only=only
            )
            where = f" in {stream.namespace}" if stream.namespace else ""
            log.info("resync of %s%s: %d keys triggered (rv %s)", spec.name, where, keys, list_rv)
        metrics.RESYNCS.labels(spec.name).inc()

    def _streams_of(self, target: WatchTarget) -> list[WatchTarget]:
        return [stream for stream in self.keys if stream.unbound() == target]

    def _on_gone(self, target: WatchTarget) -> None:
        """After a 410 on an owned resource, every key of the owning types is looked at."""
        for spec in self.router.types_fed_by(target):
            if WatchTarget(spec.resource, spec.label_selector) != target.unbound():
                self._resync_wanted.put_nowait(spec)

    async def _resyncer(self) -> None:
        period = self.config.resync_seconds
        next_full = asyncio.get_running_loop().time() + period * random.uniform(0.9, 1.1)
        while True:
            timeout = max(0.0, next_full - asyncio.get_running_loop().time())
            try:
                wanted = [await asyncio.wait_for(self._resync_wanted.get(), timeout)]
            except TimeoutError:
                wanted = list(self.config.types)
                next_full = asyncio.get_running_loop().time() + period * random.uniform(0.9, 1.1)
            for spec in dict.fromkeys(wanted):
                try:
                    await self.resync(spec)
                except Exception as exc:  # the API is away: the next resync or relist covers it
                    log.warning("resync of %s failed: %s: %s", spec.name, type(exc).__name__, exc)

    async def run(self) -> None:
        """Run until cancelled; save the last safe checkpoints on the way out."""
        starts = {target: await self.store.load(key) for target, key in self.keys.items()}
        # node -> every DaemonSet needs the keys, an orphan pod the CloneSets' selectors, at once
        for spec in dict.fromkeys(self.router.needs_index() + self.router.needs_selectors()):
            for stream in self._streams_of(WatchTarget(spec.resource, spec.label_selector)):
                if starts.get(stream):  # resuming: list to know them (without triggering anything)
                    objects, _ = await list_all(self.kube, stream, stream.namespace)
                    self.pipeline.index_objects(stream, objects, replace=True)
        informers = [
            Informer(
                self.kube,
                target,
                self.pipeline,
                self.health,
                target.namespace,
                self.config.watch_timeout_seconds,
                self._on_gone,
            )
            for target in self.keys
        ]
        tasks = [asyncio.create_task(informer.run(starts[informer.target])) for informer in informers]
        tasks.append(asyncio.create_task(self.pipeline.run_publisher(self.js)))
        tasks.append(
            asyncio.create_task(
                run_checkpointer(self.store, self.pipeline.ledger, self.keys, self.config.checkpoint_seconds)
            )
        )
        tasks.append(asyncio.create_task(self._resyncer()))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(flush(self.store, self.pipeline.ledger, self.keys, self._saved), 2.0)


async def _declare_bus(js: JetStreamContext, health: Health, settings: BusSettings) -> None:
    """Declare streams and the checkpoint bucket; a conflict is a non-ready probe, retried."""
    delay = 1.0
    while True:
        try:
            for declared in await declare(js, watcher_bus(with_event_log=False), settings):
                if declared.action != "unchanged":
                    log.info(
                        "bus: %s %s %s %s",
                        declared.kind,
                        declared.name,
                        declared.action,
                        "; ".join(declared.drift),
                    )
            health.set_ready("bus")
            return
        except BusConfigError as err:
            health.set_not_ready("bus", str(err))
            log.error("bus: %s (retrying in %.0fs)", err, delay)
        except Exception as err:  # NATS away or JetStream not enabled
            health.set_not_ready("bus", f"{type(err).__name__}: {err}")
            log.error(
                "bus: cannot declare streams: %s: %s (retrying in %.0fs)", type(err).__name__, err, delay
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)


async def _first_done(*awaitables: Awaitable[object]) -> None:
    """Run all; when one finishes (or fails), cancel the others and re-raise its error."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def run_watcher(config: WatcherConfig, options: Options, stop: asyncio.Event) -> int:
    """The whole process until ``stop`` is set; returns the exit code."""
    health = Health("nats", "bus", "kube", "lease")
    runner = await start_http_server(health, options.http_port)
    log.info(
        "watcher %s: types %s, http port %d",
        options.identity,
        ",".join(config.type_names()),
        bound_port(runner),
    )
    kube = KubeClient.from_environment(options.kubeconfig)
    stopping: asyncio.Future[object] = asyncio.ensure_future(stop.wait())
    try:
        nc = await _until_stopped(
            connect(
                options.nats_url,
                name=f"flotilla-watcher-{options.identity}",
                health=health,
                inbox_prefix=inbox_prefix(WATCHER_USER),
            ),
            stopping,
        )
        if nc is None:
            return 0
        js = nc.jetstream()
        await _until_stopped(_declare_bus(js, health, options.bus), stopping)
        if stop.is_set():
            return 0
        store = KvCheckpoints(js, WATCHER_BUCKET)
        elector = LeaderElector(
            kube, options.lease_namespace, options.lease_name, options.identity, health, options.timing
        )
        while not stop.is_set():
            metrics.IS_LEADER.set(0)
            await _until_stopped(elector.acquire(), stopping)
            if stop.is_set():
                break
            metrics.IS_LEADER.set(1)
            try:
                term = Term(config, kube, js, store, health, options.lease_name)
                await _first_done(term.run(), elector.hold(), stop.wait())
            except Exception:
                log.exception("active watcher failed; stepping down and retrying")
                await elector.release()
                await asyncio.sleep(options.timing.retry_period)
        metrics.IS_LEADER.set(0)
        await elector.release()
        await nc.drain()
        return 0
    finally:
        health.alive = False
        stopping.cancel()
        await kube.close()
        shutdown_tracing()
        await runner.cleanup()


async def _until_stopped(work: Awaitable[T], stopping: asyncio.Future[object]) -> T | None:
    """``work``'s result, or None when ``stopping`` completes first (work is then cancelled)."""
    task = asyncio.ensure_future(work)
    waiting: set[asyncio.Future[object]] = {task, stopping}  # type: ignore[arg-type]
    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None


def main(config: WatcherConfig, options: Options) -> int:
    setup_logging()
    setup_tracing("flotilla-watcher")

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await run_watcher(config, options, stop)

    return asyncio.run(run())
