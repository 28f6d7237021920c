"""ContainerRecreateRequest executed by ``flotilla node-agent`` on the real node, through the CRI.

The agent runs as its own process (``flotilla node-agent``), talking to the node's containerd over
its CRI socket with the generated stubs and to the API server. A pod of two containers runs on the
real node; then:

1. a request for ``app`` restarts exactly that container: the kubelet reports a new containerID
   and restartCount 1 for ``app``, ``side`` keeps its containerID and restartCount 0, the pod keeps
   its UID; the request goes through ``Recreating`` to ``Completed`` (kruise's final phase: the
   outcome is per container) with ``containerRecreateStates`` ``[{app, Succeeded, isKilled}]``,
   a ``Killing`` Event on the pod with kruise's message, and its ``active`` label removed. Its
   ``unreadyGracePeriodSeconds: 2`` first turns the pod's ``KruisePodReady`` gate (and so Ready)
   False while ``app`` still runs, and after completion the gate is True again and the CRR's
   finalizer is gone;
2. a request for a container the node does not run (``ghost``) stays ``Pending`` with kruise's
   ``not found container on Node`` until its ``activeDeadlineSeconds`` (3, the least kruise's
   webhook admits) completes it with ``recreating has exceeded the activeDeadlineSeconds``; its
   ``ttlSecondsAfterFinished`` then deletes it;
3. a request without the webhook's ``statusContext`` completes at once with kruise-daemon's
   ``failed to find runtime service: no statusContext or empty containerID in ghost container``;
   neither touches the pod's containers.

kruise's mutating webhook (``pkg/webhook/containerrecreaterequest/mutating``) fills the node/pod
labels and each container's ``statusContext`` from the Pod at creation; Flotilla's webhook rules
for it are written apart, so :func:`_as_kruise_webhook_leaves_it` builds the request the way that
webhook leaves it (the labels and values kruise's ``injectPodIntoContainerRecreateRequest`` sets).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from flotilla.devcluster.realnode import NODE_KEY, NODE_NAME, STATE_DIR, RealNode
from flotilla.runtime.errors import NotFound
from flotilla.runtime.kube import JsonObject, KubeClient, Resource
from schemas.kruise.containerrecreaterequest import ACTIVE_LABEL, NODE_NAME_LABEL, POD_UID_LABEL
from tests.support.polling import eventually_async
from tests.support.workers import FLOTILLA, REPO, free_port

pytestmark = pytest.mark.usefixtures("kruise_crds")

CRRS = Resource("apps.kruise.io", "v1alpha1", "containerrecreaterequests")
PODS = Resource("", "v1", "pods")
NAMESPACES = Resource("", "v1", "namespaces", namespaced=False)
EVENTS = Resource("", "v1", "events")
NAMESPACE = "crr-realnode"
GATE = "KruisePodReady"


@pytest.fixture
def node_agent(real_node: RealNode, kubeconfig: Path, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    socket = STATE_DIR / "containerd" / "containerd.sock"
    log_path = tmp_path / "node-agent.log"
    with log_path.open("wb") as log:
        argv = [
            str(FLOTILLA), "node-agent", "--node-name", real_node.name, "--cri-endpoint", f"unix://{socket}",
            "--kubeconfig", str(kubeconfig), "--http-port", str(free_port()),
        ]  # fmt: skip
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env={**os.environ, "FLOTILLA_LOG_LEVEL": "INFO"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        print(f"\n--- node agent log ---\n{log_path.read_text(errors='replace')[-6000:]}")


@pytest.fixture
async def api(kubeconfig: Path) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_environment(kubeconfig) as client:
        await client.create(NAMESPACES.path(), {"metadata": {"name": NAMESPACE}})
        try:
            yield client
        finally:
            await client.delete(NAMESPACES.path("", NAMESPACE))


def _pod(image: str) -> JsonObject:
    container = {"image": image, "imagePullPolicy": "IfNotPresent"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "two", "namespace": NAMESPACE},
        "spec": {
            "nodeSelector": {NODE_KEY: "true"},
            "tolerations": [{"key": NODE_KEY, "operator": "Exists", "effect": "NoSchedule"}],
            "terminationGracePeriodSeconds": 2,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "containers": [{"name": "app", **container}, {"name": "side", **container}],
            "readinessGates": [{"conditionType": GATE}],
        },
    }


def _statuses(pod: JsonObject) -> dict[str, JsonObject]:
    return {s["name"]: s for s in (pod.get("status") or {}).get("containerStatuses") or ()}


def _condition(pod: JsonObject, kind: str) -> JsonObject:
    conditions = (pod.get("status") or {}).get("conditions") or ()
    return next((c for c in conditions if c.get("type") == kind), {})


def _all_ready(pod: JsonObject) -> bool:
    statuses = _statuses(pod)
    return len(statuses) == 2 and all(s.get("ready") and s.get("containerID") for s in statuses.values())


def _as_kruise_webhook_leaves_it(
    name: str, pod: JsonObject, containers: list[str], **spec: object
) -> JsonObject:
    """The request after kruise's mutating webhook: labels, failurePolicy, the Pod's grace period,
    each container's statusContext from the Pod's status (left out for a container it has not)."""
    statuses = _statuses(pod)
    wanted = []
    for container in containers:
        status = statuses.get(container)
        entry: JsonObject = {"name": container}
        if status is not None:
            entry["statusContext"] = {
                "containerID": status["containerID"],
                "restartCount": status["restartCount"],
            }
        wanted.append(entry)
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "ContainerRecreateRequest",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {
                NODE_NAME_LABEL: pod["spec"]["nodeName"],
                POD_UID_LABEL: pod["metadata"]["uid"],
                ACTIVE_LABEL: "true",
            },
        },
        "spec": {
            "podName": pod["metadata"]["name"],
            "containers": wanted,
            "strategy": {
                "failurePolicy": "Fail",
                "terminationGracePeriodSeconds": pod["spec"]["terminationGracePeriodSeconds"],
            },
            **spec,
        },
    }


async def test_crr_restarts_one_container_and_fails_for_a_missing_one(
    real_node: RealNode, node_agent: subprocess.Popen[bytes], api: KubeClient
) -> None:
    pod_path = PODS.path(NAMESPACE, "two")
    await api.create(PODS.path(NAMESPACE), _pod(real_node.images["v1"]))

    async def ready_pod() -> JsonObject:
        pod = await api.get(pod_path)
        return pod if _all_ready(pod) else {}

    async def running() -> bool:
        return len(_statuses(await api.get(pod_path))) == 2

    await eventually_async(running, 90, what="the two-container pod running on the real node")
    # the gate True, as kruise's workloads set it at creation
    gate = {"type": GATE, "status": "True", "message": "[]"}
    await api.patch(PODS.path(NAMESPACE, "two", "status"), {"status": {"conditions": [gate]}}, "strategic")

    async def pod_ready() -> JsonObject:
        pod = await api.get(pod_path)
        return pod if _all_ready(pod) and _condition(pod, "Ready").get("status") == "True" else {}

    pod = await eventually_async(pod_ready, 60, what="the two-container pod Ready on the real node")
    assert pod["spec"]["nodeName"] == NODE_NAME
    before = _statuses(pod)
    assert {c: before[c]["restartCount"] for c in before} == {"app": 0, "side": 0}

    # 1. restart `app` only
    started = time.monotonic()
    crr_path = CRRS.path(NAMESPACE, "restart-app")
    restart = _as_kruise_webhook_leaves_it("restart-app", pod, ["app"])
    restart["spec"]["strategy"]["unreadyGracePeriodSeconds"] = 2
    await api.create(CRRS.path(NAMESPACE), restart)
    phases: list[str] = []
    # pod versions seen while the request runs: (KruisePodReady, Ready, app's containerID)
    seen: list[tuple[str, str, str]] = []

    async def completed(path: str) -> JsonObject:
        now = await api.get(pod_path)
        app = _statuses(now).get("app") or {}
        seen.append(
            (
                _condition(now, GATE).get("status", ""),
                _condition(now, "Ready").get("status", ""),
                app.get("containerID", ""),
            )
        )
        crr = await api.get(path)
        phase = (crr.get("status") or {}).get("phase")
        if phase and (not phases or phases[-1] != phase):
            phases.append(phase)
        return crr if (crr.get("status") or {}).get("completionTime") else {}

    crr = await eventually_async(lambda: completed(crr_path), 60, what="the request for app completed")
    print(f"\nCRR restart-app: created -> Completed {time.monotonic() - started:.1f}s, phases {phases}")
    assert crr["status"]["phase"] == "Completed", crr["status"]
    assert crr["status"].get("message", "") == ""
    states = crr["status"]["containerRecreateStates"]
    assert states == [{"name": "app", "phase": "Succeeded", "isKilled": True}]
    assert "Recreating" in phases, phases
    # unreadyGracePeriodSeconds: the pod went not ready (gate and Ready False) while app still ran
    old_app = before["app"]["containerID"]
    assert ("False", "False", old_app) in seen, seen
    assert crr["metadata"]["annotations"]["crr.apps.kruise.io/unready-acquired"]
    after = _statuses(await api.get(pod_path))
    assert after["app"]["containerID"] != before["app"]["containerID"]
    assert after["app"]["restartCount"] == 1
    assert after["side"]["containerID"] == before["side"]["containerID"]
    assert after["side"]["restartCount"] == 0
    assert (await api.get(pod_path))["metadata"]["uid"] == pod["metadata"]["uid"]

    async def inactive() -> bool:
        return ACTIVE_LABEL not in ((await api.get(crr_path))["metadata"].get("labels") or {})

    await eventually_async(inactive, 20, what="the active label removed from the finished request")

    async def given_back() -> bool:
        crr, now = await api.get(crr_path), await api.get(pod_path)
        released = "crr.apps.kruise.io/unready-acquired" not in (crr["metadata"].get("finalizers") or ())
        gate = _condition(now, GATE)
        return released and gate.get("status") == "True" and gate.get("message") == "[]"

    await eventually_async(given_back, 20, what="KruisePodReady True again and the finalizer released")
    events = await api.get(EVENTS.path(NAMESPACE), params={"fieldSelector": "involvedObject.name=two"})
    messages = {(e.get("reason"), e.get("message")) for e in events.get("items") or ()}
    assert ("Killing", "Stopping container app by ContainerRecreateRequest restart-app") in messages, messages

    # 2. a container the node does not run: Pending "not found container on Node", then the deadline
    ghost = _as_kruise_webhook_leaves_it(
        "ghost", pod, ["ghost"], activeDeadlineSeconds=3, ttlSecondsAfterFinished=2
    )
    context = {"containerID": before["app"]["containerID"], "restartCount": 0}
    ghost["spec"]["containers"][0]["statusContext"] = context
    ghost_path = CRRS.path(NAMESPACE, "ghost")
    # 3. no statusContext (what reaches the node when no webhook filled it)
    bare = _as_kruise_webhook_leaves_it("bare", pod, ["ghost"])
    bare_path = CRRS.path(NAMESPACE, "bare")
    phases.clear()
    await api.create(CRRS.path(NAMESPACE), ghost)
    await api.create(CRRS.path(NAMESPACE), bare)

    async def ghost_pending() -> JsonObject:
        crr = await api.get(ghost_path)
        states = (crr.get("status") or {}).get("containerRecreateStates") or []
        return crr if states else {}

    crr = await eventually_async(ghost_pending, 20, what="the ghost request's container state")
    assert crr["status"]["containerRecreateStates"] == [
        {"name": "ghost", "phase": "Pending", "message": "not found container on Node", "isKilled": False}
    ]
    crr = await eventually_async(lambda: completed(ghost_path), 20, what="the ghost request completed")
    assert crr["status"]["phase"] == "Completed"
    assert crr["status"]["message"] == "recreating has exceeded the activeDeadlineSeconds"

    crr = await eventually_async(lambda: completed(bare_path), 20, what="the bare request completed")
    assert crr["status"]["phase"] == "Completed"
    assert crr["status"]["message"] == (
        "failed to find runtime service: no statusContext or empty containerID in ghost container"
    )

    async def deleted() -> bool:
        try:
            await api.get(ghost_path)
        except NotFound:
            return True
        return False

    await eventually_async(deleted, 20, what="the ghost request deleted after ttlSecondsAfterFinished")
    await api.get(bare_path)  # no TTL: it stays
    untouched = _statuses(await api.get(pod_path))
    assert {c: (s["containerID"], s["restartCount"]) for c, s in untouched.items()} == {
        c: (s["containerID"], s["restartCount"]) for c, s in after.items()
    }
    assert node_agent.poll() is None, "the node agent exited"
