"""Smoke tests proving each part of the local environment is real.

A Deployment is reconciled by the real kube-controller-manager, its pods are placed by
the real kube-scheduler onto kwok nodes and turn Ready; garbage collection removes them;
a JetStream stream keeps its messages across a NATS restart; a node can be cordoned.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from kubernetes import client as k8s
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.kwok_nodes import ZONE_LABEL
from tests.support.polling import eventually


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


def _pods(core: k8s.CoreV1Api, namespace: str, selector: str) -> list[k8s.V1Pod]:
    return list(core.list_namespaced_pod(namespace, label_selector=selector).items)


def _ready(pod: k8s.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def test_nodes_are_kwok_nodes_in_three_zones(api_client: k8s.ApiClient) -> None:
    nodes = k8s.CoreV1Api(api_client).list_node().items
    zones = sorted(n.metadata.labels[ZONE_LABEL] for n in nodes)
    assert zones == ["a", "b", "c"]
    assert all(n.metadata.annotations["kwok.x-k8s.io/node"] == "fake" for n in nodes)
    assert all(any(c.type == "Ready" and c.status == "True" for c in n.status.conditions) for n in nodes)


def test_deployment_pods_are_scheduled_ready_and_garbage_collected(
    api_client: k8s.ApiClient, namespace: str
) -> None:
    apps = k8s.AppsV1Api(api_client)
    core = k8s.CoreV1Api(api_client)
    apps.create_namespaced_deployment(namespace, _deployment("web", 4))

    replica_sets = eventually(lambda: apps.list_namespaced_replica_set(namespace).items)
    assert replica_sets[0].metadata.owner_references[0].kind == "Deployment"

    pods = eventually(
        lambda: (ps := [p for p in _pods(core, namespace, "app=web") if _ready(p)]) and len(ps) == 4 and ps
    )
    node_names = {n.metadata.name for n in core.list_node().items}
    assert all(p.spec.node_name in node_names for p in pods)
    assert all(p.status.phase == "Running" and p.status.pod_ip for p in pods)
    owners = {p.metadata.owner_references[0].name for p in pods}
    assert owners == {replica_sets[0].metadata.name}

    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Background")
    eventually(lambda: not apps.list_namespaced_replica_set(namespace).items)
    eventually(lambda: not _pods(core, namespace, "app=web"))


def test_node_can_be_cordoned_and_pod_deleted(api_client: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(api_client)
    node = core.list_node().items[0].metadata.name
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pinned"},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
    }
    core.create_namespaced_pod(namespace, pod)
    eventually(lambda: _ready(core.read_namespaced_pod("pinned", namespace)))

    core.patch_node(node, {"spec": {"unschedulable": True}})
    try:
        assert core.read_node(node).spec.unschedulable is True
        core.delete_namespaced_pod("pinned", namespace)

        def gone() -> bool:
            try:
                core.read_namespaced_pod("pinned", namespace)
            except k8s.ApiException as err:
                return err.status == 404
            return False

        eventually(gone)
        # A new pod is not scheduled onto the cordoned node.
        apps = k8s.AppsV1Api(api_client)
        deployment = _deployment("spread", 6)
        apps.create_namespaced_deployment(namespace, deployment)
        pods = eventually(
            lambda: (
                (ps := [p for p in _pods(core, namespace, "app=spread") if _ready(p)]) and len(ps) == 6 and ps
            )
        )
        assert node not in {p.spec.node_name for p in pods}
    finally:
        core.patch_node(node, {"spec": {"unschedulable": False}})


async def test_jetstream_keeps_messages_across_nats_restart(
    dev_env: DevEnvironment, jetstream: JetStreamContext, namespace: str
) -> None:
    if dev_env.nats is None:
        pytest.fail("this test restarts NATS and needs the local environment, not USE_EXISTING_CLUSTER")
    stream = f"SMOKE_{namespace.replace('-', '_').upper()}"
    subject = f"smoke.{namespace}"
    await jetstream.add_stream(StreamConfig(name=stream, subjects=[subject], storage=StorageType.FILE))
    for i in range(5):
        await jetstream.publish(subject, json.dumps({"n": i}).encode())

    dev_env.nats.restart()

    # The client reconnects by itself; the stream and its messages are still there.
    deadline = time.monotonic() + 30
    while True:
        try:
            info = await jetstream.stream_info(stream)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    assert info.state.messages == 5
    message = await jetstream.get_msg(stream, seq=3)
    assert json.loads(message.data or b"{}") == {"n": 2}
    await jetstream.delete_stream(stream)
