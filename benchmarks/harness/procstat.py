"""CPU seconds and peak RSS of running processes, read from /proc (Linux only).

`ProcessMeter` snapshots a set of named pids before a benchmark step and reports, after it,
each process's CPU seconds used (user + system) and its peak resident set size during the
step. The peak comes from the kernel's own high-water mark (``VmHWM``), reset before the step
through ``/proc/<pid>/clear_refs`` (value 5); where the reset is refused the meter says so and
the peak is the process's lifetime peak. `machine_busy` reads /proc/stat to tell how loaded the
whole machine was. Used by the benchmarks (``benchmarks/cloneset_scenarios.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` so far (threads included); None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            raw = handle.read()
    except OSError:
        return None
    # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _status_kib(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss_bytes(pid: int) -> int | None:
    kib = _status_kib(pid, "VmHWM")
    return None if kib is None else kib * 1024


def rss_bytes(pid: int) -> int | None:
    kib = _status_kib(pid, "VmRSS")
    return None if kib is None else kib * 1024


def reset_peak_rss(pid: int) -> bool:
    """Reset ``pid``'s VmHWM to its current RSS (Linux >= 4.0); False if refused."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


@dataclass(frozen=True)
class ProcessUsage:
    """One process's use of the machine during one step."""

    cpu_seconds: float | None
    peak_rss_bytes: int | None
    #: False when the peak could not be reset: it is then the lifetime peak.
    peak_is_step_peak: bool


@dataclass(frozen=True)
class MachineTicks:
    busy: int
    total: int


def machine_ticks() -> MachineTicks:
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user/nice
    return MachineTicks(busy=total - idle, total=total)


def machine_busy(before: MachineTicks, after: MachineTicks) -> float | None:
    """Fraction (0..1) of all cores' time that was busy between two readings."""
    total = after.total - before.total
    return None if total <= 0 else (after.busy - before.busy) / total


class ProcessMeter:
    """Measures the named processes over one step: ``start()``, run the step, ``stop()``."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = dict(pids)
        self._cpu: dict[str, float | None] = {}
        self._reset: dict[str, bool] = {}
        self._machine: MachineTicks | None = None

    def start(self) -> None:
        self._reset = {name: reset_peak_rss(pid) for name, pid in self.pids.items()}
        self._cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._machine = machine_ticks()

    def stop(self) -> tuple[dict[str, ProcessUsage], float | None]:
        """Per process usage since ``start()``, and the machine's busy fraction over the step."""
        assert self._machine is not None, "ProcessMeter.stop() before start()"
        busy = machine_busy(self._machine, machine_ticks())
        usage: dict[str, ProcessUsage] = {}
        for name, pid in self.pids.items():
            before, after = self._cpu.get(name), cpu_seconds(pid)
            used = None if before is None or after is None else after - before
            usage[name] = ProcessUsage(used, peak_rss_bytes(pid), self._reset.get(name, False))
        return usage, busy
