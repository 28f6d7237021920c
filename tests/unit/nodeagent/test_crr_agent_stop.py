"""A container stop runs apart from the node agent's passes (nodeagent.crr.agent).

kruise v1.9.1's containerrecreate.go "recreates containers with preStopHook", pods[1]: the app's
preStop hook sleeps 8 s and the request has ``activeDeadlineSeconds: 3``; kruise-manager completes
it at the deadline with both containers still ``Pending`` while kruise-daemon's kill still runs,
and the daemon writes ``[{app, Recreating, isKilled}, {sidecar, Pending}]`` when the kill returns.
Here the hook blocks until the test releases it: the pass that comes meanwhile completes the
request, plans no second stop, and the states follow the stop.

The API server is a small in-memory stand-in answering the patches (what is written is checked);
the runtime is a stand-in whose ``exec_sync`` (the hook) waits on an event.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import pytest

from nodeagent.crr.agent import CrrAgent
from nodeagent.crr.daemon import RuntimeContainer
from schemas.kruise.containerrecreaterequest import ACTIVE_LABEL, NODE_NAME_LABEL, POD_UID_LABEL

pytestmark = pytest.mark.unit

CRR_PATH = "/apis/apps.kruise.io/v1alpha1/namespaces/ns/containerrecreaterequests/r1"
STARTED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _ago(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Kube:
    """Merges status and metadata patches like the API server; Events are accepted."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.status_patches: list[dict[str, Any]] = []

    async def patch(self, path: str, body: dict[str, Any], kind: str = "merge") -> dict[str, Any]:
        stored: dict[str, Any] = json.loads(json.dumps(self.objects[path.removesuffix("/status")]))
        if path.endswith("/status"):
            self.status_patches.append(body["status"])
        stored["status"] = {**(stored.get("status") or {}), **body.get("status", {})}
        for field, values in (body.get("metadata") or {}).items():
            if isinstance(values, dict):
                merged = {**(stored["metadata"].get(field) or {}), **values}
                stored["metadata"][field] = {k: v for k, v in merged.items() if v is not None}
        stored["metadata"]["resourceVersion"] = str(int(stored["metadata"]["resourceVersion"]) + 1)
        self.objects[path.removesuffix("/status")] = stored
        return stored

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"metadata": {"name": "event-1"}}


class _Runtime:
    """The Pod's two containers; the preStop hook returns when `release` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.hooks: list[list[str]] = []
        self.stopped: list[str] = []

    async def pod_containers(self, uid: str) -> list[RuntimeContainer]:
        return [
            RuntimeContainer(name, f"containerd://{name}-1", "running", 0, STARTED, STARTED)
            for name in ("app", "sidecar")
            if f"containerd://{name}-1" not in self.stopped
        ]

    async def exec_sync(
        self, container_id: str, command: list[str], timeout_seconds: int
    ) -> tuple[int, bytes]:
        self.hooks.append(command)
        await self.release.wait()
        return 0, b""

    async def stop_container(self, container_id: str, grace_seconds: int) -> None:
        self.stopped.append(container_id)


def _crr(created: str) -> dict[str, Any]:
    def container(name: str) -> dict[str, Any]:
        context = {"containerID": f"containerd://{name}-1", "restartCount": 0}
        hook = {"preStop": {"exec": {"command": ["sleep", "8"]}}} if name == "app" else {}
        return {"name": name, "statusContext": context, **hook}

    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "ContainerRecreateRequest",
        "metadata": {
            "name": "r1",
            "namespace": "ns",
            "resourceVersion": "7",
            "creationTimestamp": created,
            "labels": {POD_UID_LABEL: "uid-1", ACTIVE_LABEL: "true", NODE_NAME_LABEL: "node-a"},
        },
        "spec": {
            "podName": "p",
            "containers": [container("app"), container("sidecar")],
            "strategy": {"failurePolicy": "Fail", "terminationGracePeriodSeconds": 30},
            "activeDeadlineSeconds": 3,
        },
        "status": {"phase": "Recreating"},
    }


def _pod() -> dict[str, Any]:
    statuses = [
        {"name": n, "containerID": f"containerd://{n}-1", "ready": True, "restartCount": 0}
        for n in ("app", "sidecar")
    ]
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "uid-1"},
        "status": {"containerStatuses": statuses},
    }


def _store(agent: CrrAgent, kube: _Kube, obj: dict[str, Any]) -> None:
    kube.objects[CRR_PATH] = obj
    agent.crrs.objects["ns/r1"] = obj


async def test_the_deadline_completes_a_request_whose_prestop_hook_still_runs() -> None:
    kube, runtime = _Kube(), _Runtime()
    agent = CrrAgent(kube, runtime, "node-a")  # type: ignore[arg-type]
    agent.pods.objects["ns/p"] = _pod()
    _store(agent, kube, _crr(_ago(1)))  # 2 s before its deadline

    await agent.handle("ns/p")  # both Pending, then the app's stop starts: its hook blocks
    for _ in range(100):
        if runtime.hooks:
            break
        await asyncio.sleep(0.01)
    assert runtime.hooks == [["sleep", "8"]]
    assert kube.status_patches == [
        {
            "containerRecreateStates": [
                {"name": "app", "phase": "Pending", "isKilled": False},
                {"name": "sidecar", "phase": "Pending", "isKilled": False},
            ]
        }
    ]

    # the deadline passes while the hook runs: the next pass completes the request, stops nothing
    created_earlier = json.loads(json.dumps(kube.objects[CRR_PATH]))
    created_earlier["metadata"]["creationTimestamp"] = _ago(4)
    _store(agent, kube, created_earlier)
    await agent.handle("ns/p")
    completed = kube.status_patches[-1]
    assert (completed["phase"], completed["message"]) == (
        "Completed",
        "recreating has exceeded the activeDeadlineSeconds",
    )
    assert runtime.stopped == []
    assert len(runtime.hooks) == 1
    assert kube.objects[CRR_PATH]["status"]["containerRecreateStates"] == [
        {"name": "app", "phase": "Pending", "isKilled": False},
        {"name": "sidecar", "phase": "Pending", "isKilled": False},
    ]

    runtime.release.set()  # the hook returns: the app is stopped and its state written after all
    task = agent._stopping.get("ns/p")
    assert task is not None
    await task
    assert runtime.stopped == ["containerd://app-1"]
    assert kube.objects[CRR_PATH]["status"]["containerRecreateStates"] == [
        {"name": "app", "phase": "Recreating", "isKilled": True},
        {"name": "sidecar", "phase": "Pending", "isKilled": False},
    ]
    assert kube.objects[CRR_PATH]["status"]["phase"] == "Completed"
    assert "ns/p" not in agent._stopping
