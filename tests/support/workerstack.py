"""A worker type's stack on the real local control plane: a watcher and one worker process.

``worker_stack`` declares the bus of a worker type, starts ``flotilla watcher --types <type>``
scoped to the test's namespace and one ``flotilla worker <type>`` process, each signed in to
NATS as its own least-privilege user (schemas.bus.permissions), and stops both on exit (logs
kept in the test's tmp folder and printed when the test failed). ``watching_pods`` records every
pod event of the namespace while a block runs. Used by the per-type integration conftests
(tests/integration/cloneset, tests/integration/statefulset).

:class:`SharedStack` is the same stack (a watcher, one worker per type) started once for the
tests of a module: a Python process takes 3 s of CPU to start (tens of seconds of wall time on
the loaded 2-core machine), once per module instead of once per test. Its watcher watches the
namespaces :class:`tests.support.namespaces.ModuleNamespaces` made for those tests up front; each
test still runs alone in its own fresh namespace, and the stack serves /readyz before the first.
:func:`stack_fixtures` makes a package's fixtures for it (the worker types, the module's
namespaces, the test's namespace, the shared stack and the test's view of it), written once for
tests/integration/{cloneset,jobs,podunavailablebudget,sidecarset,uniteddeployment} and
tests/e2e/test_tracing.py. :func:`start_process` and
:func:`stop_processes` start and stop any other process a test runs (the webhook, a stack with
other flags) the same way; the processes of a stack are stopped together, not one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from kubernetes import client as k8s
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.process import parent_death_signal
from flotilla.runtime.kube import PODS, JsonObject, KubeClient
from schemas.bus.bootstrap import declare
from schemas.bus.permissions import WATCHER_USER, worker_user
from schemas.bus.streams import worker_bus
from tests.support.namespaces import ModuleNamespaces
from tests.support.natscreds import component_url
from tests.support.polling import eventually_async
from tests.support.workers import FLOTILLA, REPO, free_port


@dataclass
class Stack:
    namespace: str
    api: KubeClient
    logs: list[Path]
    watcher_port: int = 0
    """The watcher's HTTP port (/metrics), when the stack knows it."""

    def log_text(self) -> str:
        return "\n".join(
            f"==> {p} <==\n{p.read_text(errors='replace')[-6000:]}" for p in self.logs if p.exists()
        )


def start_process(
    args: list[str], log: Path, extra_env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``args`` started from the repository root in a session of its own, its output appended to
    ``log``, with the test run's environment less ``OTEL_*`` plus ``extra_env``; it dies with the
    test run. Stop it with :func:`stop_processes`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra_env or {})
    out = log.open("ab")
    try:
        return subprocess.Popen(
            args,
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=parent_death_signal(),  # a test run that dies leaves no watcher or worker
        )
    finally:
        out.close()


def stop_processes(*procs: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """Stop ``procs`` together: SIGTERM to each still running, then wait for them all within
    ``grace`` seconds of the signals, and SIGKILL any still running after that.

    The stack's processes depend only on the session's API server and NATS, which outlive them, and
    not on each other: a worker's drain (finishing its reconciles, acking, releasing its leases)
    needs NATS and the API server, not the watcher. So no stop waits for another's; the teardown
    takes the slowest process's time, not the sum of all.
    """
    running = [proc for proc in procs if proc.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in running:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
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
    watcher = start_process(
        [
            str(FLOTILLA), "watcher", f"--types={worker_type}", f"--namespace={namespace}",
            f"--kubeconfig={dev_env.kubeconfig}", f"--nats-url={watcher_url}",
            f"--lease-namespace={namespace}", f"--lease-name=watcher-{ident}", f"--identity=w-{ident}",
            f"--http-port={free_port()}", "--resync-period=20",
        ],
        watcher_log,
    )  # fmt: skip
    worker = start_process(
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
        stop_processes(worker, watcher)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _flotilla_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("FLOTILLA_")}


@dataclass
class SharedStack:
    """The watcher (``--types`` all of ``types``) and one worker per type, shared by the tests of a
    module: started by the first test (:meth:`start`, once the buses are declared), stopped at the
    module's end (:meth:`stop`). :meth:`for_test` gives a test its :class:`Stack`."""

    types: tuple[str, ...]
    dev_env: DevEnvironment
    namespaces: ModuleNamespaces
    api: KubeClient
    log_dir: Path
    worker_args: tuple[str, ...] = ()
    resync_period: str = "20"
    process_env: Mapping[str, str] = field(default_factory=dict)
    """Environment the processes get on top of the test run's (e.g. a worker's ``POD_NAMESPACE``)."""
    logs: list[Path] = field(default_factory=list)
    watcher_port: int = 0
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _env: dict[str, str] = field(default_factory=dict)

    def log_text(self) -> str:
        return Stack("", self.api, self.logs).log_text()

    @property
    def running(self) -> bool:
        return bool(self._procs)

    async def start(self, jetstream: JetStreamContext) -> None:
        if self._procs:
            for proc, log in zip(self._procs, self.logs, strict=True):
                if proc.poll() is not None:
                    raise AssertionError(
                        f"the shared stack's {log.stem} exited ({proc.returncode})\n{self.log_text()}"
                    )
            return
        if not self.namespaces.watched:  # an empty --namespace would watch them all
            raise AssertionError("no test of the module was counted for the shared stack")
        for worker_type in self.types:
            await declare(jetstream, worker_bus(worker_type))
        self._env = _flotilla_env()
        ident = secrets.token_hex(3)
        ports = [free_port() for _ in range(len(self.types) + 1)]
        self.watcher_port = ports[0]
        self.logs = [self.log_dir / "watcher.log", *(self.log_dir / f"worker-{t}.log" for t in self.types)]
        self._procs.append(
            start_process(
                [
                    str(FLOTILLA), "watcher", f"--types={','.join(self.types)}",
                    f"--namespace={','.join(self.namespaces.watched)}",
                    f"--kubeconfig={self.dev_env.kubeconfig}",
                    f"--nats-url={component_url(self.dev_env, WATCHER_USER)}",
                    f"--lease-namespace={self.namespaces.home}", f"--lease-name=watcher-{ident}",
                    f"--identity=w-{ident}", f"--http-port={ports[0]}",
                    f"--resync-period={self.resync_period}",
                ],
                self.logs[0],
                self.process_env,
            )
        )  # fmt: skip
        for port, worker_type, log in zip(ports[1:], self.types, self.logs[1:], strict=True):
            self._procs.append(
                start_process(
                    [
                        str(FLOTILLA), "worker", worker_type,
                        f"--nats-url={component_url(self.dev_env, worker_user(worker_type))}",
                        f"--kubeconfig={self.dev_env.kubeconfig}", f"--http-port={port}",
                        "--backoff-base=0.2", "--backoff-max=2", *self.worker_args,
                    ],
                    log,
                    self.process_env,
                )
            )  # fmt: skip
        # A test's convergence timeouts start once every process serves /readyz (on a loaded
        # 2-core machine, starting Python processes alone can take tens of seconds).
        for port in ports:
            await eventually_async(functools.partial(_ready, port), 120, 0.5, self.log_text)

    def stop(self) -> None:
        stop_processes(*self._procs)
        self._procs.clear()

    @asynccontextmanager
    async def for_test(
        self, jetstream: JetStreamContext, namespace: str, request: pytest.FixtureRequest
    ) -> AsyncIterator[Stack]:
        """The test's view of the running stack (its namespace); the logs printed if it failed."""
        await self.start(jetstream)
        if _flotilla_env() != self._env:  # the processes read FLOTILLA_* (e.g. feature gates) at start
            raise AssertionError(
                f"FLOTILLA_* environment {_flotilla_env()} differs from the shared stack's {self._env}"
            )
        if namespace not in self.namespaces.watched:
            raise AssertionError(f"namespace {namespace} is not one the shared stack's watcher watches")
        stack = Stack(namespace, self.api, self.logs, self.watcher_port)
        yield stack
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(stack.log_text())


@asynccontextmanager
async def shared_stack(
    types: Sequence[str],
    *,
    dev_env: DevEnvironment,
    namespaces: ModuleNamespaces,
    log_dir: Path,
    worker_args: Sequence[str] = (),
    resync_period: str = "20",
    process_env: Mapping[str, str] | None = None,
) -> AsyncIterator[SharedStack]:
    """A :class:`SharedStack` for a module-scoped fixture; its processes stopped on exit."""
    async with KubeClient.from_environment(dev_env.kubeconfig) as api:
        shared = SharedStack(
            tuple(types),
            dev_env,
            namespaces,
            api,
            log_dir,
            tuple(worker_args),
            resync_period,
            process_env=dict(process_env or {}),
        )
        try:
            yield shared
        finally:
            shared.stop()


class StackFixtures(NamedTuple):
    """The fixtures :func:`stack_fixtures` makes; a conftest binds each it uses to a module-level name."""

    worker_types: Any
    module_namespaces: Any
    namespace: Any
    module_stack: Any
    stack: Any
    stack_env: Any


def stack_fixtures(
    stack: str,
    types: Sequence[str],
    *,
    shares: Callable[[pytest.Item], bool] | None = None,
    worker_args: Sequence[str] = (),
    resync_period: str = "20",
) -> StackFixtures:
    """The fixtures of a test package whose tests share one :class:`SharedStack` per module:

    - ``worker_types`` (module): the worker types of the stack, ``types`` unless a test module
      overrides the fixture;
    - ``module_namespaces`` (module): a :class:`ModuleNamespaces` with a namespace made up front
      for each test of the module that ``shares`` the stack (default: each that uses the fixture
      named ``stack``);
    - ``namespace``: the test's own fresh namespace, made with the module's (the shared watcher
      watches it);
    - ``module_stack`` (module): the :class:`SharedStack` of the ``worker_types`` (the workers
      started with ``worker_args``, the watcher with ``--resync-period=<resync_period>``), its
      processes given ``stack_env`` on top of the test run's environment;
    - ``stack`` (named so): the test's :class:`Stack` on the shared one (a conftest whose tests
      sometimes need a stack of their own writes this one itself);
    - ``stack_env`` (module): no extra environment; a conftest or test module whose processes need
      some (a ``POD_NAMESPACE``, a Jaeger's ``OTEL_*``) defines its own fixture of that name instead
      and leaves this one unbound (pytest registers a fixture under its own name, whatever the
      variable holding it is called).

    A conftest binds them: ``worker_types, module_namespaces, namespace, module_stack, ud_stack,
    stack_env = stack_fixtures("ud_stack", ("cloneset", "uniteddeployment"))``.
    """

    def uses_the_stack(item: pytest.Item) -> bool:
        return stack in getattr(item, "fixturenames", ())

    @pytest.fixture(scope="module", name="worker_types")
    def worker_types_fixture() -> tuple[str, ...]:
        return tuple(types)

    @pytest.fixture(scope="module", name="module_namespaces")
    def module_namespaces_fixture(
        request: pytest.FixtureRequest, api_client: k8s.ApiClient
    ) -> Iterator[ModuleNamespaces]:
        spaces = ModuleNamespaces(k8s.CoreV1Api(api_client), request, shares or uses_the_stack)
        try:
            yield spaces
        finally:
            spaces.close()

    @pytest.fixture(name="namespace")
    def namespace_fixture(
        request: pytest.FixtureRequest, module_namespaces: ModuleNamespaces
    ) -> Iterator[str]:
        """The test's own fresh namespace, made with the module's (the shared watcher watches it)."""
        with module_namespaces.for_test(request.node) as name:
            yield name

    @pytest.fixture(scope="module", name="stack_env")
    def stack_env_fixture() -> Mapping[str, str]:
        return {}

    @pytest.fixture(scope="module", name="module_stack")
    async def module_stack_fixture(
        worker_types: tuple[str, ...],
        dev_env: DevEnvironment,
        kruise_crds: list[str],
        module_namespaces: ModuleNamespaces,
        stack_env: Mapping[str, str],
        tmp_path_factory: pytest.TempPathFactory,
    ) -> AsyncIterator[SharedStack]:
        async with shared_stack(
            worker_types,
            dev_env=dev_env,
            namespaces=module_namespaces,
            log_dir=tmp_path_factory.mktemp(stack.replace("_", "")),
            worker_args=worker_args,
            resync_period=resync_period,
            process_env=stack_env,
        ) as shared:
            yield shared

    @pytest.fixture(name=stack)
    async def stack_fixture(
        module_stack: SharedStack, jetstream: JetStreamContext, namespace: str, request: pytest.FixtureRequest
    ) -> AsyncIterator[Stack]:
        async with module_stack.for_test(jetstream, namespace, request) as running:
            yield running

    return StackFixtures(
        worker_types_fixture,
        module_namespaces_fixture,
        namespace_fixture,
        module_stack_fixture,
        stack_fixture,
        stack_env_fixture,
    )


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
