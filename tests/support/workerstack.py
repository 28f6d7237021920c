"""A worker type's stack on the real local control plane: a watcher and one worker process.

``worker_stack`` declares the bus of a worker type, starts ``flotilla watcher --types <type>``
scoped to the test's namespace and one ``flotilla worker <type>`` process, each signed in to
NATS as its own least-privilege user (schemas.bus.permissions), and stops both on exit (logs
kept in the test's tmp folder and printed when the test failed). ``watching_pods`` records every
pod event of the namespace while a block runs. Used by the per-type integration conftests
(tests/integration/cloneset, tests/integration/statefulset).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.kube import PODS, JsonObject, KubeClient
from schemas.bus.bootstrap import declare
from schemas.bus.permissions import WATCHER_USER, worker_user
from schemas.bus.streams import worker_bus
from tests.support.natscreds import component_url
from tests.support.workers import FLOTILLA, REPO, free_port


@dataclass
class Stack:
    namespace: str
    api: KubeClient
    logs: list[Path]

    def log_text(self) -> str:
        return "\n".join(
            f"==> {p} <==\n{p.read_text(errors='replace')[-6000:]}" for p in self.logs if p.exists()
        )


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(REPO)
    out = log.open("ab")
    try:
        return subprocess.Popen(
            args, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    finally:
        out.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@asynccontextmanager
async def worker_stack(
    worker_type: str,
    *,
    dev_env: DevEnvironment,
    jetstream: JetStreamContext,
    namespace: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    worker_args: Sequence[str] = (),
) -> AsyncIterator[Stack]:
    """The watcher and one worker of ``worker_type``, running while the block runs."""
    await declare(jetstream, worker_bus(worker_type))
    watcher_url = component_url(dev_env, WATCHER_USER)
    worker_url = component_url(dev_env, worker_user(worker_type))
    ident = secrets.token_hex(3)
    watcher_log, worker_log = tmp_path / "watcher.log", tmp_path / "worker.log"
    watcher = _start(
        [
            str(FLOTILLA), "watcher", f"--types={worker_type}", f"--namespace={namespace}",
            f"--kubeconfig={dev_env.kubeconfig}", f"--nats-url={watcher_url}",
            f"--lease-namespace={namespace}", f"--lease-name=watcher-{ident}", f"--identity=w-{ident}",
            f"--http-port={free_port()}", "--resync-period=20",
        ],
        watcher_log,
    )  # fmt: skip
    worker = _start(
        [
            str(FLOTILLA), "worker", worker_type, f"--nats-url={worker_url}",
            f"--kubeconfig={dev_env.kubeconfig}", f"--http-port={free_port()}", "--backoff-base=0.2",
            "--backoff-max=2", *worker_args,
        ],
        worker_log,
    )  # fmt: skip
    try:
        async with KubeClient.from_environment(dev_env.kubeconfig) as api:
            stack = Stack(namespace, api, [watcher_log, worker_log])
            yield stack
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed:
                print(stack.log_text())
    finally:
        _stop(worker)
        _stop(watcher)


def record_reports(item: pytest.Item, report: pytest.TestReport) -> None:
    """Keep each phase's report on the item (``rep_call``), so a stack can print logs on failure."""
    setattr(item, f"rep_{report.when}", report)


@dataclass
class PodWatch:
    """Pods of a namespace as listed at the start, then every watch event since, in order."""

    initial: list[JsonObject]
    events: list[tuple[str, JsonObject]]

    def history(self) -> Iterator[dict[str, JsonObject]]:
        """The live pods (by name) after the listing and after each event."""
        live = {p["metadata"]["name"]: p for p in self.initial}
        yield dict(live)
        for kind, pod in self.events:
            if kind == "DELETED":
                live.pop(pod["metadata"]["name"], None)
            elif kind in ("ADDED", "MODIFIED"):
                live[pod["metadata"]["name"]] = pod
            yield dict(live)


@asynccontextmanager
async def watching_pods(stack: Stack, selector: str = "app=web") -> AsyncIterator[PodWatch]:
    """Record every pod event in the stack's namespace while the block runs (a real watch, no polling)."""
    path = PODS.path(stack.namespace)
    listing = await stack.api.get(path, {"labelSelector": selector})
    recorded = PodWatch(list(listing.get("items", [])), [])
    version = str(listing["metadata"]["resourceVersion"])

    async def follow() -> None:
        nonlocal version
        while True:
            params = {"labelSelector": selector, "resourceVersion": version, "timeoutSeconds": "120"}
            async for event in stack.api.watch(path, params):
                if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                    recorded.events.append((str(event["type"]), event["object"]))
                    version = str(event["object"]["metadata"]["resourceVersion"])

    task = asyncio.create_task(follow())
    try:
        yield recorded
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
