"""What one CloneSet reconcile reads from the API server with 1 vs many CloneSets in its namespace.

``.venv/bin/python -m benchmarks.cloneset_reads [--clonesets 20] [--pods 20] [--observes 10]``
starts a control plane with Flotilla's watcher and CloneSet worker (``BenchPlane``), creates one
CloneSet of ``--pods`` pods, waits until they are Ready, and calls the worker's own ``observe``
(the reads of one reconcile) ``--observes`` times for it, with the watcher and worker paused
(SIGSTOP) so only these reads are counted; then adds ``--clonesets - 1`` more
CloneSets of ``--pods`` pods in the same namespace and measures the same CloneSet again. Per
observe it reports, from the API server's ``/metrics``: pod LIST requests, every request, bytes
in LIST responses, objects the API server returned and objects it filtered to find them
(``apiserver_cache_list_fetched_objects_total``: its watch cache reads every pod of the
namespace for a label selector). As a reference it also times the stray LISTs as
they were before they were narrowed to the CloneSet's template hashes (one ``key!=value`` per
requirement). Prints a markdown table; nothing is timed here, only counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

from benchmarks import cloneset_workloads as wl
from benchmarks.harness.controlplane import BenchPlane
from benchmarks.harness.promscrape import counters, delta
from flotilla.devcluster.env import new_run_dir
from flotilla.runtime.kube import PODS, KubeClient
from schemas.bus.envelope import KeyParts
from schemas.kruise.cloneset import CLONESET_INSTANCE_ID_LABEL
from workers.cloneset.worker import observe
from workers.runtime.observe import ApiStateReader

NAMESPACE = "bench"
#: API server counters read per observe; every other label is summed over.
WANTED = {
    "apiserver_request_total": ("verb", "resource"),
    "apiserver_response_sizes_sum": ("verb", "resource"),
    "apiserver_cache_list_fetched_objects_total": (),
    "apiserver_cache_list_evaluated_objects_total": (),
    "apiserver_cache_list_returned_objects_total": (),
    "apiserver_storage_list_evaluated_objects_total": (),
    "apiserver_storage_list_returned_objects_total": (),
}


def _log(message: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


async def _scrape(client: KubeClient) -> dict[str, float]:
    return counters((await client.request("GET", "/metrics")).decode(), WANTED)


async def _ready(client: KubeClient, total: int, wait_s: float = 900.0) -> None:
    """Wait until ``total`` pods of the namespace are Ready."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        pods = (await client.get(PODS.path(NAMESPACE))).get("items") or []
        ready = sum(
            1
            for p in pods
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (p.get("status") or {}).get("conditions") or []
            )
        )
        if ready >= total:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"{ready}/{total} pods Ready")
        await asyncio.sleep(0.5)


async def per_call(client: KubeClient, calls: int, call: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    before = await _scrape(client)
    for _ in range(calls):
        await call()
    after = await _scrape(client)
    # the two scrapes are GETs of /metrics (nonResourceURL): not in the resource counters
    return {k: v / calls for k, v in delta(before, after).items()}


@contextlib.contextmanager
def paused(plane: BenchPlane) -> Iterator[None]:
    """Flotilla's watcher and worker stopped (SIGSTOP) while observe's reads are counted, so none
    of theirs is; resumed (SIGCONT) afterwards to reconcile the next CloneSets."""
    pids = [p.pid for p in plane.flotilla.values() if p.pid is not None]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def reads_row(label: str, per: dict[str, float]) -> list[str]:
    def get(name: str) -> float:
        return sum(v for k, v in per.items() if k.startswith(name))

    requests = get("apiserver_request_total{")
    pod_lists = per.get("apiserver_request_total{verb=LIST,resource=pods}", 0.0)
    list_bytes = sum(v for k, v in per.items() if k.startswith("apiserver_response_sizes_sum{verb=LIST"))
    returned = get("apiserver_cache_list_returned_objects_total") + get(
        "apiserver_storage_list_returned_objects_total"
    )
    evaluated = get("apiserver_cache_list_fetched_objects_total") + get(
        "apiserver_storage_list_evaluated_objects_total"
    )
    return [
        label,
        f"{requests:.1f}",
        f"{pod_lists:.1f}",
        f"{list_bytes / 1024:.1f}",
        f"{returned:.0f}",
        f"{evaluated:.0f}",
    ]


async def _measure(args: argparse.Namespace, plane: BenchPlane) -> list[list[str]]:
    rows: list[list[str]] = []
    async with KubeClient.from_environment(plane.env.kubeconfig) as client:
        reader = ApiStateReader(client)
        path = wl.CLONESETS.path(NAMESPACE)
        key = KeyParts("cloneset", NAMESPACE, "reads-0")
        old_stray = {"labelSelector": f"{CLONESET_INSTANCE_ID_LABEL},app!=reads-0"}

        async def one_observe() -> None:
            snapshot = await observe(reader, key)
            found = len(snapshot.observed.pods) if snapshot.observed is not None else 0
            if found != args.pods:
                raise RuntimeError(f"observe found {found} pods of reads-0, not {args.pods}")

        async def unnarrowed() -> None:
            await client.get(PODS.path(NAMESPACE), old_stray)

        for count in (1, args.clonesets):
            first = 0 if count == 1 else 1
            for i in range(first, count):
                await client.create(path, wl.cloneset(f"reads-{i}", args.pods, wl.IMAGE_V1))
            await _ready(client, count * args.pods)
            await asyncio.sleep(2.0)  # the last status writes
            _log(f"{count} CloneSet(s) x {args.pods} pods Ready; observing reads-0 {args.observes} times")
            with paused(plane):
                today = await per_call(client, args.observes, one_observe)
                before = await per_call(client, args.observes, unnarrowed)
            rows.append(reads_row(f"{count} x {args.pods}: observe (today)", today))
            rows.append(
                reads_row(f"{count} x {args.pods}: one stray LIST before 5498a9c (`app!=reads-0`)", before)
            )
            _log(" | ".join(rows[-2]) + "\n" + " | ".join(rows[-1]))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.cloneset_reads", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--clonesets", type=int, default=20)
    parser.add_argument("--pods", type=int, default=20, help="pods per CloneSet")
    parser.add_argument("--observes", type=int, default=10)
    args = parser.parse_args(argv)
    run_dir = new_run_dir("bench-cloneset-reads")
    _log(f"starting the control plane in {run_dir}")
    plane = BenchPlane.start("unlimited", run_dir, NAMESPACE, pods_per_node=1000)
    try:
        plane.start_flotilla("cloneset")
        rows = asyncio.run(_measure(args, plane))
    finally:
        plane.stop()
    header = [
        "CloneSets x pods in the namespace: reads",
        "requests",
        "pod LISTs",
        "LIST KiB",
        "objects returned",
        "objects evaluated",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
