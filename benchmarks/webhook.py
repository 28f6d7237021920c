"""The admission webhook's cost: latency at the API server, and CloneSet scale-up with it on vs off.

``python -m benchmarks.webhook [--quick]`` (``make bench-webhook``) starts its own control plane
(:class:`benchmarks.harness.controlplane.BenchPlane`, client limits "unlimited"), the CloneSet
watcher + worker, and ``flotilla webhook`` registered by URL on loopback with the chart's
configurations (:mod:`flotilla.devcluster.webhook`). Then:

1. **Admission latency**: bare pods created at ``--rate`` per second (default 200) for
   ``--seconds``; p50/p99 of ``apiserver_admission_webhook_admission_duration_seconds`` for
   ``mpod.kb.io`` (the API server's own histogram: TLS, network and the webhook, as a user pays
   it), read from the API server's /metrics before and after and interpolated in the buckets.
2. **0 -> N CloneSet pods**, webhook on (every pod CREATE goes through ``mpod.kb.io``, the
   CloneSet through ``mcloneset``/``vclonesetspec``) and off (configurations deleted): seconds
   from the CloneSet's create to N Ready pods (one watch), alternating on/off ``--repeats`` times.
   Goal: on/off <= 1.1.

``--quick``: 3 s of creates and N=200 once; the full run: 30 s and N=1000, 3 repeats. Prints a
markdown table for docs/benchmarks.md. A shared 2-core machine makes every number provisional.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from benchmarks.cloneset_workloads import cloneset
from benchmarks.harness.controlplane import FLOTILLA, BenchPlane, _probe
from benchmarks.harness.podwatch import PodTracker, ready_count
from benchmarks.harness.stats import markdown_table, median_or_none, ratio
from flotilla.devcluster.ports import free_port
from flotilla.devcluster.process import ManagedProcess
from flotilla.devcluster.webhook import rendered_registrations, webhook_args
from flotilla.runtime.errors import KubeError, NotFound, Transient
from flotilla.runtime.kube import PODS, KubeClient, Resource

NAMESPACE = "bench-webhook"
WEBHOOK_HOME = "flotilla-system"
POD_WEBHOOK = "mpod.kb.io"
HISTOGRAM = "apiserver_admission_webhook_admission_duration_seconds"
CLONESETS = Resource("apps.kruise.io", "v1alpha1", "clonesets", "CloneSet")
CONFIG_RESOURCES = {
    "MutatingWebhookConfiguration": Resource(
        "admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "", False
    ),
    "ValidatingWebhookConfiguration": Resource(
        "admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "", False
    ),
}


def buckets(metrics_text: str, webhook: str) -> dict[float, float]:
    """Cumulative bucket counts (upper bound -> count) of ``webhook``'s CREATE admissions."""
    out: dict[float, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != HISTOGRAM:
            continue
        for sample in family.samples:
            labels = sample.labels
            if sample.name != f"{HISTOGRAM}_bucket" or labels.get("name") != webhook:
                continue
            if labels.get("operation") != "CREATE":
                continue
            bound = float(labels["le"])
            out[bound] = out.get(bound, 0.0) + float(sample.value)
    return out


def quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """The q-quantile of the observations between two readings, linear within its bucket (as
    Prometheus' histogram_quantile); None without observations."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    rank = q * counts[-1]
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = bound, count
    return None


async def _apiserver_metrics(client: KubeClient) -> str:
    return (await client.request("GET", "/metrics")).decode()


def _pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "latency"}},
        "spec": {"containers": [{"name": "main", "image": "nginx"}], "nodeName": "no-such-node"},
    }


async def create_at_rate(
    client: KubeClient, rate: float, seconds: float, prefix: str
) -> tuple[int, int, float]:
    """Create ``rate * seconds`` pods paced at ``rate``/s: (created, errors, wall seconds)."""
    total = int(rate * seconds)
    created = errors = 0
    started = time.monotonic()

    async def one(index: int) -> None:
        nonlocal created, errors
        await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
        try:
            await client.create(PODS.path(NAMESPACE), _pod(f"{prefix}-{index}"))
            created += 1
        except KubeError:
            errors += 1

    await asyncio.gather(*(one(i) for i in range(total)))
    return created, errors, time.monotonic() - started


async def _delete_pods(client: KubeClient, selector: str, within: float = 600) -> None:
    """Delete every pod of ``selector`` and wait until none is left.

    A DELETE of the collection (thousands of pods after the latency phase) can outlast the
    client's 30 s timeout; the API server deletes in the request's lifetime only, so the
    request is sent again until the list is empty.
    """
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(Transient):
            await client.request(
                "DELETE", PODS.path(NAMESPACE), params={"labelSelector": selector, "gracePeriodSeconds": "0"}
            )
        listing = await client.get(PODS.path(NAMESPACE), {"labelSelector": selector, "limit": "1"})
        if not listing.get("items"):
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"pods {selector!r} in {NAMESPACE} still there after {within:.0f} s")


async def scale_up(client: KubeClient, name: str, replicas: int) -> float:
    """Seconds from creating a CloneSet of ``replicas`` to that many Ready pods; then it is deleted."""
    tracker = PodTracker(client, NAMESPACE, f"app={name}")
    await tracker.start()
    try:
        started = time.monotonic()
        await client.create(CLONESETS.collection_path(NAMESPACE), cloneset(name, replicas, "nginx"))
        done = await tracker.wait_until(lambda pods: ready_count(pods) >= replicas, within=900)
        return done - started
    finally:
        await tracker.stop()
        await client.delete(CLONESETS.path(NAMESPACE, name))
        await _delete_pods(client, f"app={name}")


class Registration:
    """The chart's webhook configurations, created (webhook on) or deleted (off)."""

    def __init__(self, client: KubeClient, documents: list[dict[str, Any]]) -> None:
        self.client = client
        self.documents = documents

    async def on(self) -> None:
        for doc in self.documents:
            resource = CONFIG_RESOURCES[doc["kind"]]
            body = {k: v for k, v in doc.items() if k != "status"}
            await self.client.create(resource.collection_path(None), body)

    async def off(self) -> None:
        for doc in self.documents:
            with contextlib.suppress(NotFound):
                await self.client.delete(CONFIG_RESOURCES[doc["kind"]].path(name=doc["metadata"]["name"]))


async def wait_called(client: KubeClient, within: float = 120) -> None:
    """Until the API server has called ``mpod.kb.io`` (the webhook set its caBundle and answers)."""
    deadline = time.monotonic() + within
    index = 0
    while time.monotonic() < deadline:
        index += 1
        with contextlib.suppress(KubeError):
            await client.create(PODS.path(NAMESPACE), _pod(f"probe-{index}"), params={"dryRun": "All"})
        if sum(buckets(await _apiserver_metrics(client), POD_WEBHOOK).values()):
            return
        await asyncio.sleep(1)
    raise TimeoutError(f"the API server never called {POD_WEBHOOK} within {within:.0f}s")


async def run(args: argparse.Namespace, plane: BenchPlane) -> str:
    registrations = rendered_registrations(WEBHOOK_HOME)
    async with KubeClient.from_environment(plane.env.kubeconfig, limit=64) as client:
        with_ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": WEBHOOK_HOME}}
        await client.create("/api/v1/namespaces", with_ns)
        registration = Registration(client, registrations)
        await registration.on()
        port, http_port = free_port(), free_port()
        webhook = ManagedProcess(
            "flotilla-webhook",
            [
                str(FLOTILLA),
                *webhook_args(WEBHOOK_HOME, port, plane.env.kubeconfig),
                "--http-port",
                str(http_port),
            ],
            plane.env.run_dir / "logs" / "flotilla-webhook.log",
        )
        webhook.start()
        plane.flotilla[webhook.name] = webhook
        webhook.wait_until(_probe(f"http://127.0.0.1:{http_port}/readyz"), 60, "ready (/readyz)")
        await wait_called(client)

        before = buckets(await _apiserver_metrics(client), POD_WEBHOOK)
        created, errors, wall = await create_at_rate(client, args.rate, args.seconds, "lat")
        after = buckets(await _apiserver_metrics(client), POD_WEBHOOK)
        p50, p99 = quantile(before, after, 0.5), quantile(before, after, 0.99)
        await _delete_pods(client, "bench=latency")

        on: list[float] = []
        off: list[float] = []
        for repeat in range(args.repeats):
            on.append(await scale_up(client, f"on-{repeat}", args.replicas))
            await registration.off()
            off.append(await scale_up(client, f"off-{repeat}", args.replicas))
            await registration.on()
            await wait_called(client)

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.1f} ms"

    load = f"{created} pod creates in {wall:.1f} s ({created / wall:.0f}/s, {errors} errors)"
    latency = markdown_table(["load", "mpod.kb.io p50", "mpod.kb.io p99"], [[load, ms(p50), ms(p99)]])
    on_median, off_median = median_or_none(on), median_or_none(off)
    factor = ratio(on_median, off_median)
    scale = markdown_table(
        ["0 -> N CloneSet pods", "webhook on", "webhook off", "on / off (goal <= 1.1)"],
        [
            [
                f"N={args.replicas}, {args.repeats}x",
                ", ".join(f"{s:.1f} s" for s in on),
                ", ".join(f"{s:.1f} s" for s in off),
                "-" if factor is None else f"{factor:.2f}",
            ]
        ],
    )
    return f"{latency}\n\n{scale}\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s of creates, N=200, once")
    parser.add_argument("--rate", type=float, default=200.0, help="pod creates per second")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--replicas", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    args.seconds = args.seconds or (3.0 if args.quick else 30.0)
    args.replicas = args.replicas or (200 if args.quick else 1000)
    args.repeats = args.repeats or (1 if args.quick else 3)
    run_dir = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    pods_per_node = max(110, args.replicas // 3 + 50)
    plane = BenchPlane.start("unlimited", run_dir, NAMESPACE, pods_per_node)
    try:
        plane.start_flotilla("cloneset")
        table = asyncio.run(run(args, plane))
    finally:
        plane.stop()
    print(
        f"webhook benchmark ({'quick' if args.quick else 'full'}, {os.cpu_count()} CPUs, run dir {run_dir})\n"
    )
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
