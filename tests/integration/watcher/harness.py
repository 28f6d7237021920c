"""Test harness for the watcher: a per-test worker type, real `flotilla watcher` processes,
a JetStream consumer collecting the triggers, and a ConfigMap mutator.

Used by tests/integration/watcher and tests/faults/test_watcher_*.py. Each test gets its own
worker type (``w<hex>``), label selector, Lease and consumer, so tests never see each other's
triggers (the RECONCILE stream is a work queue: consumer filters must not overlap).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import FetchTimeoutError, NotFoundError

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.errors import AlreadyExists, KubeError
from flotilla.runtime.kube import NAMESPACES, KubeClient
from schemas.bus.bootstrap import declare_stream
from schemas.bus.envelope import Envelope, decode
from schemas.bus.streams import RECONCILE_STREAM, reconcile_stream
from tests.support.polling import What, eventually_async
from tests.support.workers import FLOTILLA, free_port

CM_PATH = "/api/v1/namespaces/{ns}/configmaps"


@dataclass(frozen=True)
class WatchSetup:
    """One test's worker type: ConfigMaps labelled ``flotilla.dev/wtest=<id>`` and the pods they own."""

    namespace: str
    type_name: str
    label: str
    lease_name: str
    config_path: Path

    @classmethod
    def create(cls, tmp_path: Path, namespace: str) -> WatchSetup:
        ident = secrets.token_hex(4)
        type_name, label = f"w{ident}", ident
        config = tmp_path / f"watcher-{ident}.yaml"
        config.write_text(
            f"""types:
  {type_name}:
    resource: {{group: "", version: v1, resource: configmaps, kind: ConfigMap}}
    labelSelector: flotilla.dev/wtest={label}
    owned:
      - resource: {{group: "", version: v1, resource: pods, kind: Pod}}
        via: controller-owner
"""
        )
        return cls(namespace, type_name, label, f"watcher-{ident}", config)

    def key(self, name: str) -> str:
        return f"{self.type_name}/{self.namespace}/{name}"


@dataclass
class WatcherProcess:
    """A real ``flotilla watcher`` subprocess with its own HTTP port and log file."""

    setup: WatchSetup
    kubeconfig: Path
    nats_url: str
    identity: str
    log_path: Path
    extra: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> WatcherProcess:
        args = [
            str(FLOTILLA),
            "watcher",
            f"--config={self.setup.config_path}",
            f"--namespace={self.setup.namespace}",
            f"--kubeconfig={self.kubeconfig}",
            f"--nats-url={self.nats_url}",
            f"--lease-namespace={self.setup.namespace}",
            f"--lease-name={self.setup.lease_name}",
            f"--identity={self.identity}",
            f"--http-port={self.port}",
            *self.extra,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env["OTEL_SDK_DISABLED"] = "false"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=log, env=env, start_new_session=True)
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
        if self.process is None:
            return None
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait(5)
        return self.process.returncode

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(5)

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as err:
            return int(err.code), bytes(err.read())
        except OSError:
            return 0, b""

    def readyz(self) -> tuple[int, dict[str, object]]:
        status, body = self.get("/readyz")
        return status, (orjson.loads(body) if body else {})

    def metric(self, name: str) -> float:
        """Sum of a Prometheus series over its labels (0 when absent)."""
        _, body = self.get("/metrics")
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(name) and not line.startswith("#"):
                head, _, value = line.rpartition(" ")
                if head == name or head.startswith(name + "{"):
                    total += float(value)
        return total

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass(frozen=True)
class Received:
    subject: str
    envelope: Envelope
    headers: dict[str, str]
    at: float


class TriggerCollector:
    """Pulls (and acks) every trigger of one worker type from RECONCILE in the background."""

    def __init__(self, nc: NATS, setup: WatchSetup) -> None:
        self.nc, self.setup = nc, setup
        self.js: JetStreamContext = nc.jetstream()
        self.received: list[Received] = []
        self._task: asyncio.Task[None] | None = None
        self._durable = f"test-{setup.type_name}"

    async def start(self) -> TriggerCollector:
        await declare_stream(self.js, reconcile_stream())
        await self.js.add_consumer(
            RECONCILE_STREAM,
            api.ConsumerConfig(
                durable_name=self._durable,
                filter_subject=f"flotilla.reconcile.{self.setup.type_name}.>",
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=30,
                inactive_threshold=600,
            ),
        )
        self._task = asyncio.create_task(self._pull())
        return self

    async def _pull(self) -> None:
        sub = await self.js.pull_subscribe_bind(self._durable, RECONCILE_STREAM)
        while True:
            try:
                batch: list[Msg] = await sub.fetch(256, timeout=1)
            except (FetchTimeoutError, TimeoutError):
                continue
            except Exception:  # NATS restarting in a fault test
                await asyncio.sleep(0.5)
                continue
            for msg in batch:
                self.received.append(
                    Received(msg.subject, decode(msg.data), dict(msg.headers or {}), time.time())
                )
                with contextlib.suppress(Exception):
                    await msg.ack()

    async def stop(self) -> None:
        """Stop pulling and delete the consumer; bounded, so a confused client never hangs a test."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=5)
        with contextlib.suppress(NotFoundError, Exception):
            await asyncio.wait_for(self.js.delete_consumer(RECONCILE_STREAM, self._durable), 5)

    def for_key(self, name: str) -> list[Received]:
        key = self.setup.key(name)
        return [r for r in self.received if r.envelope.key == key]

    def clear(self) -> None:
        self.received.clear()

    async def wait_for(self, predicate: Callable[[], bool], within: float, what: What) -> None:
        await eventually_async(predicate, within, interval=0.1, what=what)

    def seen_rv(self, name: str, resource_version: str) -> bool:
        """A trigger for ``name`` carried this resourceVersion (or a later one)."""
        return any(int(r.envelope.resource_version or 0) >= int(resource_version) for r in self.for_key(name))


class ConfigMaps:
    """Creates and changes the test type's ConfigMaps; remembers each one's latest resourceVersion."""

    def __init__(self, kube: KubeClient, setup: WatchSetup) -> None:
        self.kube, self.setup = kube, setup
        self.latest: dict[str, str] = {}
        self.uids: dict[str, str] = {}

    async def create(self, name: str) -> dict[str, object]:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"flotilla.dev/wtest": self.setup.label}},
            "data": {"n": "0"},
        }
        obj = await self.kube.create(CM_PATH.format(ns=self.setup.namespace), body)
        self.latest[name] = obj["metadata"]["resourceVersion"]
        self.uids[name] = obj["metadata"]["uid"]
        return obj

    async def change(self, name: str) -> str:
        path = CM_PATH.format(ns=self.setup.namespace) + f"/{name}"
        obj = await self.kube.patch(path, {"data": {"n": secrets.token_hex(4)}})
        self.latest[name] = obj["metadata"]["resourceVersion"]
        return self.latest[name]

    async def delete(self, name: str) -> None:
        await self.kube.delete(CM_PATH.format(ns=self.setup.namespace) + f"/{name}")
        self.latest.pop(name, None)


async def wait_ready(watcher: WatcherProcess, within: float = 60.0) -> None:
    await eventually_async(
        lambda: watcher.readyz()[0] == 200,
        within,
        interval=0.2,
        what=lambda: f"{watcher.identity} ready\n{watcher.log_text()[-3000:]}",
    )


async def wait_leader(watchers: list[WatcherProcess], within: float = 60.0) -> WatcherProcess:
    """The one replica whose flotilla_watcher_is_leader is 1."""
    found: list[WatcherProcess] = []

    def one_leads() -> bool:
        found[:] = [w for w in watchers if w.alive() and w.metric("flotilla_watcher_is_leader") == 1.0]
        return len(found) == 1

    await eventually_async(one_leads, within, interval=0.5, what="a single leader")
    return found[0]


class Churn:
    """Random ConfigMap changes (and creations) in the background; API errors are tolerated."""

    def __init__(self, cms: ConfigMaps, rng: random.Random, names: list[str]) -> None:
        self.cms, self.rng, self.names = cms, rng, names
        self.changes = 0
        self.failures = 0
        self._created = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            try:
                if self.rng.random() < 0.1:
                    name = f"new-{self._created}"
                    self._created += 1
                    await self.cms.create(name)
                    self.names.append(name)
                else:
                    await self.cms.change(self.rng.choice(self.names))
                self.changes += 1
            except Exception:  # the API server is restarting: the change may or may not have happened
                self.failures += 1
                await asyncio.sleep(0.5)
            await asyncio.sleep(self.rng.uniform(0.02, 0.25))

    def start(self) -> Churn:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def current_versions(kube: KubeClient, setup: WatchSetup) -> dict[str, str]:
    """name -> resourceVersion of every ConfigMap of the test type, as the API server has them now."""
    listed = await kube.get(
        CM_PATH.format(ns=setup.namespace), {"labelSelector": f"flotilla.dev/wtest={setup.label}"}
    )
    return {item["metadata"]["name"]: item["metadata"]["resourceVersion"] for item in listed["items"]}


async def assert_every_change_triggered(
    kube: KubeClient, setup: WatchSetup, collector: TriggerCollector, within: float = 90.0
) -> dict[str, str]:
    """Every ConfigMap's current state (its latest change) eventually reaches a trigger."""
    versions = await current_versions(kube, setup)
    await collector.wait_for(
        lambda: all(collector.seen_rv(name, rv) for name, rv in versions.items()),
        within,
        lambda: (
            "a trigger for the latest change of every ConfigMap; missing: "
            + ", ".join(f"{n}@{rv}" for n, rv in versions.items() if not collector.seen_rv(n, rv))
        ),
    )
    return versions


# -- fixtures (re-exported by the conftest of tests/integration/watcher and tests/faults) ----


@pytest.fixture(name="setup")
def setup_fixture(tmp_path: Path, namespace: str) -> WatchSetup:
    return WatchSetup.create(tmp_path, namespace)


@pytest.fixture(name="collector")
async def collector_fixture(nats_url: str, setup: WatchSetup) -> AsyncIterator[TriggerCollector]:
    """Collects this test's triggers over its own NATS connection (closed with a bound)."""
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=-1, reconnect_time_wait=0.5)
    found = await TriggerCollector(nc, setup).start()
    try:
        yield found
    finally:
        await found.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), 5)


def start_watcher(
    env: DevEnvironment, setup: WatchSetup, tmp_path: Path, name: str, *extra: str
) -> WatcherProcess:
    """A watcher subprocess for ``setup`` named ``name`` (its log in ``tmp_path``)."""
    return WatcherProcess(
        setup, env.kubeconfig, env.nats_url, name, tmp_path / f"{name}.log", extra=extra
    ).start()


@dataclass
class Watchers:
    """Starts watcher subprocesses for one test's ``setup``; the fixture stops them all after it."""

    env: DevEnvironment
    setup: WatchSetup
    tmp_path: Path
    started: list[WatcherProcess] = field(default_factory=list)

    def start(self, name: str, *extra: str) -> WatcherProcess:
        watcher = start_watcher(self.env, self.setup, self.tmp_path, name, *extra)
        self.started.append(watcher)
        return watcher


@pytest.fixture(name="watchers")
def watchers_fixture(dev_env: DevEnvironment, setup: WatchSetup, tmp_path: Path) -> Iterator[Watchers]:
    found = Watchers(dev_env, setup, tmp_path)
    yield found
    for watcher in found.started:
        watcher.stop()


async def restart_apiserver_and_settle(env: DevEnvironment, kube: KubeClient, within: float = 180.0) -> None:
    """Restart kube-apiserver, then wait until kube-controller-manager works again.

    A freshly started API server answers some early requests with 403 while its RBAC caches
    fill; kube-controller-manager's informers then back off for a while. The next test's
    namespace needs its default ServiceAccount, so wait until a new namespace gets one.
    """
    assert env.cluster is not None
    await asyncio.to_thread(env.cluster.restart_apiserver)
    name = f"settle-{secrets.token_hex(3)}"
    deadline = time.monotonic() + within
    while True:
        try:
            await kube.create(
                NAMESPACES.path(), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            )
            break
        except AlreadyExists:
            break
        except KubeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    try:
        while True:
            try:
                await kube.get(f"/api/v1/namespaces/{name}/serviceaccounts/default")
                return
            except KubeError:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"no default ServiceAccount {within}s after the API server restart"
                    ) from None
                await asyncio.sleep(0.5)
    finally:
        with contextlib.suppress(KubeError):
            await kube.delete(NAMESPACES.path(name))
