"""Shared measurement helpers for Flotilla's benchmarks (``benchmarks/*.py``).

``stats`` pure medians, ratios and markdown tables; ``procstat`` CPU seconds and peak RSS
from /proc; ``promscrape`` counter deltas from Prometheus text (API server, Flotilla);
``podwatch`` times when a condition on a set of pods first holds (one watch); ``rawloop`` a
plain parallel pod-creation loop run as its own process; ``controlplane`` a benchmark's own
local control plane + NATS + Flotilla processes at chosen client rate limits; ``cpuprofile``
runs the ``flotilla`` CLI under a CPU-time cProfile; ``runs`` polls, cleans up and heads a
result; ``sidebyside`` the repeat/variant loop, table cells and result file of the two-variant
benchmarks.
"""
