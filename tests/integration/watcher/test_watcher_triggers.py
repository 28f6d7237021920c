"""The watcher process against the real control plane and NATS: triggers per key, owner mapping,
headers, resume from the checkpoint, resync, leader election."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.kube import KubeClient
from schemas.bus.envelope import EventType
from schemas.bus.streams import WATCHER_BUCKET
from schemas.bus.subjects import msg_id
from tests.integration.watcher.harness import (
    ConfigMaps,
    TriggerCollector,
    WatcherProcess,
    WatchSetup,
    start_watcher,
    wait_leader,
    wait_ready,
)
from tests.support.kvkeys import kv_keys
from tests.support.polling import eventually_async


async def test_every_change_of_a_watched_object_publishes_a_trigger_for_its_key(
    dev_env: DevEnvironment, setup: WatchSetup, collector: TriggerCollector, kube: KubeClient, tmp_path: Path
) -> None:
    watcher = start_watcher(dev_env, setup, tmp_path, "w1")
    try:
        await wait_ready(watcher)
        cms = ConfigMaps(kube, setup)
        for i in range(5):
            await cms.create(f"cm-{i}")
        await collector.wait_for(
            lambda: all(collector.seen_rv(n, rv) for n, rv in cms.latest.items()),
            30,
            "a trigger per new ConfigMap",
        )
        first = collector.for_key("cm-0")[-1]
        assert first.subject == f"flotilla.reconcile.{setup.type_name}.{setup.namespace}.cm-0"
        assert first.envelope.object_kind == "ConfigMap"
        assert first.envelope.object_uid == cms.uids["cm-0"]
        assert first.headers["Nats-Msg-Id"] == msg_id(
            first.envelope.key,
            first.envelope.object_uid,
            first.envelope.resource_version,
            first.envelope.event_type,
        )
        assert first.headers["traceparent"].startswith("00-")

        rv = await cms.change("cm-3")
        await collector.wait_for(lambda: collector.seen_rv("cm-3", rv), 30, "a trigger for the change")
        assert collector.for_key("cm-3")[-1].envelope.event_type is EventType.MODIFIED

        await cms.delete("cm-4")
        await collector.wait_for(
            lambda: any(r.envelope.event_type is EventType.DELETED for r in collector.for_key("cm-4")),
            30,
            "a DELETED trigger",
        )
        # an unlabelled ConfigMap is not this type's
        await kube.create(
            f"/api/v1/namespaces/{setup.namespace}/configmaps",
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}},
        )
        await asyncio.sleep(1.0)
        assert collector.for_key("other") == []
        assert watcher.metric("flotilla_events_published_total") >= 7
    finally:
        watcher.stop()


async def test_a_pod_triggers_its_controller_owner(
    dev_env: DevEnvironment, setup: WatchSetup, collector: TriggerCollector, kube: KubeClient, tmp_path: Path
) -> None:
    watcher = start_watcher(dev_env, setup, tmp_path, "w1")
    try:
        await wait_ready(watcher)
        cms = ConfigMaps(kube, setup)
        await cms.create("owner")
        await collector.wait_for(lambda: bool(collector.for_key("owner")), 30, "the owner's own trigger")
        collector.clear()
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "owned-pod",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "owner",
                        "uid": cms.uids["owner"],
                        "controller": True,
                    }
                ],
            },
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        }
        await kube.create(f"/api/v1/namespaces/{setup.namespace}/pods", pod)
        await collector.wait_for(
            lambda: any(r.envelope.object_kind == "Pod" for r in collector.for_key("owner")),
            30,
            "a trigger for the pod's owner",
        )
        received = next(r for r in collector.for_key("owner") if r.envelope.object_kind == "Pod")
        assert received.subject.endswith(f".{setup.namespace}.owner")
    finally:
        watcher.stop()


async def test_restart_resumes_from_the_checkpoint_without_relisting(
    dev_env: DevEnvironment,
    setup: WatchSetup,
    collector: TriggerCollector,
    kube: KubeClient,
    tmp_path: Path,
) -> None:
    cms = ConfigMaps(kube, setup)
    watcher = start_watcher(dev_env, setup, tmp_path, "w1", "--checkpoint-interval=0.2")
    try:
        await wait_ready(watcher)
        for i in range(3):
            await cms.create(f"cm-{i}")
        await collector.wait_for(
            lambda: all(collector.seen_rv(n, rv) for n, rv in cms.latest.items()), 30, "triggers"
        )
        await asyncio.sleep(1.0)  # a checkpoint round
    finally:
        assert watcher.stop() == 0
    keys = await kv_keys(collector.js, WATCHER_BUCKET, prefix=setup.lease_name + ".")
    assert len(keys) == 2  # the ConfigMap watch and the pod watch
    collector.clear()
    rv = await cms.change("cm-1")  # while no watcher runs
    watcher = start_watcher(dev_env, setup, tmp_path, "w2", "--checkpoint-interval=0.2")
    try:
        await collector.wait_for(lambda: collector.seen_rv("cm-1", rv), 60, "the change made while down")
        await asyncio.sleep(1.0)
        # resumed from the checkpoint: the change arrives as a watch event, and nothing was relisted
        assert {r.envelope.event_type for r in collector.received} == {EventType.MODIFIED}
        assert "resuming watch of configmaps from checkpointed rv" in watcher.log_text()
    finally:
        watcher.stop()


async def test_periodic_resync_retriggers_every_key(
    dev_env: DevEnvironment, setup: WatchSetup, collector: TriggerCollector, kube: KubeClient, tmp_path: Path
) -> None:
    """Every round triggers every key, also rounds 3 s apart over unchanged objects: well inside
    RECONCILE's 120 s duplicate window, so repeated Nats-Msg-Ids would be dropped by JetStream."""
    cms = ConfigMaps(kube, setup)
    for i in range(4):
        await cms.create(f"cm-{i}")
    watcher = start_watcher(dev_env, setup, tmp_path, "w1", "--resync-period=3")
    every_key = {setup.key(f"cm-{i}") for i in range(4)}
    try:
        await collector.wait_for(
            lambda: len({r.envelope.key for r in collector.received}) == 4, 30, "initial list"
        )
        ids: list[set[str]] = []
        for round_number in (1, 2):
            collector.clear()
            await collector.wait_for(
                lambda: (
                    {r.envelope.key for r in collector.received if r.envelope.event_type is EventType.RESYNC}
                    == every_key
                ),
                30,
                f"resync round {round_number} of every key",
            )
            ids.append({r.headers["Nats-Msg-Id"] for r in collector.received})
        assert not ids[0] & ids[1]  # each round has ids of its own
        assert watcher.metric("flotilla_watcher_triggers_duplicate_total") == 0
    finally:
        watcher.stop()


async def test_one_of_two_replicas_leads_and_the_standby_takes_over_on_sigterm(
    dev_env: DevEnvironment, setup: WatchSetup, collector: TriggerCollector, kube: KubeClient, tmp_path: Path
) -> None:
    watchers = [start_watcher(dev_env, setup, tmp_path, f"r{i}") for i in range(2)]
    try:
        leader = await wait_leader(watchers)
        standby = next(w for w in watchers if w is not leader)
        lease = await kube.get(
            f"/apis/coordination.k8s.io/v1/namespaces/{setup.namespace}/leases/{setup.lease_name}"
        )
        assert lease["spec"]["holderIdentity"] == leader.identity
        assert lease["spec"]["leaseDurationSeconds"] == 15
        await wait_ready(standby)  # the hot standby is ready too

        leader.signal(signal.SIGTERM)  # a clean stop releases the lease: the standby leads at once
        assert await wait_leader([standby], within=10) is standby
        cms = ConfigMaps(kube, setup)
        await cms.create("after-failover")
        await collector.wait_for(
            lambda: collector.seen_rv("after-failover", cms.latest["after-failover"]), 30, "trigger"
        )
    finally:
        for watcher in watchers:
            watcher.stop()


async def test_readiness_is_false_while_nats_is_unreachable_and_the_process_keeps_running(
    dev_env: DevEnvironment, setup: WatchSetup, tmp_path: Path
) -> None:
    watcher = WatcherProcess(
        setup, dev_env.kubeconfig, "nats://127.0.0.1:1", "nonats", tmp_path / "nonats.log"
    ).start()
    try:
        await eventually_async(lambda: watcher.readyz()[0] == 503, 20, what="a non-ready probe")
        await asyncio.sleep(3)
        assert watcher.alive()
        status, body = watcher.readyz()
        assert status == 503
        nats_check = body["nats"]
        assert isinstance(nats_check, dict)
        assert "cannot connect to nats://127.0.0.1:1" in str(nats_check["reason"])
        assert "cannot connect to nats://127.0.0.1:1" in watcher.log_text()
        assert watcher.get("/healthz")[0] == 200
    finally:
        watcher.stop()


async def test_a_node_change_triggers_every_key_of_a_type_that_places_pods_per_node(
    dev_env: DevEnvironment, setup: WatchSetup, collector: TriggerCollector, kube: KubeClient, tmp_path: Path
) -> None:
    setup.config_path.write_text(
        setup.config_path.read_text()
        + """      - resource: {group: "", version: v1, resource: nodes, kind: Node, namespaced: false}
        via: every-key
"""
    )
    cms = ConfigMaps(kube, setup)
    for i in range(3):
        await cms.create(f"cm-{i}")
    watcher = start_watcher(dev_env, setup, tmp_path, "w1", "--checkpoint-interval=0.2")
    try:
        await collector.wait_for(
            lambda: len({r.envelope.key for r in collector.received}) == 3, 30, "initial list"
        )
        await asyncio.sleep(1.0)
    finally:
        watcher.stop()
    # resumed from the checkpoint: the index of keys is rebuilt without triggering them
    watcher = start_watcher(dev_env, setup, tmp_path, "w2")
    try:
        await wait_ready(watcher)
        collector.clear()
        node = (await kube.get("/api/v1/nodes", {"limit": "1"}))["items"][0]["metadata"]["name"]
        await kube.patch(
            f"/api/v1/nodes/{node}", {"metadata": {"labels": {f"flotilla.dev/w-{setup.label}": "x"}}}
        )
        await collector.wait_for(
            lambda: (
                {r.envelope.key for r in collector.received if r.envelope.object_kind == "Node"}
                >= {setup.key(f"cm-{i}") for i in range(3)}
            ),
            30,
            "a trigger for every key after a node change",
        )
        await kube.patch(
            f"/api/v1/nodes/{node}", {"metadata": {"labels": {f"flotilla.dev/w-{setup.label}": None}}}
        )
    finally:
        watcher.stop()
