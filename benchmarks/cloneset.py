"""Issue 5's benchmark: Flotilla's CloneSet against kube-controller-manager and a raw client loop.

``.venv/bin/python -m benchmarks.cloneset [--sizes 100,500,1000] [--repeats 3] [--quick]``
starts its own local control plane (+ NATS, + Flotilla's watcher and CloneSet worker when
``workers.cloneset:WORKER`` exists) once per client rate-limit mode, runs every scenario side by
side (variants interleaved, order rotated each repeat), writes a JSON result file and prints a
markdown table of medians and ratios. ``--report FILE`` re-renders a saved result.
``--pod-start-ms N --container-restart-ms M`` make kwok charge what a kubelet charges (pod start,
in-place container restart; default 0: a bound pod is Ready at once); the JSON result and every
report name the model. Scenarios:
``scale`` (0 -> N Ready: ReplicaSet, CloneSet, raw loop) and ``update`` (image v1 -> v2:
Deployment, CloneSet InPlaceIfPossible, CloneSet ReCreate). The same CloneSets under
kruise-manager v1.9.1 (variants ``kruise``, ``kruise-inplace``, ``kruise-recreate``) run on a
control plane of their own per limit mode, with kruise's CRDs and webhooks (``--no-kruise``:
skip); its client limit is kruise's default (30 QPS, burst 50) at ``default`` limits and 5000 /
10000 at ``unlimited``. ``protocol-loop`` is the raw loop making exactly the writes of a kruise
CloneSet pod (create, then its readiness-gate conditions), every pod at once;
``protocol-inplace`` the same for kruise's in-place update (``InPlaceUpdateReady`` False, the
patch, ``InPlaceUpdateReady`` True once the new image runs). See
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import os
import pstats
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import orjson

from benchmarks.cloneset_report import render_markdown
from benchmarks.cloneset_scenarios import RunContext, RunRecord, image_update, scale_up
from benchmarks.cloneset_settings import describe_settings
from benchmarks.cloneset_summary import summarize_records
from benchmarks.harness.controlplane import LIMIT_MODES, BenchPlane
from benchmarks.harness.runs import git_commit
from flotilla.devcluster.env import new_run_dir
from flotilla.devcluster.kwok_nodes import KubeletDelays
from flotilla.runtime.kube import KubeClient

NAMESPACE = "bench"
Scenario = Callable[[RunContext, RunRecord], Coroutine[Any, Any, RunRecord]]
SCENARIOS: dict[str, tuple[Scenario, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # name: (run, built-in variants, Flotilla CloneSet variants, kruise-manager variants)
    "scale": (scale_up, ("replicaset", "rawloop", "protocol-loop"), ("cloneset",), ("kruise",)),
    "update": (
        image_update,
        ("deployment", "protocol-inplace"),
        ("cloneset-inplace", "cloneset-recreate"),
        ("kruise-inplace", "kruise-recreate"),
    ),
}
#: kruise-manager's client limit per limit mode (None: its default, 30 QPS / burst 50).
KRUISE_QPS: dict[str, int | None] = {"default": None, "unlimited": 5000}


def cloneset_worker_status() -> tuple[bool, str]:
    """Is ``flotilla worker cloneset`` runnable (``workers.cloneset:WORKER`` a WorkerType)?"""
    try:
        import workers.cloneset as module
        from workers.runtime.contract import WorkerType
    except ImportError as err:
        return False, f"workers.cloneset does not import: {err}"
    if not isinstance(getattr(module, "WORKER", None), WorkerType):
        return False, "workers.cloneset has no WORKER (the worker shell has not landed)"
    return True, "workers.cloneset:WORKER"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.cloneset", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--sizes", default="100,500,1000", help="pod counts N, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--quick", action="store_true", help="N=50, 1 repeat, unlimited limits only (< 2 min)"
    )
    parser.add_argument(
        "--limits", default=",".join(LIMIT_MODES), help="client rate-limit modes: default,unlimited"
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="scale,update")
    parser.add_argument("--no-cloneset", action="store_true", help="measure the baselines only")
    parser.add_argument("--no-kruise", action="store_true", help="skip the kruise-manager variants")
    parser.add_argument(
        "--kruise-only", action="store_true", help="only the kruise-manager variants (needs --output)"
    )
    parser.add_argument("--raw-concurrency", type=int, default=32, help="raw loop: requests in flight")
    parser.add_argument("--worker-arg", action="append", default=[], help="extra flag for flotilla worker")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the worker under cProfile (slower; timings not comparable)",
    )
    parser.add_argument(
        "--pod-start-ms",
        type=int,
        default=0,
        help="kwok's pod start delay: bound -> Running and Ready (sandbox, image pull, container start)",
    )
    parser.add_argument(
        "--container-restart-ms",
        type=int,
        default=0,
        help="kwok's in-place container restart delay: image changed -> running the new image",
    )
    parser.add_argument(
        "--kubelet-jitter-ms",
        type=int,
        default=0,
        help="a random extra in [0, N) ms on each of the two delays that is not 0",
    )
    parser.add_argument("--output", type=Path, help="JSON result file (default: in the run folder)")
    parser.add_argument(
        "--report", type=Path, nargs="+", help="only re-render saved JSON results (records merged)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats, args.limits = "50", 1, "unlimited"
    args.size_list = [int(s) for s in str(args.sizes).split(",") if s]
    args.limit_list = [m for m in str(args.limits).split(",") if m]
    args.scenario_list = [s for s in str(args.scenarios).split(",") if s]
    if args.kruise_only and (args.no_kruise or args.output is None):
        parser.error("--kruise-only needs --output and excludes --no-kruise")
    for mode in args.limit_list:
        if mode not in LIMIT_MODES:
            parser.error(f"unknown --limits mode {mode!r} (known: {', '.join(LIMIT_MODES)})")
    for scenario in args.scenario_list:
        if scenario not in SCENARIOS:
            parser.error(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    try:
        args.kubelet = KubeletDelays(args.pod_start_ms, args.container_restart_ms, args.kubelet_jitter_ms)
    except ValueError as err:
        parser.error(str(err))
    return args


def _log(message: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


async def run_plane(
    plane: BenchPlane, args: argparse.Namespace, with_cloneset: bool, kruise: bool = False
) -> list[RunRecord]:
    """Every scenario, size and repeat on one control plane; variants interleaved. ``kruise``:
    the plane runs kruise-manager, and only its variants."""
    records: list[RunRecord] = []
    async with KubeClient.from_environment(plane.env.kubeconfig) as client:
        ctx = RunContext(
            client=client,
            namespace=plane.namespace,
            kubeconfig=plane.env.kubeconfig,
            pids=plane.component_pids(),
            work_dir=plane.env.run_dir,
            metrics_urls=plane.metrics_urls,
            raw_concurrency=args.raw_concurrency,
        )
        for scenario in args.scenario_list:
            run, builtin, clonesets, kruises = SCENARIOS[scenario]
            ours = list(builtin) + (list(clonesets) if with_cloneset else [])
            variants = list(kruises) if kruise else ours
            _log(f"{plane.limits}: {scenario}: warm-up (N=10, not recorded)")
            for variant in variants:
                await run(ctx, RunRecord(scenario, variant, plane.limits, 10, -1))
            for repeat in range(args.repeats):
                order = variants[repeat % len(variants) :] + variants[: repeat % len(variants)]
                for size in args.size_list:
                    for variant in order:
                        record = await run(ctx, RunRecord(scenario, variant, plane.limits, size, repeat))
                        records.append(record)
                        outcome = f"{record.seconds:.2f} s" if record.seconds is not None else record.error
                        _log(f"{plane.limits}: {scenario} {variant} N={size} r{repeat}: {outcome}")
    return records


def profile_summary(path: Path, lines: int = 40) -> str:
    """The cProfile stats at ``path``: top functions by own time, then by cumulative time."""
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(lines)
    stats.sort_stats("cumulative").print_stats(lines)
    return out.getvalue()


def run_kruise_plane(args: argparse.Namespace, limits: str, max_pods: int) -> list[RunRecord]:
    """The kruise-manager variants on a control plane of their own (kruise's CRDs, not Flotilla's)."""
    run_dir = new_run_dir(f"bench-cloneset-kruise-{limits}")
    qps = KRUISE_QPS[limits]
    _log(f"{limits}: kruise-manager ({'30 QPS / burst 50' if qps is None else f'{qps} QPS'}): {run_dir}")
    plane = BenchPlane.start(
        limits, run_dir, NAMESPACE, pods_per_node=max(1000, max_pods), kubelet_delays=args.kubelet, crds=()
    )
    try:
        plane.start_kruise(qps)
        return asyncio.run(run_plane(plane, args, False, kruise=True))
    finally:
        plane.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        results = [orjson.loads(path.read_bytes()) for path in args.report]
        merged = [r for result in results for r in result["records"]]
        try:
            print(render_markdown(merged, summarize_records(merged), [r.get("settings") for r in results]))
        except ValueError as err:
            print(f"--report: {err}", file=sys.stderr)
            return 2
        return 0
    available, reason = cloneset_worker_status()
    with_cloneset = available and not args.no_cloneset
    if available and args.no_cloneset:
        reason = "--no-cloneset"
    _log(f"CloneSet worker: {'measured' if with_cloneset else 'not measured'} ({reason})")
    _log(f"kubelet model: {args.kubelet.describe()}")
    result: dict[str, Any] = {
        "benchmark": "cloneset",
        "command": " ".join(["python -m benchmarks.cloneset", *(argv if argv is not None else sys.argv[1:])]),
        "git_commit": git_commit(),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg()},
        "cloneset_worker": {"measured": with_cloneset, "reason": reason},
        "settings": describe_settings(args.limit_list, args.raw_concurrency, args.worker_arg, args.kubelet),
        "profiled": bool(args.profile),
        "records": [],
    }
    result["summary"] = summarize_records([])
    output: Path | None = args.output
    max_pods = max([*args.size_list, 10])
    for limits in args.limit_list:
        if not args.kruise_only:
            run_dir = new_run_dir(f"bench-cloneset-{limits}")
            output = output or run_dir / "cloneset-results.json"
            _log(f"{limits}: starting the control plane in {run_dir}")
            plane = BenchPlane.start(
                limits, run_dir, NAMESPACE, pods_per_node=max(1000, max_pods), kubelet_delays=args.kubelet
            )
            try:
                profile = run_dir / "worker.prof" if args.profile else None
                if with_cloneset:
                    plane.start_flotilla("cloneset", tuple(args.worker_arg), profile)
                records = asyncio.run(run_plane(plane, args, with_cloneset))
            finally:
                plane.stop()
            if profile is not None and profile.exists():
                report = run_dir / "worker-profile.txt"
                report.write_text(profile_summary(profile))
                result.setdefault("profiles", {})[limits] = str(report)
                _log(f"{limits}: worker profile: {report}")
            result["records"].extend(r.as_json() for r in records)
            result["summary"] = summarize_records(result["records"])
            output.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        if not args.no_kruise:
            assert output is not None  # --kruise-only requires --output
            result["records"].extend(r.as_json() for r in run_kruise_plane(args, limits, max_pods))
            result["summary"] = summarize_records(result["records"])
            output.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    result["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    result["host"]["loadavg_at_end"] = os.getloadavg()
    assert output is not None
    output.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(render_markdown(result["records"], result["summary"], [result["settings"]]))
    print(f"results: {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
