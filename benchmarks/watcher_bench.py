"""Issue 4's watcher benchmarks: a burst of 10,000 pod updates, and watch event -> publish latency.

``.venv/bin/python -m benchmarks.watcher_bench [--updates 10000] [--pods 200] [--owners 50]``
starts its own local control plane + NATS (or uses ``USE_EXISTING_CLUSTER=true`` with
``KUBECONFIG``/``NATS_URL``), runs a real ``flotilla watcher`` process for a test worker type
(ConfigMap owners, pods owned by them) and prints a markdown table for docs/benchmarks.md:

* backlog burst: the watcher is stopped (checkpoint saved), N pod updates are written, the
  watcher is started again and replays them from its checkpoint as fast as it can: events/s
  processed, triggers/s published (coalesced per owner key), watcher CPU per event.
* live burst: the same N updates written while the watcher runs (bounded by the API server's
  write rate): CPU per event, and the watcher's own event -> publish-ack latency (its histogram).
* idle latency: single updates one at a time: API write acknowledged -> trigger delivered to a
  JetStream consumer (p50/p99), which adds the API server's watch delivery to the watcher's share.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import nats
import orjson

from benchmarks.harness.procstat import cpu_seconds
from benchmarks.harness.stats import markdown_table
from flotilla.devcluster.env import DevEnvironment, new_run_dir
from flotilla.runtime.errors import NotFound
from flotilla.runtime.kube import NAMESPACES, KubeClient
from tests.integration.watcher.harness import ConfigMaps, TriggerCollector, WatcherProcess, WatchSetup

LATENCY_BUCKETS = "flotilla_watcher_event_to_publish_seconds_bucket"


def histogram(text: str) -> dict[float, float]:
    """Cumulative bucket counts of the watcher's event -> publish histogram, by upper bound."""
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(LATENCY_BUCKETS):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float("inf") if bound == "+Inf" else float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def histogram_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """Upper bound of the bucket holding quantile ``q`` of the observations between two scrapes."""
    diff = sorted((bound, count - before.get(bound, 0.0)) for bound, count in after.items())
    if not diff or diff[-1][1] <= 0:
        return None
    total = diff[-1][1]
    return next((bound for bound, count in diff if count >= q * total), None)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class WatcherBench:
    def __init__(
        self, env: DevEnvironment, kube: KubeClient, workdir: Path, args: argparse.Namespace
    ) -> None:
        self.env, self.kube, self.workdir, self.args = env, kube, workdir, args
        self.rows: list[list[str]] = []

    async def pods(self, setup: WatchSetup, owners: dict[str, str]) -> list[str]:
        names = [f"p-{i}" for i in range(self.args.pods)]
        owner_names = sorted(owners)
        sem = asyncio.Semaphore(16)

        async def create(i: int, name: str) -> None:
            owner = owner_names[i % len(owner_names)]
            body = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "ownerReferences": [
                        {
                            "apiVersion": "v1",
                            "kind": "ConfigMap",
                            "name": owner,
                            "uid": owners[owner],
                            "controller": True,
                        }
                    ],
                },
                # no node matches: the pod stays Pending (one scheduler status write), only ours follow
                "spec": {
                    "nodeSelector": {"flotilla.dev/bench": "nowhere"},
                    "containers": [{"name": "c", "image": "busybox"}],
                },
            }
            async with sem:
                await self.kube.create(f"/api/v1/namespaces/{setup.namespace}/pods", body)

        await asyncio.gather(*(create(i, n) for i, n in enumerate(names)))
        return names

    async def burst(self, setup: WatchSetup, pods: list[str]) -> float:
        """Write ``--updates`` pod annotation patches, ``--concurrency`` at a time; seconds taken."""
        sem = asyncio.Semaphore(self.args.concurrency)

        async def update(i: int) -> None:
            name = pods[i % len(pods)]
            async with sem:
                await self.kube.patch(
                    f"/api/v1/namespaces/{setup.namespace}/pods/{name}",
                    {"metadata": {"annotations": {"bench.flotilla.dev/seq": str(i)}}},
                )

        start = time.monotonic()
        await asyncio.gather(*(update(i) for i in range(self.args.updates)))
        return time.monotonic() - start

    async def hold_lease(self, path: str, holder: str) -> None:
        """Make ``holder`` ("" = nobody) hold the watcher Lease for an hour."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec = {"holderIdentity": holder, "leaseDurationSeconds": 3600, "renewTime": now, "acquireTime": now}
        try:
            current = await self.kube.get(path)
        except NotFound:
            name = path.rsplit("/", 1)[1]
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": name},
                "spec": spec,
            }
            await self.kube.create(path.rsplit("/", 1)[0], body)
            return
        current["spec"] = spec
        await self.kube.replace(path, current)

    async def wait_ready(self, watcher: WatcherProcess) -> None:
        for _ in range(600):
            if (await asyncio.to_thread(watcher.readyz))[0] == 200:
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{watcher.identity} not ready: {watcher.log_text()[-2000:]}")

    @staticmethod
    def leader_since(watcher: WatcherProcess) -> float:
        """Wall-clock time of the watcher's last "became leader" log line."""
        for line in reversed(watcher.log_text().splitlines()):
            if "became leader" in line:
                stamp = orjson.loads(line)["ts"]
                return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
        raise RuntimeError("the watcher never led")

    async def wait_events(
        self, watcher: WatcherProcess, total: float, within: float = 600, interval: float = 0.1
    ) -> list[tuple[float, float, float, float]]:
        """(monotonic time, events so far, watcher CPU s) samples until ``total`` events, none pending."""
        samples: list[tuple[float, float, float, float]] = []
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            events = await asyncio.to_thread(watcher.metric, "flotilla_watcher_events_total")
            pending = await asyncio.to_thread(watcher.metric, "flotilla_watcher_pending_triggers")
            samples.append((time.monotonic(), events, cpu_seconds(watcher.pid) or 0.0, time.time()))
            if events >= total and pending == 0:
                return samples
            await asyncio.sleep(interval)
        raise RuntimeError(f"watcher saw {samples[-1][1] if samples else 0} of {total} events in {within}s")

    async def run(self) -> None:
        ns = f"bench-watcher-{int(time.time())}"
        await self.kube.create(
            NAMESPACES.path(), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        )
        for _ in range(300):  # pods need the namespace's default ServiceAccount
            try:
                await self.kube.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default")
                break
            except NotFound:
                await asyncio.sleep(0.1)
        setup = WatchSetup.create(self.workdir, ns)
        nc = await nats.connect(self.env.nats_url)
        collector = await TriggerCollector(nc, setup).start()
        cms = ConfigMaps(self.kube, setup)
        for i in range(self.args.owners):
            await cms.create(f"owner-{i}")
        pods = await self.pods(setup, cms.uids)

        def watcher(name: str) -> WatcherProcess:
            log = self.workdir / f"{name}.log"
            extra = ("--checkpoint-interval=0.5", "--resync-period=3600")
            return WatcherProcess(
                setup, self.env.kubeconfig, self.env.nats_url, name, log, extra=extra
            ).start()

        # warm up: the initial list, then a clean stop that saves the checkpoint and frees the Lease
        first = watcher("warmup")
        await self.wait_events(first, 0)
        await collector.wait_for(
            lambda: len({r.envelope.key for r in collector.received}) >= len(cms.uids),
            120,
            "initial triggers",
        )
        await asyncio.sleep(1.5)
        first.stop()

        # backlog burst: written while no replica leads (a placeholder holds the Lease), then
        # replayed from the checkpoint by a replica that is already up (no start-up cost measured)
        lease_path = f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{setup.lease_name}"
        await self.hold_lease(lease_path, "bench-placeholder")
        await self.burst(setup, pods)
        published_before = len(collector.received)
        replay = watcher("replay")
        await self.wait_ready(replay)
        await asyncio.sleep(1.0)
        base_cpu = cpu_seconds(replay.pid) or 0.0
        await self.hold_lease(lease_path, "")  # released: the replica takes it within a retry period
        samples = await self.wait_events(replay, self.args.updates, interval=0.02)
        led_at = self.leader_since(replay)
        started = next(s for s in samples if s[1] > 0)
        done = samples[-1]
        replay_s = max(done[3] - led_at, 1e-6)
        await asyncio.sleep(1.0)
        published = len(collector.received) - published_before
        self.rows.append(
            [
                f"backlog replay of {self.args.updates} pod updates",
                f"{self.args.updates / replay_s:,.0f}",
                f"{published / replay_s:,.0f} ({published} triggers)",
                f"{(done[2] - base_cpu) / self.args.updates * 1e6:,.0f} µs",
                "-",
            ]
        )
        del started

        # live burst: the watcher keeps up with the API server's write rate
        await asyncio.sleep(1.0)
        base_events = await asyncio.to_thread(replay.metric, "flotilla_watcher_events_total")
        base_cpu = cpu_seconds(replay.pid) or 0.0
        published_before = len(collector.received)
        before = histogram((await asyncio.to_thread(replay.get, "/metrics"))[1].decode())
        live_start = time.monotonic()
        live_write_s = await self.burst(setup, pods)
        samples = await self.wait_events(replay, base_events + self.args.updates)
        live_s = samples[-1][0] - live_start
        await asyncio.sleep(1.0)
        published = len(collector.received) - published_before
        after = histogram((await asyncio.to_thread(replay.get, "/metrics"))[1].decode())
        p50 = histogram_quantile(before, after, 0.5)
        p99 = histogram_quantile(before, after, 0.99)
        self.rows.append(
            [
                f"live burst of {self.args.updates} pod updates "
                f"(API writes {self.args.updates / live_write_s:,.0f}/s)",
                f"{self.args.updates / live_s:,.0f}",
                f"{published / live_s:,.0f} ({published} triggers)",
                f"{(samples[-1][2] - base_cpu) / self.args.updates * 1e6:,.0f} µs",
                f"p50 ≤ {p50 * 1000:.1f} ms, p99 ≤ {p99 * 1000:.1f} ms" if p50 and p99 else "-",
            ]
        )

        # idle latency: one update at a time, API ack -> trigger at a consumer
        latencies: list[float] = []
        for i in range(self.args.idle):
            owner = f"owner-{i % len(cms.uids)}"
            count = len(collector.for_key(owner))
            t0 = time.time()
            await cms.change(owner)
            await collector.wait_for(
                functools.partial(_more_than, collector, owner, count), 30, "idle trigger"
            )
            latencies.append(collector.for_key(owner)[-1].at - t0)
            await asyncio.sleep(0.05)
        self.rows.append(
            [
                f"idle: {self.args.idle} single updates, API ack -> consumer",
                "-",
                "-",
                "-",
                f"p50 {pct(latencies, 0.5) * 1000:.1f} ms, p99 {pct(latencies, 0.99) * 1000:.1f} ms "
                f"(mean {statistics.mean(latencies) * 1000:.1f})",
            ]
        )
        replay.stop()
        await collector.stop()
        await nc.close()


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument("--owners", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=32, help="parallel API writes in a burst")
    parser.add_argument("--idle", type=int, default=50, help="single updates for the idle latency")
    args = parser.parse_args(argv)
    env = DevEnvironment.from_environment(new_run_dir("bench-watcher"))
    try:
        async with KubeClient.from_environment(env.kubeconfig) as kube:
            with tempfile.TemporaryDirectory(prefix="watcher-bench-") as workdir:
                bench = WatcherBench(env, kube, Path(workdir), args)
                await bench.run()
        print(
            markdown_table(
                [
                    "scenario",
                    "events/s processed",
                    "triggers/s published",
                    "watcher CPU / event",
                    "event -> publish",
                ],
                bench.rows,
            )
        )
    finally:
        env.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))


def _more_than(collector: TriggerCollector, key: str, count: int) -> bool:
    return len(collector.for_key(key)) > count
