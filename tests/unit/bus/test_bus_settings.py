"""Bus settings: replicas and byte limits from the environment / flags, applied to every object (pure)."""

from __future__ import annotations

import pytest

from schemas.bus.settings import BusSettings, BusSettingsError, parse_size
from schemas.bus.streams import (
    DEADLETTER_STREAM,
    EVENTLOG_STREAM,
    RECONCILE_STREAM,
    Discard,
    watcher_bus,
    worker_bus,
)


def test_defaults_are_one_replica_and_bounded_growing_streams() -> None:
    settings = BusSettings.from_env({})
    assert settings.replicas == 1
    assert settings.reconcile_max_bytes == 256 * 1024 * 1024
    assert settings.eventlog_max_bytes == 1024 * 1024 * 1024


def test_environment_sets_replicas_and_limits() -> None:
    settings = BusSettings.from_env(
        {
            "FLOTILLA_BUS_REPLICAS": "3",
            "FLOTILLA_RECONCILE_MAX_BYTES": "64Mi",
            "FLOTILLA_EVENTLOG_MAX_BYTES": "2G",
        }
    )
    assert settings == BusSettings(replicas=3, reconcile_max_bytes=64 * 2**20, eventlog_max_bytes=2 * 10**9)


def test_every_stream_and_bucket_gets_the_replicas_and_only_the_growing_streams_a_byte_limit() -> None:
    settings = BusSettings(replicas=3, reconcile_max_bytes=10 * 2**20, eventlog_max_bytes=20 * 2**20)
    worker = settings.apply(worker_bus("cloneset"))
    watcher = settings.apply(watcher_bus())
    streams = {s.name: s for s in worker.streams + watcher.streams}
    assert {s.replicas for s in streams.values()} == {3}
    assert {b.replicas for b in worker.buckets + watcher.buckets} == {3}
    assert streams[RECONCILE_STREAM].max_bytes == 10 * 2**20
    assert streams[EVENTLOG_STREAM].max_bytes == 20 * 2**20
    assert streams[DEADLETTER_STREAM].max_bytes == -1  # bounded by count and age instead
    # nats-server refuses message schedules (requeues) on a discard-new stream
    assert streams[RECONCILE_STREAM].discard is Discard.OLD
    assert streams[EVENTLOG_STREAM].discard is Discard.OLD


@pytest.mark.parametrize("value", ["0", "6", "three", "-1"])
def test_unusable_replicas_name_the_variable_and_the_range(value: str) -> None:
    with pytest.raises(BusSettingsError, match=r"FLOTILLA_BUS_REPLICAS=.*(1 to 5|replicas)"):
        BusSettings.from_env({"FLOTILLA_BUS_REPLICAS": value})


@pytest.mark.parametrize(
    ("text", "size"),
    [("1048576", 2**20), ("256Mi", 256 * 2**20), ("1Gi", 2**30), ("500M", 500 * 10**6), ("1GiB", 2**30)],
)
def test_sizes_take_kubernetes_style_suffixes(text: str, size: int) -> None:
    assert parse_size(text, "X") == size


@pytest.mark.parametrize("text", ["lots", "1.5Gi", "-1", "100"])
def test_unusable_sizes_are_refused(text: str) -> None:
    with pytest.raises(BusSettingsError, match="FLOTILLA_RECONCILE_MAX_BYTES"):
        BusSettings.from_env({"FLOTILLA_RECONCILE_MAX_BYTES": text})
