"""Real Flotilla processes for the CloneSet fault tests and the soak, and the faults thrown at them.

:class:`Fleet` runs ``flotilla watcher --types=cloneset`` and N ``flotilla worker cloneset``
replicas as OS processes with production defaults (``--max-failures 5``, default backoff,
resync, lease TTL), logs in a folder. :class:`Faults` injects, from one seeded
``random.Random``: SIGKILL of a worker replica (restarted at once), SIGSTOP of another one past
the lease TTL then SIGCONT, SIGKILL of the watcher, and SIGKILL of NATS, kube-apiserver or etcd
(each restarted by the devcluster launcher). :func:`fault_seed` prints the seed and takes
``FLOTILLA_FAULT_SEED`` from the environment, so a failing run can be replayed.
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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.process import parent_death_signal
from schemas.bus.streams import LEASE_TTL
from tests.support.workers import FLOTILLA, REPO, free_port

#: How long a stalled replica stays stopped beyond the lease TTL (seconds, drawn per stall).
STALL_EXTRA = (1.0, 5.0)


def fault_seed() -> int:
    """``FLOTILLA_FAULT_SEED`` when set, else a fresh seed; printed either way."""
    raw = os.environ.get("FLOTILLA_FAULT_SEED")
    seed = int(raw) if raw else secrets.randbelow(2**32)
    print(f"FLOTILLA_FAULT_SEED={seed}", flush=True)
    return seed


@dataclass
class Proc:
    """One Flotilla process (restartable with the same arguments)."""

    name: str
    args: list[str]
    log: Path
    port: int
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the process. It gets ``PR_SET_PDEATHSIG`` SIGKILL (when started from the main
        thread, whose end fires it), so a test run that dies leaves no replica behind, a
        SIGSTOPped one included (it could not act on SIGTERM)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env["PYTHONPATH"] = str(REPO)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [*self.args, f"--http-port={self.port}"],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=parent_death_signal(signal.SIGKILL),
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def signal(self, sig: int) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.kill(self.popen.pid, sig)

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Fleet:
    env: DevEnvironment
    namespace: str
    log_dir: Path
    workers: list[Proc] = field(default_factory=list)
    watcher: Proc | None = None

    def start(self, replicas: int = 3) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        ident = secrets.token_hex(3)
        common = [f"--kubeconfig={self.env.kubeconfig}", f"--nats-url={self.env.nats_url}"]
        self.watcher = Proc(
            "watcher",
            [
                str(FLOTILLA), "watcher", "--types=cloneset", f"--namespace={self.namespace}", *common,
                f"--lease-namespace={self.namespace}", f"--lease-name=watcher-{ident}",
                f"--identity=w-{ident}",
            ],
            self.log_dir / "watcher.log",
            free_port(),
        )  # fmt: skip
        self.watcher.start()
        for i in range(replicas):
            worker = Proc(
                f"worker-{i}",
                [str(FLOTILLA), "worker", "cloneset", *common],
                self.log_dir / f"worker-{i}.log",
                free_port(),
            )
            worker.start()
            self.workers.append(worker)

    def stop(self) -> None:
        for proc in [*self.workers, *([self.watcher] if self.watcher else [])]:
            proc.stop()

    def log_tail(self, chars: int = 4000) -> str:
        return "\n".join(
            f"==> {p} <==\n{p.read_text(errors='replace')[-chars:]}"
            for p in sorted(self.log_dir.glob("*.log"))
        )


@dataclass
class Faults:
    """Seeded faults against a :class:`Fleet` and its control plane; counts what it injected."""

    fleet: Fleet
    rng: random.Random
    injected: Counter[str] = field(default_factory=Counter)
    log: list[str] = field(default_factory=list)
    _stalled: set[int] = field(default_factory=set)
    _stalls: set[asyncio.Task[None]] = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)

    def _note(self, what: str) -> None:
        self.injected[what.split(" ", 1)[0]] += 1
        self.log.append(f"+{time.monotonic() - self.started:6.1f}s {what}")
        print(f"fault: {self.log[-1]}", flush=True)

    def _pick_worker(self) -> int | None:
        free = [i for i in range(len(self.fleet.workers)) if i not in self._stalled]
        return self.rng.choice(free) if free else None

    async def kill_worker(self) -> None:
        """SIGKILL a replica (not the stalled one) and start it again."""
        i = self._pick_worker()
        if i is None:
            return
        worker = self.fleet.workers[i]
        self._note(f"sigkill-worker {worker.name} pid {worker.pid}")
        worker.kill()
        worker.start()

    async def stall_worker(self) -> None:
        """SIGSTOP a replica past the lease TTL, then SIGCONT it (in the background)."""
        if self._stalled:
            return
        i = self._pick_worker()
        if i is None:
            return
        seconds = LEASE_TTL + self.rng.uniform(*STALL_EXTRA)
        worker = self.fleet.workers[i]
        self._note(f"sigstop-worker {worker.name} pid {worker.pid} for {seconds:.1f}s")
        self._stalled.add(i)
        worker.signal(signal.SIGSTOP)

        async def resume() -> None:
            try:
                await asyncio.sleep(seconds)
            finally:
                worker.signal(signal.SIGCONT)
                self._stalled.discard(i)

        task = asyncio.create_task(resume())
        self._stalls.add(task)
        task.add_done_callback(self._stalls.discard)

    async def kill_watcher(self) -> None:
        assert self.fleet.watcher is not None
        self._note(f"sigkill-watcher pid {self.fleet.watcher.pid}")
        self.fleet.watcher.kill()
        self.fleet.watcher.start()

    async def kill_component(self, component: str) -> None:
        """SIGKILL nats, apiserver or etcd and start it again (the launcher waits until it serves)."""
        env = self.fleet.env
        actions: dict[str, Callable[[], None]] = {}
        if env.nats is not None:
            actions["nats"] = env.nats.kill_and_restart
        if env.cluster is not None:
            actions["apiserver"] = env.cluster.kill_apiserver
            actions["etcd"] = env.cluster.kill_etcd
        if component not in actions:
            raise AssertionError(f"cannot kill {component}: the test environment does not run it")
        self._note(f"sigkill-{component}")
        await asyncio.to_thread(actions[component])

    async def random_fault(self, kinds: list[str]) -> None:
        kind = self.rng.choice(kinds)
        if kind == "worker-kill":
            await self.kill_worker()
        elif kind == "worker-stall":
            await self.stall_worker()
        elif kind == "watcher-kill":
            await self.kill_watcher()
        else:
            await self.kill_component(kind)

    async def run(self, kinds: list[str], every: tuple[float, float], stop: asyncio.Event) -> None:
        """A fault of ``kinds`` every ``every`` seconds (uniform) until ``stop``."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.rng.uniform(*every))
            if not stop.is_set():
                await self.random_fault(kinds)

    async def settle(self) -> None:
        """Let every stalled replica resume."""
        for task in list(self._stalls):
            with contextlib.suppress(asyncio.CancelledError):
                await task
