"""Profile of the cluster-scale roll and of the worker's memory on a small shape (issue 16).

``.venv/bin/python -m benchmarks.scale_profile --clonesets 20 --pods 100 --nodes 4
[--stages 10,20] [--variant "" --variant "--concurrency=32" ...] [--heap]`` starts the
benchmark's plane (``BenchPlane``, ``unlimited``) with Flotilla's watcher and one CloneSet
worker, creates the CloneSets in one namespace in stages (the worker's RSS and peak after each),
then rolls every CloneSet in place once per ``--variant`` (the worker restarted with that
variant's extra flags and ``env:NAME=value`` environment, e.g. ``env:FLOTILLA_STRAY_RESYNC_SECONDS=0``
for the stray LISTs with every reconcile; a flag written ``watcher:--flag=value`` goes to the
watcher instead, which is restarted when its flags differ from the previous roll's, e.g.
``watcher:--cloneset-event-filter=on``; images alternate v2, v1), each roll measured side by side
on the same pods:

- seconds and pods/s, every process's CPU seconds (``ProcessMeter``), the load average;
- where the time went (``scale_stages.StageTracker``): pod-seconds per pod in each stage of
  the in-place protocol and CloneSet-seconds in ``waiting`` / ``in-flight`` / ``done``;
- the API server's requests by verb / resource / subresource and their mean latency, the objects
  its watch cache evaluated for LISTs (``/metrics``); the worker's reconciles by outcome, mean
  reconcile wall time, mean trigger latency (publish -> plan), lease conflicts, coalesced
  triggers; the worker's reads (GETs and LISTs) per rolled pod and the share of reconciles that
  changed nothing (``in sync``); the watcher's triggers published and pod updates it skipped.

With ``--heap`` the first worker runs under ``benchmarks.scale_heap`` (tracemalloc): its largest
heap's top allocation sites are written to the run folder. Writes ``scale-profile.json`` in the
run folder and prints a summary. Nothing here is a verdict: docs/benchmarks.md quotes it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shlex
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from benchmarks import cloneset_workloads as wl
from benchmarks.harness.controlplane import REPO, BenchPlane, _probe
from benchmarks.harness.procstat import peak_rss_bytes, rss_bytes
from benchmarks.harness.promscrape import counters, delta
from benchmarks.harness.runs import result_header
from benchmarks.scale import NAMESPACE, POD_LABEL, WATCHER, WORKER, LogFollower, Scale, _http_get, _log
from benchmarks.scale_report import Shape, with_flag
from benchmarks.scale_stages import StageTracker
from flotilla.devcluster.env import new_run_dir
from flotilla.devcluster.ports import free_port
from flotilla.devcluster.process import ManagedProcess
from flotilla.runtime.kube import PODS, KubeClient

API_WANTED = {
    "apiserver_request_total": ("verb", "resource", "subresource"),
    "apiserver_request_duration_seconds_sum": ("verb", "resource", "subresource"),
    "apiserver_request_duration_seconds_count": ("verb", "resource", "subresource"),
    "apiserver_cache_list_evaluated_objects_total": (),
    "apiserver_cache_list_fetched_objects_total": (),
    "apiserver_cache_list_returned_objects_total": (),
    "apiserver_storage_list_evaluated_objects_total": (),
    "apiserver_storage_list_fetched_objects_total": (),
    "apiserver_storage_list_returned_objects_total": (),
}
WORKER_WANTED = {
    "flotilla_reconciles_total": ("outcome",),
    "flotilla_reconcile_duration_seconds_sum": (),
    "flotilla_reconcile_duration_seconds_count": (),
    "flotilla_trigger_latency_seconds_sum": (),
    "flotilla_trigger_latency_seconds_count": (),
    "flotilla_lease_conflicts_total": (),
    "flotilla_triggers_coalesced_total": (),
    "flotilla_kube_requests_total": ("verb",),
}


WATCHER_WANTED = {
    "flotilla_events_published_total": ("type",),
    "flotilla_watcher_updates_skipped_total": ("type",),
    "flotilla_watcher_events_total": ("resource", "event"),
}
#: A variant's flag with this prefix is the watcher's; one with ``ENV_FLAG`` a worker variable.
WATCHER_FLAG = "watcher:"
ENV_FLAG = "env:"


async def _api_metrics(client: KubeClient) -> dict[str, float]:
    return counters((await client.request("GET", "/metrics")).decode(), API_WANTED)


async def _component_metrics(
    plane: BenchPlane, name: str, wanted: dict[str, tuple[str, ...]]
) -> dict[str, float]:
    try:
        text = await asyncio.to_thread(_http_get, plane.metrics_urls[name])
    except OSError:
        return {}
    return counters(text, wanted)


async def _worker_metrics(plane: BenchPlane) -> dict[str, float]:
    return await _component_metrics(plane, WORKER, WORKER_WANTED)


def split_variant(variant: str) -> tuple[list[str], list[str], dict[str, str]]:
    """A ``--variant``'s (worker flags, watcher flags, worker environment): ``watcher:``-prefixed
    flags are the watcher's, ``env:NAME=value`` ones the worker's environment."""
    flags = shlex.split(variant)
    watcher = [f.removeprefix(WATCHER_FLAG) for f in flags if f.startswith(WATCHER_FLAG)]
    env = dict(f.removeprefix(ENV_FLAG).partition("=")[::2] for f in flags if f.startswith(ENV_FLAG))
    worker = [f for f in flags if not f.startswith((WATCHER_FLAG, ENV_FLAG))]
    return worker, watcher, env


def restart(
    plane: BenchPlane,
    name: str,
    base_argv: Sequence[str],
    extra: Sequence[str],
    tag: str,
    env: dict[str, str] | None = None,
) -> None:
    """Stop the process ``name`` (the CloneSet worker or the watcher) and start it with ``extra``
    flags and ``env`` on top of this process's environment (on its own port and log)."""
    plane.flotilla.pop(name).stop(timeout=30)
    port = free_port()
    argv = with_flag(base_argv, "--http-port", str(port))
    for flag in extra:
        flag_name, _, value = flag.partition("=")
        argv = with_flag(argv, flag_name, value)
    log = plane.env.run_dir / "logs" / f"{name}-{tag}.log"
    process = ManagedProcess(name, argv, log, env={**os.environ, **env} if env else None)
    process.start()
    plane.flotilla[name] = process
    plane.metrics_urls[name] = f"http://127.0.0.1:{port}/metrics"
    process.wait_until(_probe(f"http://127.0.0.1:{port}/readyz"), 120, "ready (/readyz)")


def _summary(
    api: dict[str, float], worker: dict[str, float], watcher: dict[str, float], pods: int
) -> dict[str, Any]:
    """Requests per rolled pod and mean latency by verb/resource/subresource; worker figures."""
    requests: dict[str, Any] = {}
    for key, count in api.items():
        if not key.startswith("apiserver_request_total{"):
            continue
        labels = key[len("apiserver_request_total") :]
        total = api.get(f"apiserver_request_duration_seconds_sum{labels}", 0.0)
        answered = api.get(f"apiserver_request_duration_seconds_count{labels}", 0.0)
        requests[labels] = {
            "count": count,
            "per_pod": count / pods,
            "mean_ms": 1000 * total / answered if answered else None,
        }
    reconciles = worker.get("flotilla_reconcile_duration_seconds_count", 0.0)
    triggers = worker.get("flotilla_trigger_latency_seconds_count", 0.0)
    return {
        "requests": dict(sorted(requests.items(), key=lambda kv: -float(kv[1]["count"]))),
        "requests_per_pod": sum(float(r["count"]) for r in requests.values()) / pods,
        "cache_evaluated_per_pod": api.get("apiserver_cache_list_evaluated_objects_total", 0.0) / pods,
        "cache_fetched_per_pod": api.get("apiserver_cache_list_fetched_objects_total", 0.0) / pods,
        "storage_evaluated_per_pod": api.get("apiserver_storage_list_evaluated_objects_total", 0.0) / pods,
        "reconciles": reconciles,
        "reconciles_per_pod": reconciles / pods,
        "reconcile_mean_s": worker.get("flotilla_reconcile_duration_seconds_sum", 0.0) / reconciles
        if reconciles
        else None,
        "trigger_latency_mean_s": worker.get("flotilla_trigger_latency_seconds_sum", 0.0) / triggers
        if triggers
        else None,
        # the worker's reads: a LIST is a GET on the wire
        "worker_reads_per_pod": sum(
            v for k, v in worker.items() if k.startswith("flotilla_kube_requests_total{verb=GET")
        )
        / pods,
        "triggers_published_per_pod": watcher.get("flotilla_events_published_total{type=cloneset}", 0.0)
        / pods,
        "updates_skipped_per_pod": watcher.get("flotilla_watcher_updates_skipped_total{type=cloneset}", 0.0)
        / pods,
        "worker": worker,
        "watcher": watcher,
    }


def noop_share(reasons: dict[str, int]) -> float | None:
    """The share of reconciles that changed nothing (``reconciled: in sync``)."""
    total = sum(reasons.values())
    return reasons.get("in sync", 0) / total if total else None


def reconcile_reasons(log_text: str) -> dict[str, int]:
    """The worker's ``reconciled: <reason>`` lines counted by reason (numbers dropped)."""
    reasons: Counter[str] = Counter()
    for line in log_text.splitlines():
        if not line.startswith("{") or '"reconciled: ' not in line:
            continue
        message = str(orjson.loads(line).get("msg", ""))
        reasons[re.sub(r"[:(].*", "", message.removeprefix("reconciled: ")).strip()] += 1
    return dict(reasons.most_common())


async def decoded_sizes(client: KubeClient, cloneset: str) -> dict[str, float]:
    """One CloneSet's pods as its reconcile reads them: JSON bytes and decoded (Python) bytes per
    pod, with and without ``metadata.managedFields`` (tracemalloc in this process)."""
    raw = await client.request(
        "GET", PODS.path(NAMESPACE), params={"labelSelector": f"app={cloneset}", "limit": "500"}
    )
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        items = orjson.loads(raw)["items"]
        full = tracemalloc.get_traced_memory()[0] - base
        full_json = len(orjson.dumps(items))
        for item in items:
            item["metadata"].pop("managedFields", None)
        slim = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    count = max(1, len(items))
    return {
        "pods": len(items),
        "json_bytes_per_pod": full_json / count,
        "json_bytes_per_pod_without_managed_fields": len(orjson.dumps(items)) / count,
        "decoded_bytes_per_pod": full / count,
        "decoded_bytes_per_pod_without_managed_fields": slim / count,
    }


async def api_cpu_profile(client: KubeClient, out: Path, delay: float, seconds: int) -> None:
    """The API server's CPU profile (its ``/debug/pprof``) over ``seconds``, ``delay`` s from now;
    read it with ``go tool pprof -top -cum OUT``."""
    await asyncio.sleep(delay)
    data = await client.request("GET", "/debug/pprof/profile", params={"seconds": str(seconds)}, retry=False)
    await asyncio.to_thread(out.write_bytes, data)


async def profiled_roll(scale: Scale, tracker: StageTracker, image: str, label: str) -> dict[str, Any]:
    plane, client = scale.plane, scale.client
    profiling: asyncio.Task[None] | None = None
    pprof = plane.env.run_dir / f"apiserver-roll-to-{image.rsplit(':', 1)[-1]}-{int(time.time())}.pprof"
    if scale.args.pprof:
        profiling = asyncio.create_task(api_cpu_profile(client, pprof, 15.0, scale.args.pprof))
    api_before, worker_before = await _api_metrics(client), await _worker_metrics(plane)
    watcher_before = await _component_metrics(plane, WATCHER, WATCHER_WANTED)
    load_before = os.getloadavg()
    follower = LogFollower(plane.flotilla[WORKER].log_path)
    follower.mark()
    tracker.begin(image)

    async def sampler() -> None:
        while True:
            await asyncio.sleep(5.0)
            tracker.sample()

    sampling = asyncio.create_task(sampler())
    try:
        record = await scale.roll(image, label)
    finally:
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
    record["stages"] = tracker.end()
    record["reconcile_reasons"] = reconcile_reasons(follower.read())
    record["noop_share"] = noop_share(record["reconcile_reasons"])
    if profiling is not None:
        try:
            await profiling
            record["apiserver_pprof"] = str(pprof)
        except Exception as err:  # a profile is a bonus: the roll's figures stand without it
            record["apiserver_pprof_error"] = f"{type(err).__name__}: {err}"
    api_after, worker_after = await _api_metrics(client), await _worker_metrics(plane)
    watcher_after = await _component_metrics(plane, WATCHER, WATCHER_WANTED)
    size = len(scale.created) * scale.shape.pods_per_cloneset
    record.update(
        _summary(
            delta(api_before, api_after),
            delta(worker_before, worker_after),
            delta(watcher_before, watcher_after),
            size,
        ),
        load_before=load_before,
        load_after=os.getloadavg(),
    )
    if "seconds" in record:
        record["pods_per_second"] = size / record["seconds"]
    return record


async def run(plane: BenchPlane, shape: Shape, args: argparse.Namespace, out: dict[str, Any]) -> None:
    out.update({"stages": [], "rolls": []})
    base_argv = list(plane.flotilla[WORKER].argv)
    watcher_argv = list(plane.flotilla[WATCHER].argv)
    watcher_flags: list[str] = []
    async with KubeClient.from_environment(plane.env.kubeconfig) as client:
        scale = Scale(plane, client, shape, args)
        tracker = StageTracker(client, NAMESPACE, f"{POD_LABEL[0]}={POD_LABEL[1]}")
        scale.tracker = tracker
        await tracker.start()
        try:
            for count in args.stages:
                load = os.getloadavg()
                seconds = await scale.create(count)
                stage = await scale.stage((WATCHER, WORKER))
                stage.update(setup_seconds=seconds, load_before=load, load_after=os.getloadavg())
                stage["pod_sizes"] = await decoded_sizes(client, scale.created[0])
                out["stages"].append(stage)
                _log(f"{stage['pods']} pods Ready in {seconds:.1f} s; {stage['rss']}")
            image = wl.IMAGE_V1
            for index, variant in enumerate(args.variant):
                extra, for_watcher, env = split_variant(variant)
                if for_watcher != watcher_flags:
                    restart(plane, WATCHER, watcher_argv, for_watcher, f"v{index}")
                    watcher_flags = for_watcher
                if index or extra or env:
                    restart(plane, WORKER, base_argv, extra, f"v{index}", env)
                if index or extra or for_watcher or env:
                    await asyncio.sleep(3.0)
                image = wl.IMAGE_V2 if image == wl.IMAGE_V1 else wl.IMAGE_V1
                pid = plane.flotilla[WORKER].pid
                record = await profiled_roll(scale, tracker, image, f"roll, worker {variant or 'default'}")
                record["variant"] = variant
                record["pod_sizes"] = await decoded_sizes(client, scale.created[0])
                if pid is not None:
                    record["worker_rss_after"] = {"rss": rss_bytes(pid), "peak": peak_rss_bytes(pid)}
                out["rolls"].append(record)
                _log(_line(record))
        finally:
            await tracker.stop()


def _line(record: dict[str, Any]) -> str:
    stages = record["stages"]
    per_pod = ", ".join(f"{k} {v:.1f}" for k, v in stages["pod_seconds_per_pod"].items())
    per_set = ", ".join(f"{k} {v:.1f}" for k, v in stages["cloneset_seconds_per_cloneset"].items())
    return (
        f"{record.get('variant') or 'default'}: {record.get('seconds', record.get('error'))} s, "
        f"{record.get('pods_per_second', 0):.1f} pods/s; pod s/pod: {per_pod}; CloneSet s: {per_set}; "
        f"requests/pod {record['requests_per_pod']:.2f}; "
        f"worker reads/pod {record['worker_reads_per_pod']:.2f}; "
        f"triggers/pod {record['triggers_published_per_pod']:.2f} "
        f"(skipped {record['updates_skipped_per_pod']:.2f}); "
        f"no-op share {record['noop_share'] or 0:.2f}; reconciles {record['reconciles']:.0f} "
        f"(mean {record['reconcile_mean_s'] or 0:.2f} s; trigger latency "
        f"{record['trigger_latency_mean_s'] or 0:.2f} s); reasons {record['reconcile_reasons']}; "
        f"load {record['load_before'][0]:.1f}"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scale_profile", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--clonesets", type=int, default=20)
    parser.add_argument("--pods", type=int, default=100, help="pods per CloneSet")
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--stages", default="", help="CloneSets after each creation stage, e.g. 10,20")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="extra worker flags of one roll ('' = as started; 'watcher:--flag=v' for the watcher's); "
        "repeat for rolls side by side",
    )
    parser.add_argument("--heap", action="store_true", help="run the first worker under tracemalloc")
    parser.add_argument("--no-roll", action="store_true", help="only the creation stages (memory)")
    parser.add_argument(
        "--pprof", type=int, default=0, help="API server CPU profile seconds per roll (max 25)"
    )
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    args.shape = Shape(args.clonesets, args.pods, args.nodes)
    args.stages = [int(s) for s in args.stages.split(",") if s] or [args.clonesets]
    if args.stages[-1] != args.clonesets:
        parser.error("--stages must end at --clonesets")
    args.variant = [] if args.no_roll else args.variant or [""]
    args.idle_seconds = 0.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    shape: Shape = args.shape

    result: dict[str, Any] = {
        **result_header(
            "scale-profile", "benchmarks.scale_profile", list(argv if argv is not None else sys.argv[1:])
        ),
        "shape": asdict(shape),
    }
    run_dir = new_run_dir("bench-scale-profile")
    output: Path = args.output or run_dir / "scale-profile.json"
    _log(f"{shape.describe()}; plane in {run_dir}")
    per_node = -(-shape.pods // shape.nodes) + 10
    plane = BenchPlane.start("unlimited", run_dir, NAMESPACE, pods_per_node=per_node, nodes=shape.nodes)
    try:
        plane.start_flotilla("cloneset")
        if args.heap:
            heap_out = run_dir / "worker-heap.txt"
            worker = plane.flotilla.pop(WORKER)
            worker.stop(timeout=15)
            launcher = [sys.executable, "-m", "benchmarks.scale_heap", str(heap_out)]
            argv_ = [*launcher, *worker.argv[1:]]
            process = ManagedProcess(
                WORKER, argv_, worker.log_path, env={**os.environ, "PYTHONPATH": str(REPO)}
            )
            process.start()
            plane.flotilla[WORKER] = process
            readyz = plane.metrics_urls[WORKER].replace("/metrics", "/readyz")
            process.wait_until(_probe(readyz), 120, "ready (/readyz)")
            result["heap_report"] = str(heap_out)
        result["flotilla"] = {}
        asyncio.run(run(plane, shape, args, result["flotilla"]))
    finally:
        result["host"]["loadavg_at_end"] = os.getloadavg()
        output.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        plane.stop()
    _log(f"results: {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
