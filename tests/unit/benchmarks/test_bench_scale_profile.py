"""``benchmarks.scale_profile``'s variants (worker flags and ``watcher:`` flags) and the per-roll
figures it adds: the no-op share of reconciles and the reads / triggers per rolled pod."""

from __future__ import annotations

from benchmarks.scale_profile import _summary, noop_share, split_variant


def test_a_variant_splits_into_worker_flags_watcher_flags_and_worker_environment() -> None:
    assert split_variant("") == ([], [], {})
    assert split_variant("--concurrency=4") == (["--concurrency=4"], [], {})
    assert split_variant(
        "watcher:--cloneset-event-filter=on --concurrency=4 env:FLOTILLA_STRAY_RESYNC_SECONDS=0"
    ) == (["--concurrency=4"], ["--cloneset-event-filter=on"], {"FLOTILLA_STRAY_RESYNC_SECONDS": "0"})


def test_the_noop_share_is_the_in_sync_reconciles_over_all() -> None:
    assert noop_share({"in sync": 63, "updating": 20, "refreshing pods": 17}) == 0.63
    assert noop_share({}) is None


def test_reads_and_triggers_per_rolled_pod() -> None:
    worker = {
        "flotilla_kube_requests_total{verb=GET}": 500.0,
        "flotilla_kube_requests_total{verb=PATCH}": 400.0,
    }
    watcher = {
        "flotilla_events_published_total{type=cloneset}": 300.0,
        "flotilla_watcher_updates_skipped_total{type=cloneset}": 100.0,
    }
    summary = _summary({}, worker, watcher, 100)
    assert summary["worker_reads_per_pod"] == 5.0
    assert summary["triggers_published_per_pod"] == 3.0
    assert summary["updates_skipped_per_pod"] == 1.0
