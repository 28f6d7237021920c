"""Run the ``flotilla`` command line under cProfile with a CPU-time clock.

``python -m benchmarks.harness.cpuprofile OUT.prof worker cloneset ...`` runs
``flotilla.cli.main(["worker", "cloneset", ...])`` and writes the profile to ``OUT.prof`` when
it exits (SIGTERM is a clean exit for the worker). The clock is ``time.process_time``, so time
spent waiting (epoll, a descheduled process on a busy machine) is not counted: the profile
shows where the process's CPU seconds go. Started by ``controlplane.BenchPlane.start_flotilla``.
"""

from __future__ import annotations

import cProfile
import sys
import time

from flotilla.cli import main as flotilla_main


def main() -> int:
    out, argv = sys.argv[1], sys.argv[2:]
    profiler = cProfile.Profile(time.process_time)
    code = 0
    try:
        code = int(profiler.runcall(flotilla_main, argv) or 0)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        profiler.dump_stats(out)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
