"""Helpers for tests and benchmarks that drive real worker processes of the ``testcm`` type.

Start ``flotilla worker testcm`` as separate processes (:class:`WorkerProcess`), publish
triggers straight to JetStream (:func:`publish_trigger`), create ConfigMaps through the
runtime's API client, and check the instrumented intervals (:func:`reconcile_intervals`,
:func:`overlaps`).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from nats.js import JetStreamContext

from flotilla.runtime.kube import CONFIGMAPS, JsonObject, KubeClient
from schemas.bus.envelope import Envelope, EventType, encode, make_key
from schemas.bus.subjects import reconcile_subject
from tests.support.polling import eventually_async
from watcher.pipeline import publish_trigger as watcher_publish

REPO = Path(__file__).resolve().parents[2]
FLOTILLA = REPO / ".venv" / "bin" / "flotilla"
LABEL = "flotilla.dev/testcm"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WorkerProcess:
    """One ``flotilla worker testcm`` OS process."""

    nats_url: str
    kubeconfig: Path
    record_dir: Path
    log_dir: Path
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        args = [
            str(FLOTILLA), "worker", "testcm", "--plugin", "tests.support.testcm:WORKER",
            "--nats-url", self.nats_url, "--kubeconfig", str(self.kubeconfig), "--http-port", str(self.port),
            *self.extra_args,
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO), "TESTCM_RECORD_DIR": str(self.record_dir), **self.env}
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"worker-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> float:
        """SIGKILL; returns the wall-clock time of the kill."""
        assert self.proc is not None
        self.proc.kill()
        killed = time.time()
        self.proc.wait(10)
        return killed

    def wait(self, timeout: float = 40) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        self.terminate()
        try:
            self.wait(40)
        except subprocess.TimeoutExpired:
            self.kill()


async def publish_trigger(
    js: JetStreamContext,
    namespace: str,
    name: str,
    event: EventType = EventType.MODIFIED,
    worker_type: str = "testcm",
    msg_id: str | None = None,
) -> None:
    """Publish what the watcher would, through the watcher's own publish code
    (:func:`watcher.pipeline.publish_trigger`: trace context, ``Nats-Expected-Stream``)."""
    envelope = Envelope(
        key=make_key(worker_type, namespace, name),
        event_type=event,
        object_kind="ConfigMap",
        object_uid="test",
        resource_version="0",
        observed_at=time.time(),
    )
    await publish_body(js, reconcile_subject(worker_type, namespace, name), encode(envelope), msg_id)


async def publish_body(js: JetStreamContext, subject: str, body: bytes, msg_id: str | None = None) -> None:
    """Publish any body (a poison one too) to a reconcile subject exactly as the watcher publishes."""
    await asyncio.wait_for(await watcher_publish(js, subject, body, msg_id), 10)


def configmap(namespace: str, name: str, data: dict[str, str]) -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {LABEL: "true"}},
        "data": data,
    }


async def create_configmaps(
    api: KubeClient, namespace: str, names: Iterable[str], data: dict[str, str]
) -> None:
    gate = asyncio.Semaphore(32)

    async def one(name: str) -> None:
        async with gate:
            await api.create(CONFIGMAPS.path(namespace), configmap(namespace, name, data))

    await asyncio.gather(*(one(n) for n in names))


async def reconciled_values(api: KubeClient, namespace: str) -> dict[str, str | None]:
    listing = await api.get(CONFIGMAPS.path(namespace), {"labelSelector": f"{LABEL}=true"})
    return {
        item["metadata"]["name"]: (item["metadata"].get("annotations") or {}).get(
            "testcm.flotilla.dev/reconciled"
        )
        for item in listing.get("items", [])
    }


async def wait_for(condition: Callable[[], Awaitable[bool]], within: float, interval: float = 0.3) -> bool:
    """Whether ``condition`` came true within ``within`` seconds.

    Kept for modules not yet moved to :func:`tests.support.polling.eventually_async`, which
    fails with a message instead of returning False.
    """
    try:
        await eventually_async(condition, within, interval)
    except AssertionError:
        return False
    return True


def read_records(record_dir: Path) -> list[dict[str, object]]:
    records: list[dict[str, object]] = []
    for path in sorted(record_dir.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            if line.strip():
                try:
                    records.append(orjson.loads(line))
                except orjson.JSONDecodeError:  # a line cut by SIGKILL
                    continue
    return records


@dataclass(frozen=True)
class Interval:
    key: str
    pid: int
    start: float
    end: float
    outcome: str


def reconcile_intervals(
    records: list[dict[str, object]], killed: dict[int, float] | None = None
) -> list[Interval]:
    """Pair start/end lines per process and reconcile id; an unfinished one ends at its process's kill."""
    killed = killed or {}
    open_: dict[tuple[int, object, str], float] = {}
    intervals: list[Interval] = []
    for record in sorted(records, key=lambda r: float(str(r["t"]))):
        pid, key, t = int(str(record["pid"])), str(record["key"]), float(str(record["t"]))
        ident = (pid, record.get("rid"), key)
        if record["event"] == "start":
            open_.setdefault(ident, t)
        elif record["event"] == "end" and ident in open_:
            intervals.append(Interval(key, pid, open_.pop(ident), t, str(record.get("outcome", ""))))
    for (pid, _, key), start in open_.items():
        intervals.append(Interval(key, pid, start, killed.get(pid, float("inf")), "unfinished"))
    return intervals


def overlaps(intervals: list[Interval]) -> list[tuple[Interval, Interval]]:
    """Pairs of reconciles of one key that ran at the same time (must be empty)."""
    by_key: dict[str, list[Interval]] = defaultdict(list)
    for interval in intervals:
        by_key[interval.key].append(interval)
    found: list[tuple[Interval, Interval]] = []
    for runs in by_key.values():
        runs.sort(key=lambda i: i.start)
        for previous, current in itertools.pairwise(runs):
            if current.start < previous.end:
                found.append((previous, current))
    return found
