"""The CloneSet stack on the real local control plane: CRDs, bus, a watcher and a cloneset worker.

``cloneset_stack`` installs the kruise CRDs, declares the bus of worker type ``cloneset``,
starts ``flotilla watcher --types cloneset`` scoped to the test's namespace and one
``flotilla worker cloneset`` process (extra arguments: ``cloneset_worker_args``), and stops both
at teardown (their logs are kept in the test's tmp folder and printed on failure). Each signs in
to NATS as its own least-privilege user (schemas.bus.permissions), so every CloneSet test also
shows those permissions suffice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client as k8s
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.kube import PODS, JsonObject, KubeClient
from schemas.bus.bootstrap import declare
from schemas.bus.permissions import WATCHER_USER, worker_user
from schemas.bus.streams import worker_bus
from schemas.crdgen import install_crds
from tests.support.natscreds import component_url
from tests.support.workers import free_port

REPO = Path(__file__).resolve().parents[3]
FLOTILLA = REPO / ".venv" / "bin" / "flotilla"


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


@pytest.fixture(scope="session")
def kruise_crds(api_client: k8s.ApiClient) -> list[str]:
    return install_crds(api_client)


@pytest.fixture
def cloneset_worker_args() -> list[str]:
    """Extra ``flotilla worker cloneset`` arguments (a test parametrizes it, e.g. ``--feature-gates``)."""
    return []


@pytest.fixture
async def cloneset_stack(
    cloneset_worker_args: list[str],
    dev_env: DevEnvironment,
    kruise_crds: list[str],
    jetstream: JetStreamContext,
    namespace: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Stack]:
    await declare(jetstream, worker_bus("cloneset"))
    watcher_url = component_url(dev_env, WATCHER_USER)
    worker_url = component_url(dev_env, worker_user("cloneset"))
    ident = secrets.token_hex(3)
    watcher_log, worker_log = tmp_path / "watcher.log", tmp_path / "worker.log"
    watcher = _start(
        [
            str(FLOTILLA), "watcher", "--types=cloneset", f"--namespace={namespace}",
            f"--kubeconfig={dev_env.kubeconfig}", f"--nats-url={watcher_url}",
            f"--lease-namespace={namespace}", f"--lease-name=watcher-{ident}", f"--identity=w-{ident}",
            f"--http-port={free_port()}", "--resync-period=20",
        ],
        watcher_log,
    )  # fmt: skip
    worker = _start(
        [
            str(FLOTILLA), "worker", "cloneset", f"--nats-url={worker_url}",
            f"--kubeconfig={dev_env.kubeconfig}", f"--http-port={free_port()}", "--backoff-base=0.2",
            "--backoff-max=2", *cloneset_worker_args,
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


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
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
