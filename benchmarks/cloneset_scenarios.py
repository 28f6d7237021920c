"""One timed run of one CloneSet-benchmark scenario: 0 -> N pods Ready, or an image update of N pods.

`scale_up` times "object created (or the raw loop told to go) -> N pods Ready";
`image_update` creates the workload and waits until it is Ready (not timed), then times
"image patched -> exactly N pods, every one Ready and running the new image". Both measure
every named process's CPU seconds and peak RSS over the timed step and clean up after
themselves (object, dependents and pods gone) so the next run starts from an empty namespace.
Called by ``benchmarks/cloneset.py``; results are `RunRecord`s (JSON-ready).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from benchmarks import cloneset_workloads as wl
from benchmarks.harness.podwatch import PodTracker, all_updated, ready_count
from benchmarks.harness.procstat import ProcessMeter
from benchmarks.harness.promscrape import counters, delta
from flotilla.runtime.errors import NotFound
from flotilla.runtime.kube import PODS, KubeClient

REPO = Path(__file__).resolve().parents[1]


@dataclass
class RunRecord:
    """One timed run (JSON-ready via `as_json`)."""

    scenario: str  # scale | update
    variant: str
    limits: str
    size: int
    repeat: int
    seconds: float | None = None
    error: str | None = None
    #: process name -> {"cpu_seconds": .., "peak_rss_bytes": .., "peak_is_step_peak": ..}
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    machine_busy: float | None = None
    #: Pods that did not exist when the timed step started (an in-place update creates none).
    pods_created: int | None = None
    #: What changed in the counters of the API server and Flotilla's processes over the step.
    counters: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunContext:
    """What every run needs: the API client, where to put pods, which processes to measure."""

    client: KubeClient
    namespace: str
    kubeconfig: Path
    pids: Mapping[str, int]
    work_dir: Path
    #: process name -> its Prometheus /metrics URL (Flotilla's watcher and worker).
    metrics_urls: Mapping[str, str] = field(default_factory=dict)
    raw_concurrency: int = 32

    def timeout(self, size: int, per_pod: float) -> float:
        return 120.0 + size * per_pod


def _run_name(variant: str, size: int, repeat: int) -> str:
    return f"{variant}-{size}-r{repeat}-{secrets.token_hex(2)}"


async def scale_up(ctx: RunContext, record: RunRecord) -> RunRecord:
    """0 -> ``record.size`` pods Ready under ``record.variant`` (a controller or the raw loop)."""
    name = _run_name(record.variant, record.size, record.repeat)
    tracker = PodTracker(ctx.client, ctx.namespace, f"app={name}")
    await tracker.start()
    raw: subprocess.Popen[str] | None = None
    pids = dict(ctx.pids)
    try:
        if record.variant in RAW_LOOPS:
            raw = _start_raw_loop(ctx, name, record.size, protocol=record.variant == "protocol-loop")
            pids["rawloop"] = raw.pid
        counted = await scrape_counters(ctx)
        meter = ProcessMeter(pids)
        meter.start()
        started = time.monotonic()
        if raw is not None:
            assert raw.stdin is not None
            raw.stdin.write("go\n")
            raw.stdin.flush()
        else:
            resource = wl.RESOURCES[record.variant]
            await ctx.client.create(
                resource.path(ctx.namespace), wl.workload(record.variant, name, record.size, wl.IMAGE_V1)
            )
        try:
            done = await tracker.wait_until(
                lambda pods: ready_count(pods) >= record.size, ctx.timeout(record.size, 0.6)
            )
            record.seconds = done - started
        except TimeoutError:
            record.error = f"timed out with {ready_count(tracker.pods)}/{record.size} pods Ready"
        _record_usage(record, meter)
        record.counters = delta(counted, await scrape_counters(ctx))
        if raw is not None:
            record.notes["rawloop"] = await asyncio.to_thread(_finish_raw_loop, raw)
    finally:
        if raw is not None and raw.poll() is None:
            raw.kill()
        await _clean_up(ctx, record.variant, name, tracker)
    return record


async def image_update(ctx: RunContext, record: RunRecord) -> RunRecord:
    """Create ``record.size`` pods (untimed), then time the image update v1 -> v2."""
    name = _run_name(record.variant, record.size, record.repeat)
    tracker = PodTracker(ctx.client, ctx.namespace, f"app={name}")
    await tracker.start()
    loop: subprocess.Popen[str] | None = None
    pids = dict(ctx.pids)
    try:
        setup_started = time.monotonic()
        if record.variant == "protocol-inplace":
            loop = await asyncio.to_thread(_start_inplace_loop, ctx, name, record.size)
            pids["rawloop"] = loop.pid
        else:
            resource = wl.RESOURCES[record.variant]
            await ctx.client.create(
                resource.path(ctx.namespace), wl.workload(record.variant, name, record.size, wl.IMAGE_V1)
            )
        try:
            ready = await tracker.wait_until(
                lambda pods: all_updated(pods, record.size, wl.IMAGE_V1), ctx.timeout(record.size, 0.6)
            )
        except TimeoutError:
            record.error = f"setup timed out with {ready_count(tracker.pods)}/{record.size} pods Ready"
            return record
        record.notes["setup_seconds"] = ready - setup_started
        before = set(tracker.uids_seen)
        counted = await scrape_counters(ctx)
        meter = ProcessMeter(pids)
        meter.start()
        started = time.monotonic()
        if loop is not None:
            assert loop.stdin is not None
            loop.stdin.write("go\n")
            loop.stdin.flush()
        else:
            await ctx.client.patch(resource.path(ctx.namespace, name), wl.image_patch(wl.IMAGE_V2))
        try:
            done = await tracker.wait_until(
                lambda pods: all_updated(pods, record.size, wl.IMAGE_V2), ctx.timeout(record.size, 1.5)
            )
            record.seconds = done - started
        except TimeoutError:
            updated = sum(1 for p in tracker.pods.values() if p.ready and p.running_image == wl.IMAGE_V2)
            record.error = f"timed out with {updated}/{record.size} pods Ready on the new image"
        _record_usage(record, meter)
        record.counters = delta(counted, await scrape_counters(ctx))
        record.pods_created = len(tracker.uids_seen - before)
        if loop is not None:
            record.notes["rawloop"] = await asyncio.to_thread(_finish_raw_loop, loop)
    finally:
        if loop is not None and loop.poll() is None:
            loop.kill()
        await _clean_up(ctx, record.variant, name, tracker)
    return record


def _record_usage(record: RunRecord, meter: ProcessMeter) -> None:
    usage, busy = meter.stop()
    record.usage = {name: asdict(u) for name, u in usage.items()}
    record.machine_busy = busy


# ---------------------------------------------------------------------- counters
API_SERVER_COUNTERS = {"apiserver_request_total": ("verb", "resource")}
FLOTILLA_COUNTERS = {
    "flotilla_kube_requests_total": ("verb",),
    "flotilla_reconciles_total": ("outcome",),
    "flotilla_events_published_total": (),
    "flotilla_lease_conflicts_total": (),
    "flotilla_reconcile_duration_seconds_sum": (),
}


async def scrape_counters(ctx: RunContext) -> dict[str, float]:
    """The API server's request counts and Flotilla's counters, keys prefixed by process."""
    text = (await ctx.client.request("GET", "/metrics")).decode()
    out = {f"kube-apiserver:{k}": v for k, v in counters(text, API_SERVER_COUNTERS).items()}
    for name, url in ctx.metrics_urls.items():
        try:
            body = await asyncio.to_thread(_http_get, url)
        except OSError:
            continue
        out.update({f"{name}:{k}": v for k, v in counters(body, FLOTILLA_COUNTERS).items()})
    return out


def _http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read()).decode()


# ---------------------------------------------------------------------- the raw loop process
#: The raw loop variants: plain creates (``rawloop``, ``--raw-concurrency`` in flight), and
#: kruise's pod protocol (``protocol-loop``: create + readiness-gate conditions, every pod at once).
RAW_LOOPS = ("rawloop", "protocol-loop")


def _start_raw_loop(ctx: RunContext, name: str, size: int, protocol: bool = False) -> subprocess.Popen[str]:
    template = ctx.work_dir / f"{name}.pod.json"
    template.write_bytes(orjson.dumps(wl.bare_pod(name, wl.IMAGE_V1)))
    concurrency = size if protocol else ctx.raw_concurrency
    argv = [
        sys.executable, "-m", "benchmarks.harness.rawloop", f"--kubeconfig={ctx.kubeconfig}",
        f"--namespace={ctx.namespace}", f"--prefix={name}", f"--count={size}",
        f"--template={template}", f"--concurrency={concurrency}", *(["--protocol"] if protocol else []),
    ]  # fmt: skip
    process = subprocess.Popen(
        argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if line != "ready":
        process.kill()
        raise RuntimeError(f"the raw loop did not start (said {line!r})")
    return process


def _start_inplace_loop(ctx: RunContext, name: str, size: int) -> subprocess.Popen[str]:
    """The in-place protocol loop (``harness/inplaceloop.py``): its N pods created (not timed),
    waiting for "go" to update them all in place to ``IMAGE_V2``."""
    template = ctx.work_dir / f"{name}.pod.json"
    template.write_bytes(orjson.dumps(wl.bare_pod(name, wl.IMAGE_V1)))
    argv = [
        sys.executable, "-m", "benchmarks.harness.inplaceloop", f"--kubeconfig={ctx.kubeconfig}",
        f"--namespace={ctx.namespace}", f"--prefix={name}", f"--count={size}",
        f"--template={template}", f"--selector=app={name}", f"--image={wl.IMAGE_V2}",
    ]  # fmt: skip
    process = subprocess.Popen(
        argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if line != "ready":
        process.kill()
        raise RuntimeError(f"the in-place loop did not start (said {line!r})")
    return process


def _finish_raw_loop(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = process.communicate(timeout=120)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return dict(orjson.loads(lines[-1])) if lines else {"exit_code": process.returncode}


# ---------------------------------------------------------------------- clean up
async def _clean_up(ctx: RunContext, variant: str, name: str, tracker: PodTracker) -> None:
    """Delete the workload (and a Deployment's ReplicaSets), then the pods; wait until none is left."""
    delete_options = orjson.dumps(
        {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": "Background",
            "gracePeriodSeconds": 0,
        }
    )
    selector = {"labelSelector": f"app={name}"}
    resource = wl.RESOURCES.get(variant)
    try:
        if resource is not None:
            with contextlib.suppress(NotFound):
                await ctx.client.request(
                    "DELETE", resource.path(ctx.namespace, name), body=delete_options,
                    content_type="application/json",
                )  # fmt: skip
        if variant == "deployment":
            await ctx.client.request(
                "DELETE", wl.REPLICASETS.path(ctx.namespace), params=selector, body=delete_options,
                content_type="application/json",
            )  # fmt: skip
        deadline = time.monotonic() + 300
        while tracker.pods and time.monotonic() < deadline:
            await ctx.client.request(
                "DELETE", PODS.path(ctx.namespace), params=selector, body=delete_options,
                content_type="application/json",
            )  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await tracker.wait_until(lambda pods: not pods, 10)
    finally:
        await tracker.stop()
