"""The containermeta shell (nodeagent.containermeta.agent) executes its planner's passes.

kruise-daemon's ``sync`` and restarter (pkg/daemon/containermeta, v1.9.1): one ``env`` read per
new container that reads pod metadata, the annotation written with a strategic merge patch on
``pods/status`` only when it changed, and a restart (``Killing`` Event, CRI stop with the Pod's
grace period) of a container whose env no longer matches during an in-place update. The API
server and the runtime are in-memory stand-ins recording what they are asked (the planner's
own cases: test_containermeta_planner.py); the env hash is the Go program's (FOO: ``TEST_ENV=foo``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import orjson
import pytest

from nodeagent.containermeta.agent import ContainerMetaAgent
from nodeagent.crr.agent import PODS
from nodeagent.crr.daemon import RuntimeContainer
from nodeagent.reflector import Reflector

pytestmark = pytest.mark.unit

META = "apps.kruise.io/runtime-containers-meta"
FOO = 27323935
KEY = "ns/clone-x"
T0 = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


class _Kube:
    def __init__(self) -> None:
        self.patches: list[tuple[str, dict[str, Any], str]] = []
        self.events: list[dict[str, Any]] = []

    async def patch(self, path: str, body: dict[str, Any], kind: str = "merge") -> dict[str, Any]:
        self.patches.append((path, body, kind))
        metadata = {"namespace": "ns", "name": "clone-x", "resourceVersion": "9", **body["metadata"]}
        return {"metadata": metadata}

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.events.append(body)
        return body


class _Runtime:
    def __init__(self) -> None:
        self.execs: list[tuple[str, list[str]]] = []
        self.stops: list[tuple[str, int]] = []
        self.environment = b"PATH=/bin\nTEST_ENV=foo\n"

    async def pod_containers(self, uid: str) -> list[RuntimeContainer]:
        assert uid == "u1"
        return [RuntimeContainer("nginx", "containerd://n1", "running", 0, T0, T0, 0xAB)]

    async def exec_sync(
        self, container_id: str, command: list[str], timeout_seconds: int
    ) -> tuple[int, bytes]:
        self.execs.append((container_id, command))
        return 0, self.environment

    async def stop_container(self, container_id: str, grace_seconds: int) -> None:
        self.stops.append((container_id, grace_seconds))


def _pod(label: str, meta: list[dict[str, Any]] | None = None, updating: bool = False) -> dict[str, Any]:
    env = [{"name": "TEST_ENV", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['test-env']"}}}]
    metadata: dict[str, Any] = {
        "namespace": "ns",
        "name": "clone-x",
        "uid": "u1",
        "resourceVersion": "5",
        "labels": {"test-env": label},
        "ownerReferences": [
            {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": "c", "controller": True}
        ],
        "annotations": {META: orjson.dumps({"containers": meta}).decode()} if meta else {},
    }
    status: dict[str, Any] = {"containerStatuses": [{"name": "nginx", "containerID": "containerd://n1"}]}
    if updating:
        status["conditions"] = [{"type": "InPlaceUpdateReady", "status": "False"}]
    spec = {
        "terminationGracePeriodSeconds": 3,
        "containers": [{"name": "nginx", "image": "nginx:1", "env": env}],
    }
    return {"metadata": metadata, "spec": spec, "status": status}


def _agent(pod: dict[str, Any]) -> tuple[ContainerMetaAgent, _Kube, _Runtime, Reflector]:
    kube, runtime = _Kube(), _Runtime()
    pods = Reflector(kube, PODS, {}, lambda _key, _obj: None)  # type: ignore[arg-type]
    pods.objects[KEY] = pod
    agent = ContainerMetaAgent(kube, runtime, pods, env_from_metadata=True)  # type: ignore[arg-type]
    return agent, kube, runtime, pods


async def test_a_pass_reads_the_env_once_and_reports_on_pods_status() -> None:
    agent, kube, runtime, pods = _agent(_pod("foo"))
    await agent.sync(KEY)
    assert runtime.execs == [("containerd://n1", ["env"])]
    ((path, body, kind),) = kube.patches
    assert (path, kind) == ("/api/v1/namespaces/ns/pods/clone-x/status", "strategic")
    reported = json.loads(body["metadata"]["annotations"][META])
    assert reported == {
        "containers": [
            {
                "name": "nginx",
                "containerID": "containerd://n1",
                "restartCount": 0,
                "hashes": {"plainHash": 0xAB, "extractedEnvFromMetadataHash": FOO},
            }
        ]
    }
    # the Pod the API server returned is kept (kruise's resourceVersion expectation)
    assert pods.objects[KEY]["metadata"]["resourceVersion"] == "9"


async def test_an_unchanged_report_is_neither_read_nor_written() -> None:
    meta = [
        {
            "name": "nginx",
            "containerID": "containerd://n1",
            "restartCount": 0,
            "hashes": {"plainHash": 0xAB, "extractedEnvFromMetadataHash": FOO},
        }
    ]
    agent, kube, runtime, _ = _agent(_pod("foo", meta))
    await agent.sync(KEY)
    assert (runtime.execs, kube.patches) == ([], [])


async def test_a_label_change_in_an_in_place_update_restarts_the_container_with_the_pods_grace() -> None:
    meta = [
        {
            "name": "nginx",
            "containerID": "containerd://n1",
            "restartCount": 0,
            "hashes": {"plainHash": 0xAB, "extractedEnvFromMetadataHash": FOO},
        }
    ]
    agent, kube, runtime, _ = _agent(_pod("bar", meta, updating=True))
    await agent.sync(KEY)
    assert list(agent._restarts) == ["containerd://n1"]  # due 3 s later (kruise's restarter)
    agent._restarts.pop("containerd://n1").cancel()
    await agent._restart(KEY, "containerd://n1")
    assert runtime.stops == [("containerd://n1", 3)]
    (event,) = kube.events
    assert (event["reason"], event["message"]) == (
        "Killing",
        "Stopping containerID containerd://n1 by container meta restarter",
    )
    assert kube.patches == []  # the report itself did not change
