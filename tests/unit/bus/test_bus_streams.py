"""Stream, consumer and bucket declarations as data, and the drift comparison."""

from __future__ import annotations

from dataclasses import replace

import pytest
from nats.js import api

from schemas.bus.bootstrap import consumer_drift, stream_drift
from schemas.bus.streams import check_timing, reconcile_stream, watcher_bus, worker_bus, worker_consumer


def test_reconcile_stream_keeps_one_trigger_per_key() -> None:
    spec = reconcile_stream()
    assert spec.max_msgs_per_subject == 1
    assert spec.duplicate_window > 0
    assert spec.subjects == ("flotilla.reconcile.>", "flotilla.requeue.>")
    assert spec.allow_msg_schedules  # requeues are message schedules on flotilla.requeue.<key>


def test_worker_bus_declares_its_consumer_and_buckets() -> None:
    bus = worker_bus("testcm")
    assert [c.durable_name for c in bus.consumers] == ["worker-testcm"]
    assert bus.consumers[0].filter_subject == "flotilla.reconcile.testcm.>"
    assert {b.bucket for b in bus.buckets} == {"flotilla-leases", "flotilla-failures"}
    assert watcher_bus().consumers == ()


def test_matching_server_config_has_no_drift() -> None:
    spec = reconcile_stream()
    actual = api.StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        retention=api.RetentionPolicy.WORK_QUEUE,
        storage=api.StorageType.FILE,
        max_msgs_per_subject=1,
        max_age=0.0,
        max_bytes=256 * 1024 * 1024,
        discard=api.DiscardPolicy.OLD,
        duplicate_window=120.0,
        allow_msg_schedules=True,
        num_replicas=1,
    )
    assert stream_drift(spec, actual) == ()
    drifted = actual.evolve(max_msgs_per_subject=-1, storage=api.StorageType.MEMORY)
    assert len(stream_drift(spec, drifted)) == 2
    assert stream_drift(spec, actual.evolve(allow_msg_schedules=None)) == (
        "allow_msg_schedules False -> True",
    )
    # a stream made before byte limits and replicas: unlimited, discarding old, R1 (the server omits it)
    older = actual.evolve(max_bytes=-1, discard=api.DiscardPolicy.NEW, num_replicas=None)
    assert sorted(stream_drift(replace(spec, replicas=3), older)) == [
        "discard DiscardPolicy.NEW -> old",
        "max_bytes -1 -> 268435456",
        "replicas 1 -> 3",
    ]


def test_consumer_drift_names_the_field() -> None:
    spec = worker_consumer("testcm")
    actual = api.ConsumerConfig(
        durable_name="worker-testcm",
        filter_subject=spec.filter_subject,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=spec.ack_wait,
        max_ack_pending=spec.max_ack_pending,
        max_deliver=-1,
    )
    assert consumer_drift(spec, actual) == ()
    assert consumer_drift(spec, actual.evolve(ack_wait=99.0)) == (f"ack_wait 99.0 -> {spec.ack_wait}",)


def test_timing_check() -> None:
    check_timing(lease_ttl=15, ack_wait=15, renew_every=5, heartbeat_every=5)
    with pytest.raises(ValueError, match="too sparse"):
        check_timing(lease_ttl=15, ack_wait=15, renew_every=8, heartbeat_every=5)
