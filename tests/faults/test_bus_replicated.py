"""Fault: the NATS node that leads RECONCILE is SIGKILLed mid-rollout on a 3-node JetStream cluster.

The bus is declared R3 (``FLOTILLA_BUS_REPLICAS=3`` for the watcher, ``--bus-replicas=3`` for the
worker); the real watcher and a real ``flotilla worker cloneset`` (production defaults) are given
all three client URLs. A CloneSet of 8 rolls a new image one pod at a time; once two pods are
updated the node leading the RECONCILE stream is killed. Nothing may be lost: the rollout
converges, every pod ever created is one the spec needed (8 + 8 replacements, never more than 8
live), no trigger is left pending or unacknowledged, nothing was dead-lettered.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.natscluster import NatsCluster
from flotilla.runtime.kube import JsonObject, KubeClient
from schemas.bus.bootstrap import declare
from schemas.bus.settings import BusSettings
from schemas.bus.streams import DEADLETTER_STREAM, RECONCILE_STREAM, worker_bus
from tests.integration.cloneset.conftest import Stack, watching_pods
from tests.integration.conftest import kruise_crds
from tests.support.natscluster import cluster_logs, nats_cluster
from tests.support.polling import eventually_async
from tests.support.workers import FLOTILLA, free_port
from workers.cloneset.lowering import CLONESETS

__all__ = ["kruise_crds", "nats_cluster"]

REPLICAS = 8
REPO = Path(__file__).resolve().parents[2]


def _cloneset(namespace: str) -> JsonObject:
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "CloneSet",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": "web"}},
            "updateStrategy": {"type": "ReCreate", "maxUnavailable": 1},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1"}]},
            },
        },
    }


class Component:
    """A ``flotilla`` subprocess with its log and metrics port."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log = log
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        full_env.update(env, PYTHONPATH=str(REPO))
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(FLOTILLA), *args, f"--http-port={self.port}"],
                cwd=REPO,
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
            text = response.read().decode()
        return sum(
            float(line.rpartition(" ")[2])
            for line in text.splitlines()
            if line.startswith(name) and (line[len(name)] in " {")
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def tail(self) -> str:
        return f"==> {self.log} <==\n" + self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
async def cluster_js(nats_cluster: NatsCluster) -> AsyncIterator[JetStreamContext]:
    nc: NATS = await nats.connect(
        nats_cluster.urls, connect_timeout=5, max_reconnect_attempts=-1, reconnect_time_wait=0.5
    )
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


@pytest.fixture
def components() -> Iterator[list[Component]]:
    started: list[Component] = []
    yield started
    for component in started:
        component.stop()


async def test_killing_the_reconcile_leader_mid_rollout_loses_nothing(
    dev_env: DevEnvironment,
    kruise_crds: list[str],
    namespace: str,
    nats_cluster: NatsCluster,
    cluster_js: JetStreamContext,
    components: list[Component],
    tmp_path: Path,
) -> None:
    js = cluster_js
    await declare(js, worker_bus("cloneset"), BusSettings(replicas=3))
    urls = nats_cluster.url  # all three: nats.py reconnects to whichever survives
    watcher = Component(
        [
            "watcher", "--types=cloneset", f"--namespace={namespace}", f"--kubeconfig={dev_env.kubeconfig}",
            f"--nats-url={urls}", f"--lease-namespace={namespace}", "--lease-name=watcher-repl",
            "--identity=w-repl",
        ],
        tmp_path / "watcher.log",
        {"FLOTILLA_BUS_REPLICAS": "3"},
    )  # fmt: skip
    components.append(watcher)
    worker = Component(
        [
            "worker", "cloneset", f"--nats-url={urls}", f"--kubeconfig={dev_env.kubeconfig}",
            "--bus-replicas=3",
        ],
        tmp_path / "worker.log",
        {},
    )  # fmt: skip
    components.append(worker)

    def logs() -> str:
        return "\n".join(c.tail() for c in components) + "\n" + cluster_logs(nats_cluster)

    async with KubeClient.from_environment(dev_env.kubeconfig) as api:
        stack = Stack(namespace, api, [])

        async def status() -> JsonObject:
            found: JsonObject = (await api.get(CLONESETS.path(namespace, "web"))).get("status") or {}
            return found

        async def status_is(**expected: object) -> bool:
            current = await status()
            return all(current.get(k) == v for k, v in expected.items())

        async with watching_pods(stack) as recorded:
            await api.create(CLONESETS.path(namespace), _cloneset(namespace))
            await eventually_async(
                lambda: status_is(replicas=REPLICAS, readyReplicas=REPLICAS),
                120,
                interval=0.5,
                what=lambda: f"{REPLICAS} ready pods\n{logs()}",
            )
            await api.patch(
                CLONESETS.path(namespace, "web"),
                {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}}},
                "merge",
            )

            async def two_updated() -> bool:
                current = await status()  # the status of the new generation, two pods in
                return (
                    current.get("observedGeneration") == 2 and int(current.get("updatedReplicas") or 0) >= 2
                )

            await eventually_async(two_updated, 120, interval=0.1, what=lambda: f"2 pods updated\n{logs()}")
            leader = (await js.stream_info(RECONCILE_STREAM)).cluster
            assert leader is not None, "RECONCILE has no cluster info: is it R3?"
            assert leader.leader, "RECONCILE has no cluster leader"
            killed = leader.leader
            at_kill = await status()
            await asyncio.to_thread(nats_cluster.kill, killed)
            print(f"SIGKILLed NATS node {killed} (RECONCILE leader) at status {at_kill}")

            async def new_leader() -> bool:
                try:
                    info = await js.stream_info(RECONCILE_STREAM)
                except (TimeoutError, nats.errors.Error):  # the election under way: ask again
                    return False
                return info.cluster is not None and info.cluster.leader not in (None, "", killed)

            await eventually_async(
                new_leader, 60, interval=0.5, what=lambda: f"a new RECONCILE leader\n{logs()}"
            )
            await eventually_async(
                lambda: status_is(
                    observedGeneration=2,
                    replicas=REPLICAS,
                    readyReplicas=REPLICAS,
                    updatedReplicas=REPLICAS,
                    updatedReadyReplicas=REPLICAS,
                ),
                240,
                interval=0.5,
                what=lambda: f"the rollout converged\n{logs()}",
            )

        # mid-rollout for real: the kill came after some and before all pods were updated
        assert 2 <= int(at_kill.get("updatedReplicas") or 0) < REPLICAS, at_kill

    # every pod ever created was one the spec needed: 8, then one replacement per pod
    created = {pod["metadata"]["uid"] for kind, pod in recorded.events if kind == "ADDED"}
    assert len(created) == 2 * REPLICAS, f"{len(created)} pods created"
    most_live = max(
        sum(1 for pod in live.values() if not pod["metadata"].get("deletionTimestamp"))
        for live in recorded.history()
    )
    assert most_live <= REPLICAS  # ReCreate without maxSurge

    async def all_reconciled() -> bool:
        try:
            consumer = await js.consumer_info(RECONCILE_STREAM, "worker-cloneset")
            stream = await js.stream_info(RECONCILE_STREAM)
        except (TimeoutError, nats.errors.Error):
            return False
        return (
            consumer.num_pending == 0
            and consumer.num_ack_pending == 0
            and stream.state.messages == 0
            and watcher.metric("flotilla_watcher_pending_triggers") == 0
        )

    await eventually_async(all_reconciled, 60, interval=0.5, what=lambda: f"no trigger left\n{logs()}")
    assert (await js.stream_info(DEADLETTER_STREAM)).state.messages == 0
    assert worker.metric("flotilla_dead_letters_total") == 0
    assert watcher.metric("flotilla_events_published_total") > 0
    # the bus really was replicated on the cluster, and still is (on the two survivors)
    for name in (RECONCILE_STREAM, DEADLETTER_STREAM, "KV_flotilla-leases", "KV_flotilla-watcher"):
        assert (await js.stream_info(name)).config.num_replicas == 3, name
