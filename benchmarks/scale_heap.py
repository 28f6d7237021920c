"""Run the ``flotilla`` command line under tracemalloc and report what its largest heap held.

``python -m benchmarks.scale_heap OUT.txt worker cloneset ...`` runs ``flotilla.cli.main`` with
tracemalloc on (``FLOTILLA_TRACEMALLOC_FRAMES`` frames per allocation, default 6). A thread
looks at the traced size every second; when it is 5 % (and 2 MiB) above the largest seen, it
takes a snapshot (at most one every 3 s: a snapshot holds the GIL) and rewrites ``OUT.txt``: the
traced size and peak over time, then that snapshot's top allocation sites by line and by
traceback. tracemalloc makes the process slower
and bigger (the traces themselves): read the sites and their shares, not the process's RSS.
Started by ``benchmarks/scale_profile.py --heap``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

from flotilla.cli import main as flotilla_main

MIB = 1024 * 1024


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _report(out: Path, snapshot: tracemalloc.Snapshot, series: list[str]) -> None:
    snapshot = snapshot.filter_traces((tracemalloc.Filter(False, tracemalloc.__file__),))
    total = sum(s.size for s in snapshot.statistics("filename"))
    lines = [f"largest traced heap: {total / MIB:.1f} MiB", "", "time, traced, peak, RSS (MiB)", *series]
    lines += ["", "top 30 by line:"]
    for stat in snapshot.statistics("lineno")[:30]:
        lines.append(f"{stat.size / MIB:8.2f} MiB {stat.count:8d} blocks  {stat.traceback[0]}")
    lines += ["", "top 15 by traceback:"]
    for stat in snapshot.statistics("traceback")[:15]:
        lines.append(f"{stat.size / MIB:8.2f} MiB {stat.count:8d} blocks")
        lines.extend(f"      {frame}" for frame in stat.traceback.format())
    out.write_text("\n".join(lines) + "\n")


def _watch(out: Path, stop: threading.Event) -> None:
    largest = 0
    last = 0.0
    series: list[str] = []
    started = time.monotonic()
    while not stop.wait(1.0):
        current, peak = tracemalloc.get_traced_memory()
        elapsed = time.monotonic() - started
        series.append(f"{elapsed:.0f}, {current / MIB:.1f}, {peak / MIB:.1f}, {_rss_mib():.1f}")
        if current > largest * 1.05 + 2 * MIB and time.monotonic() - last >= 3.0:
            largest = current
            _report(out, tracemalloc.take_snapshot(), series[-600:])
            last = time.monotonic()


def main() -> int:
    out, argv = Path(sys.argv[1]), sys.argv[2:]
    tracemalloc.start(int(os.environ.get("FLOTILLA_TRACEMALLOC_FRAMES", "6")))
    stop = threading.Event()
    threading.Thread(target=_watch, args=(out, stop), daemon=True).start()
    code = 0
    try:
        code = int(flotilla_main(argv) or 0)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        stop.set()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
