"""Issue 4's bus benchmarks: trigger latency and worker scale-out, with the testcm worker type.

``.venv/bin/python -m benchmarks.bus_bench [latency|scaleout|all] [--repeats 2]`` starts its
own local control plane + NATS (``flotilla.devcluster``), runs real ``flotilla worker testcm``
processes, publishes triggers straight to JetStream (as the watcher does) and prints a
markdown table (numbers go to docs/benchmarks.md, "Bus runtime" section).

* latency: publish -> reconcile start (observe begins) and -> act start (plan done), p50/p99,
  idle (one trigger at a time, one worker) and under a burst (1000 keys at once, one worker).
* scaleout: a fixed simulated per-reconcile cost (``TESTCM_COST``), 1 vs 3 replicas of the
  same type, same keys: throughput ratio (goal >= 2.5x).
* requeue (issue 10): 10,000 keys waiting in requeue at once (each reconciled once, asking to
  be requeued in 15 min), then 1,000 fresh triggers one at a time: p99 publish -> reconcile
  start of the fresh ones against the idle figure measured in the same run (goal <= 2x). A
  requeue must hold no delivery slot (``max_ack_pending`` is 1000), so nothing queues.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import nats
import orjson
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment, new_run_dir
from flotilla.runtime.kube import NAMESPACES, KubeClient
from schemas.bus.bootstrap import declare
from schemas.bus.streams import RECONCILE_STREAM, worker_bus
from tests.support.polling import eventually_async
from tests.support.workers import WorkerProcess, create_configmaps, publish_trigger, read_records

SCALE_KEYS = 240
SCALE_COST = "0.2"
SCALE_CONCURRENCY = "2"
REQUEUE_WAITING = 10_000
REQUEUE_FRESH = 1_000


def _pct(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class RecordTail:
    """The first time of each (key, event) in a record folder, reading only lines not read yet
    (re-reading 40,000 lines per poll would take the CPU the worker is being measured on)."""

    def __init__(self, record_dir: Path) -> None:
        self.record_dir = record_dir
        self.offsets: dict[Path, int] = {}
        self.first: dict[tuple[str, str], float] = {}

    def poll(self) -> None:
        for path in sorted(self.record_dir.glob("*.jsonl")):
            with path.open("rb") as f:
                f.seek(self.offsets.get(path, 0))
                chunk = f.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self.offsets[path] = self.offsets.get(path, 0) + len(complete)
            for line in complete.splitlines():
                if line.strip():
                    r = orjson.loads(line)
                    self.first.setdefault((str(r["key"]), str(r["event"])), float(r["t"]))

    async def wait(self, keys: set[str], event: str, within: float) -> dict[str, float]:
        deadline = time.monotonic() + within
        while True:
            self.poll()
            seen = {k: self.first[(k, event)] for k in keys if (k, event) in self.first}
            if len(seen) == len(keys):
                return seen
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(seen)}/{len(keys)} keys reached {event!r}")
            await asyncio.sleep(0.01 if len(keys) == 1 else 0.5)


class Bench:
    def __init__(self, env: DevEnvironment, js: JetStreamContext, api: KubeClient, workdir: Path) -> None:
        self.env, self.js, self.api, self.workdir = env, js, api, workdir
        self.counter = 0

    async def namespace(self, prefix: str) -> str:
        self.counter += 1
        name = f"bench-{prefix}-{self.counter}"
        await self.api.create(
            NAMESPACES.path(), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        )
        return name

    def workers(self, count: int, record_dir: Path, *args: str, cost: str = "0") -> list[WorkerProcess]:
        record_dir.mkdir(parents=True, exist_ok=True)
        return [
            WorkerProcess(
                nats_url=self.env.nats_url,
                kubeconfig=self.env.kubeconfig,
                record_dir=record_dir,
                log_dir=self.workdir / "logs",
                extra_args=args,
                env={"TESTCM_COST": cost},
            ).start()
            for _ in range(count)
        ]

    async def wait_records(
        self, record_dir: Path, keys: set[str], event: str, within: float = 300
    ) -> dict[str, float]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            seen: dict[str, float] = {}
            for r in read_records(record_dir):
                if r["event"] == event and r["key"] in keys:
                    seen.setdefault(str(r["key"]), float(str(r["t"])))
            if len(seen) == len(keys):
                return seen
            await asyncio.sleep(0.05)
        raise TimeoutError(f"only {len(seen)}/{len(keys)} keys reached {event!r}")

    async def ready(self, workers: list[WorkerProcess]) -> None:
        import aiohttp

        async with aiohttp.ClientSession() as http:
            for worker in workers:
                for _ in range(300):
                    try:
                        async with http.get(worker.url + "/readyz") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)

    async def latency_idle(self, samples: int = 200) -> tuple[list[float], list[float]]:
        ns = await self.namespace("idle")
        names = [f"i-{i}" for i in range(samples)]
        await create_configmaps(self.api, ns, names, {"desired": "v1"})
        records = self.workdir / f"idle-{self.counter}"
        workers = self.workers(1, records)
        await self.ready(workers)
        to_start, to_act = [], []
        try:
            for name in names:
                key = f"testcm/{ns}/{name}"
                published = time.time()
                await publish_trigger(self.js, ns, name)
                started = await self.wait_records(records, {key}, "start", 30)
                acted = await self.wait_records(records, {key}, "act", 30)
                to_start.append(started[key] - published)
                to_act.append(acted[key] - published)
        finally:
            for w in workers:
                w.stop()
        return to_start, to_act

    async def latency_burst(self, keys: int = 1000) -> tuple[list[float], list[float], float]:
        ns = await self.namespace("burst")
        names = [f"b-{i}" for i in range(keys)]
        await create_configmaps(self.api, ns, names, {"desired": "v1"})
        records = self.workdir / f"burst-{self.counter}"
        workers = self.workers(1, records, "--concurrency", "32")
        await self.ready(workers)
        published: dict[str, float] = {}
        t0 = time.time()
        try:
            for name in names:
                published[f"testcm/{ns}/{name}"] = time.time()
                await publish_trigger(self.js, ns, name)
            started = await self.wait_records(records, set(published), "start")
            acted = await self.wait_records(records, set(published), "act")
        finally:
            for w in workers:
                w.stop()
        duration = max(acted.values()) - t0
        return (
            [started[k] - published[k] for k in published],
            [acted[k] - published[k] for k in published],
            duration,
        )

    async def latency_under_requeue(
        self, waiting: int = REQUEUE_WAITING, fresh: int = REQUEUE_FRESH
    ) -> tuple[list[float], float]:
        """Publish -> reconcile start of ``fresh`` triggers, one at a time, while ``waiting`` keys
        of the same worker wait in requeue. Returns the latencies and the requeue phase's seconds."""
        ns = await self.namespace("requeue")
        parked = [f"w-{i}" for i in range(waiting)]
        names = [f"f-{i}" for i in range(fresh)]
        await create_configmaps(self.api, ns, parked, {"desired": "v1", "requeueAfter": "900"})
        await create_configmaps(self.api, ns, names, {"desired": "v1"})
        records = self.workdir / f"requeue-{self.counter}"
        workers = self.workers(1, records)
        await self.ready(workers)
        tail = RecordTail(records)
        to_start: list[float] = []
        try:
            t0 = time.monotonic()
            gate = asyncio.Semaphore(256)

            async def park(name: str) -> None:
                async with gate:
                    await publish_trigger(self.js, ns, name)

            await asyncio.gather(*(park(n) for n in parked))
            await tail.wait({f"testcm/{ns}/{n}" for n in parked}, "end", 1800)

            async def all_parked() -> bool:  # every one scheduled (then acked)
                return await self.pending_requeues() >= waiting

            await eventually_async(all_parked, 120, interval=0.5)
            parking = time.monotonic() - t0
            for name in names:
                key = f"testcm/{ns}/{name}"
                published = time.time()
                await publish_trigger(self.js, ns, name)
                started = await tail.wait({key}, "start", 30)
                await tail.wait({key}, "act", 30)  # paced as the idle run is
                to_start.append(started[key] - published)
            if await self.pending_requeues() < waiting:
                raise RuntimeError("requeues fired or were lost during the measurement")
        finally:
            for w in workers:
                w.stop()
        return to_start, parking

    async def pending_requeues(self) -> int:
        info = await self.js.stream_info(RECONCILE_STREAM, subjects_filter="flotilla.requeue.testcm.>")
        return sum((info.state.subjects or {}).values())

    async def scaleout(self, replicas: int) -> float:
        """Reconciles per second of ``replicas`` workers over SCALE_KEYS keys at SCALE_COST each."""
        ns = await self.namespace(f"scale{replicas}")
        names = [f"s-{i}" for i in range(SCALE_KEYS)]
        await create_configmaps(self.api, ns, names, {"desired": "v1"})
        records = self.workdir / f"scale-{self.counter}"
        workers = self.workers(replicas, records, "--concurrency", SCALE_CONCURRENCY, cost=SCALE_COST)
        await self.ready(workers)
        keys = {f"testcm/{ns}/{n}" for n in names}
        try:
            t0 = time.time()
            await asyncio.gather(*(publish_trigger(self.js, ns, n) for n in names))
            ended = await self.wait_records(records, keys, "end")
        finally:
            for w in workers:
                w.stop()
        return SCALE_KEYS / (max(ended.values()) - t0)


def _ms(value: float) -> str:
    return f"{value * 1000:.1f} ms"


async def run(which: str, repeats: int) -> dict[str, object]:
    run_dir = new_run_dir("bench-bus")
    env = DevEnvironment.from_environment(run_dir)
    results: dict[str, object] = {"run_dir": str(run_dir)}
    try:
        nc = await nats.connect(env.nats_url)
        js = nc.jetstream()
        await declare(js, worker_bus("testcm"))
        async with KubeClient.from_environment(env.kubeconfig) as api:
            bench = Bench(env, js, api, Path(tempfile.mkdtemp(prefix="bus-bench-")))
            if which in ("latency", "all"):
                start, act = await bench.latency_idle()
                bstart, bact, bdur = await bench.latency_burst()
                results["latency"] = {
                    "idle_start_p50": statistics.median(start), "idle_start_p99": _pct(start, 0.99),
                    "idle_act_p50": statistics.median(act), "idle_act_p99": _pct(act, 0.99),
                    "burst_start_p50": statistics.median(bstart), "burst_start_p99": _pct(bstart, 0.99),
                    "burst_act_p50": statistics.median(bact), "burst_act_p99": _pct(bact, 0.99),
                    "burst_keys_per_s": len(bstart) / bdur,
                }  # fmt: skip
            if which in ("requeue", "all"):
                start, _ = await bench.latency_idle()
                fresh, parking = await bench.latency_under_requeue()
                results["requeue"] = {
                    "idle_start_p50": statistics.median(start), "idle_start_p99": _pct(start, 0.99),
                    "fresh_start_p50": statistics.median(fresh), "fresh_start_p99": _pct(fresh, 0.99),
                    "waiting": REQUEUE_WAITING, "fresh": REQUEUE_FRESH, "parking_s": parking,
                }  # fmt: skip
            if which in ("scaleout", "all"):
                ratios, ones, threes = [], [], []
                for _ in range(repeats):
                    one = await bench.scaleout(1)
                    three = await bench.scaleout(3)
                    ones.append(one)
                    threes.append(three)
                    ratios.append(three / one)
                results["scaleout"] = {"one": ones, "three": threes, "ratios": ratios}
        await nc.close()
    finally:
        env.stop()
    return results


def _row(label: str, latency: dict[str, float], name: str) -> str:
    return f"| {label} | {_ms(latency[name + '_p50'])} | {_ms(latency[name + '_p99'])} |"


def render(results: dict[str, object]) -> str:
    lines = []
    latency = results.get("latency")
    if isinstance(latency, dict):
        rate = latency["burst_keys_per_s"]
        lines += [
            "| trigger latency | p50 | p99 |",
            "|---|---|---|",
            _row("idle: publish -> reconcile start", latency, "idle_start"),
            _row("idle: publish -> act start (plan done)", latency, "idle_act"),
            _row("burst of 1000: publish -> reconcile start", latency, "burst_start"),
            _row("burst of 1000: publish -> act start", latency, "burst_act"),
            "",
            f"Burst throughput, one worker (concurrency 32, no simulated cost): {rate:.0f} keys/s.",
            "",
        ]
    requeue = results.get("requeue")
    if isinstance(requeue, dict):
        ratio = requeue["fresh_start_p99"] / requeue["idle_start_p99"]
        lines += [
            "| publish -> reconcile start, one worker | p50 | p99 |",
            "|---|---|---|",
            _row("idle (same run)", requeue, "idle_start"),
            _row(f"{requeue['fresh']} fresh, {requeue['waiting']} keys in requeue", requeue, "fresh_start"),
            "",
            f"p99 ratio fresh/idle: {ratio:.2f}x (goal <= 2x); parking {requeue['waiting']} keys took "
            f"{requeue['parking_s']:.0f} s.",
            "",
        ]
    scale = results.get("scaleout")
    if isinstance(scale, dict):
        title = f"scale-out ({SCALE_KEYS} keys, {SCALE_COST}s cost, concurrency {SCALE_CONCURRENCY})"
        lines += [
            f"| {title} | reconciles/s |",
            "|---|---|",
            f"| 1 replica | {', '.join(f'{v:.1f}' for v in scale['one'])} |",
            f"| 3 replicas | {', '.join(f'{v:.1f}' for v in scale['three'])} |",
            f"| ratio (goal >= 2.5) | {', '.join(f'{v:.2f}x' for v in scale['ratios'])} |",
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bus_bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("which", nargs="?", default="all", choices=["latency", "scaleout", "requeue", "all"])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.which, args.repeats))
    out = Path(str(results["run_dir"])) / "bus-bench.json"
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(render(results))
    print(f"\nresults: {out}")
    scale = results.get("scaleout")
    if isinstance(scale, dict) and min(scale["ratios"]) < 2.5:
        print("scale-out ratio below the 2.5x goal", file=sys.stderr)
    requeue = results.get("requeue")
    if isinstance(requeue, dict) and requeue["fresh_start_p99"] > 2 * requeue["idle_start_p99"]:
        print("fresh-trigger p99 under 10,000 requeues is above 2x the idle p99", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
