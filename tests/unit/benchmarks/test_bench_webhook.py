"""The webhook benchmark's reading of the API server's admission histogram (worked by hand)."""

from __future__ import annotations

import pytest

from benchmarks.webhook import buckets, quantile

H = "apiserver_admission_webhook_admission_duration_seconds"
MPOD = 'name="mpod.kb.io",operation="CREATE",rejected="false",type="admit"'
METRICS = "\n".join(
    [
        f"# HELP {H} [STABLE] Admission webhook latency",
        f"# TYPE {H} histogram",
        f'{H}_bucket{{{MPOD},le="0.005"}} 10',
        f'{H}_bucket{{{MPOD},le="0.025"}} 90',
        f'{H}_bucket{{{MPOD},le="0.1"}} 100',
        f'{H}_bucket{{{MPOD},le="+Inf"}} 100',
        f'{H}_bucket{{name="vpod.kb.io",operation="DELETE",rejected="false",type="validating",le="0.005"}} 7',
        f"{H}_sum{{{MPOD}}} 1.5",
        f"{H}_count{{{MPOD}}} 100",
        "",
    ]
)


def test_the_histogram_of_one_webhook_is_read_and_interpolated_like_histogram_quantile() -> None:
    after = buckets(METRICS, "mpod.kb.io")
    assert after == {0.005: 10, 0.025: 90, 0.1: 100, float("inf"): 100}
    before = {0.005: 0.0, 0.025: 0.0, 0.1: 0.0, float("inf"): 0.0}
    # rank 50 of 100 lies in (0.005, 0.025]: 10 below, 80 inside -> 0.005 + 0.02 * 40/80
    assert quantile(before, after, 0.5) == pytest.approx(0.015)
    # rank 99 lies in (0.025, 0.1]: 90 below, 10 inside -> 0.025 + 0.075 * 9/10
    assert quantile(before, after, 0.99) == pytest.approx(0.0925)
    # only what happened between the readings counts
    earlier = {0.005: 10.0, 0.025: 10.0, 0.1: 10.0, float("inf"): 10.0}
    assert quantile(earlier, after, 0.5) == pytest.approx(0.005 + 0.02 * 45 / 80)
    assert quantile(after, after, 0.5) is None
