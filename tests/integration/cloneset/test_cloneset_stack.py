"""CloneSets on the real control plane (kwok nodes): watcher -> NATS -> cloneset worker -> API server.

Each test creates a CloneSet in its own namespace and waits for the observable outcome a kruise
user would check: pods, their labels, the status and the Events.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest

from flotilla.runtime.errors import NotFound
from flotilla.runtime.kube import CONFIGMAPS, EVENTS, PODS, JsonObject
from tests.integration.cloneset.conftest import Stack
from tests.support.polling import eventually_async
from workers.cloneset.lowering import CLONESETS, CONTROLLER_REVISIONS


@pytest.fixture(scope="module")
def worker_types() -> tuple[str, ...]:
    """This module's stack also runs the container-launch-priority worker (kruise-manager runs that
    controller next to CloneSet's; the CloneSet tests here show the two side by side)."""
    return ("cloneset", "containerlaunchpriority")


def manifest(
    namespace: str, replicas: int, *, image: str = "nginx:1", strategy: dict[str, Any] | None = None
) -> JsonObject:
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "CloneSet",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            "updateStrategy": strategy or {},
        },
    }


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 60, what: str = "") -> None:
    await eventually_async(check, within=within, interval=0.5, what=what)


async def pods(stack: Stack) -> list[JsonObject]:
    listing = await stack.api.get(PODS.path(stack.namespace), {"labelSelector": "app=web"})
    return [p for p in listing.get("items", []) if not p["metadata"].get("deletionTimestamp")]


async def cloneset(stack: Stack) -> JsonObject:
    return await stack.api.get(CLONESETS.path(stack.namespace, "web"))


async def status_is(stack: Stack, **expected: object) -> bool:
    status = (await cloneset(stack)).get("status") or {}
    return all(status.get(k) == v for k, v in expected.items())


async def patch_spec(stack: Stack, spec: JsonObject) -> None:
    await stack.api.patch(CLONESETS.path(stack.namespace, "web"), {"spec": spec}, "merge")


async def test_scale_up_status_and_scale_down(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    await stack.api.create(CLONESETS.path(stack.namespace), manifest(stack.namespace, 4))
    await eventually(
        lambda: status_is(stack, replicas=4, readyReplicas=4, availableReplicas=4), 90, "4 ready"
    )
    current = await pods(stack)
    revisions = (await stack.api.get(CONTROLLER_REVISIONS.path(stack.namespace))).get("items", [])
    assert len(revisions) == 1
    rev = revisions[0]["metadata"]["name"]
    for p in current:
        labels = p["metadata"]["labels"]
        assert p["metadata"]["name"] == f"web-{labels['apps.kruise.io/cloneset-instance-id']}"
        assert labels["controller-revision-hash"] == rev
        assert labels["lifecycle.apps.kruise.io/state"] == "Normal"
        assert p["metadata"]["ownerReferences"][0]["kind"] == "CloneSet"
    status = (await cloneset(stack))["status"]
    assert status["labelSelector"] == "app=web"
    assert status["updateRevision"] == rev == status["currentRevision"]
    assert status["observedGeneration"] == 1

    await patch_spec(stack, {"replicas": 1})
    await eventually(lambda: status_is(stack, replicas=1, readyReplicas=1), 60, "scaled to 1")
    events = (await stack.api.get(EVENTS.path(stack.namespace))).get("items", [])
    reasons = {e["reason"] for e in events if e["involvedObject"]["kind"] == "CloneSet"}
    assert {"SuccessfulCreate", "SuccessfulDelete"} <= reasons


async def test_in_place_update_keeps_pods(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    strategy = {"type": "InPlaceIfPossible", "maxUnavailable": 1}
    await stack.api.create(CLONESETS.path(stack.namespace), manifest(stack.namespace, 3, strategy=strategy))
    await eventually(lambda: status_is(stack, readyReplicas=3), 90, "3 ready")
    before = {p["metadata"]["uid"] for p in await pods(stack)}
    await patch_spec(stack, {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}})
    await eventually(
        lambda: status_is(
            stack, observedGeneration=2, updatedReplicas=3, updatedReadyReplicas=3, readyReplicas=3
        ),
        120,
        "updated in place",
    )
    after = await pods(stack)
    assert {p["metadata"]["uid"] for p in after} == before
    assert {p["spec"]["containers"][0]["image"] for p in after} == {"nginx:2"}
    status = (await cloneset(stack))["status"]
    assert status["currentRevision"] == status["updateRevision"]
    for p in after:
        [gate] = [c for c in p["status"]["conditions"] if c["type"] == "InPlaceUpdateReady"]
        assert gate["status"] == "True"
        assert "reason" not in gate
        assert p["metadata"]["labels"]["lifecycle.apps.kruise.io/state"] == "Normal"
    # settled: nothing keeps writing to the pods
    versions = {p["metadata"]["name"]: p["metadata"]["resourceVersion"] for p in after}
    await asyncio.sleep(3)
    assert {p["metadata"]["name"]: p["metadata"]["resourceVersion"] for p in await pods(stack)} == versions


async def test_recreate_update_with_partition(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    strategy = {"type": "ReCreate", "partition": 1, "maxUnavailable": 1}
    await stack.api.create(CLONESETS.path(stack.namespace), manifest(stack.namespace, 3, strategy=strategy))
    await eventually(lambda: status_is(stack, readyReplicas=3), 90, "3 ready")
    await patch_spec(stack, {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}})
    await eventually(
        lambda: status_is(
            stack,
            observedGeneration=2,
            updatedReplicas=2,
            updatedReadyReplicas=2,
            readyReplicas=3,
            replicas=3,
        ),
        120,
        "2 of 3 recreated",
    )
    images = sorted(p["spec"]["containers"][0]["image"] for p in await pods(stack))
    assert images == ["nginx:1", "nginx:2", "nginx:2"]


async def test_invalid_in_place_only_change_sets_condition_and_touches_nothing(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    strategy = {"type": "InPlaceOnly", "maxUnavailable": 1}
    await stack.api.create(CLONESETS.path(stack.namespace), manifest(stack.namespace, 2, strategy=strategy))
    await eventually(lambda: status_is(stack, readyReplicas=2), 90, "2 ready")
    before = {p["metadata"]["uid"]: p["metadata"]["resourceVersion"] for p in await pods(stack)}
    env = [{"name": "MODE", "value": "debug"}]
    await patch_spec(
        stack, {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1", "env": env}]}}}
    )

    async def failed() -> bool:
        conditions = ((await cloneset(stack)).get("status") or {}).get("conditions") or []
        return any(c["type"] == "FailedUpdate" and c["status"] == "True" for c in conditions)

    await eventually(failed, 60, "FailedUpdate condition")
    await asyncio.sleep(2)
    assert {p["metadata"]["uid"] for p in await pods(stack)} == set(before)
    events = (await stack.api.get(EVENTS.path(stack.namespace))).get("items", [])
    assert any(e["reason"] == "FailedUpdate" and "InPlaceOnly" in e["message"] for e in events)


async def test_pods_to_delete_replaces_the_pod(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    strategy = {"maxUnavailable": 0, "maxSurge": 1}
    await stack.api.create(CLONESETS.path(stack.namespace), manifest(stack.namespace, 2, strategy=strategy))
    await eventually(lambda: status_is(stack, readyReplicas=2), 90, "2 ready")
    victim = (await pods(stack))[0]["metadata"]["name"]
    await patch_spec(stack, {"scaleStrategy": {"podsToDelete": [victim]}})

    async def replaced() -> bool:
        names = {p["metadata"]["name"] for p in await pods(stack)}
        return victim not in names and await status_is(stack, replicas=2, readyReplicas=2)

    await eventually(replaced, 90, "specified pod replaced")
    spec = (await cloneset(stack))["spec"]
    assert not (spec.get("scaleStrategy") or {}).get("podsToDelete")


async def test_scale_subresource_serves_kubectl_scale_and_hpa(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    await stack.api.create(CLONESETS.path(stack.namespace), manifest(stack.namespace, 1))
    await eventually(lambda: status_is(stack, readyReplicas=1), 90, "1 ready")
    scale_path = CLONESETS.path(stack.namespace, "web", "scale")
    await stack.api.patch(scale_path, {"spec": {"replicas": 3}}, "merge")
    await eventually(lambda: status_is(stack, replicas=3, readyReplicas=3), 90, "scaled through /scale")
    scale = await stack.api.get(scale_path)
    assert scale["status"]["replicas"] == 3
    assert scale["status"]["selector"] == "app=web"


async def test_pre_delete_hook_holds_the_pod_until_released(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    body = manifest(stack.namespace, 2)
    body["spec"]["lifecycle"] = {"preDelete": {"labelsHandler": {"example.com/hold": "true"}}}
    body["spec"]["template"]["metadata"]["labels"]["example.com/hold"] = "true"
    await stack.api.create(CLONESETS.path(stack.namespace), body)
    await eventually(lambda: status_is(stack, readyReplicas=2), 90, "2 ready")
    await patch_spec(stack, {"replicas": 1})

    async def parked() -> list[JsonObject]:
        return [
            p
            for p in await pods(stack)
            if p["metadata"]["labels"].get("lifecycle.apps.kruise.io/state") == "PreparingDelete"
        ]

    await eventually(lambda: _non_empty(parked()), 60, "a pod in PreparingDelete")
    [held] = await parked()
    await asyncio.sleep(2)
    assert len(await pods(stack)) == 2  # still there: the hook holds it
    name = held["metadata"]["name"]
    await stack.api.patch(
        PODS.path(stack.namespace, name), {"metadata": {"labels": {"example.com/hold": None}}}, "merge"
    )

    async def gone() -> bool:
        return name not in {p["metadata"]["name"] for p in await pods(stack)}

    await eventually(gone, 60, "released pod deleted")
    await eventually(lambda: status_is(stack, replicas=1), 30, "status counts 1 pod")


async def _non_empty(items: Awaitable[list[JsonObject]]) -> bool:
    return bool(await items)


async def test_orphans_are_adopted_and_pods_follow_the_cloneset_on_delete(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    orphan = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-orphn", "namespace": stack.namespace, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1"}]},
    }
    await stack.api.create(PODS.path(stack.namespace), orphan)
    # paused: the adopted pod (no revision label, so an old revision) is kept, not recreated
    await stack.api.create(
        CLONESETS.path(stack.namespace), manifest(stack.namespace, 2, strategy={"paused": True})
    )
    await eventually(lambda: status_is(stack, replicas=2, readyReplicas=2), 90, "2 ready")

    async def adopted() -> bool:
        pod = await stack.api.get(PODS.path(stack.namespace, "web-orphn"))
        refs = pod["metadata"].get("ownerReferences") or []
        return any(r.get("kind") == "CloneSet" and r.get("controller") for r in refs)

    await eventually(adopted, 30, "orphan adopted")
    assert len(await pods(stack)) == 2
    # status is still written (kruise does too): the counts stay current beside the condition
    await eventually(lambda: status_is(stack, replicas=2, readyReplicas=2), 60, "status counts the 2 pods")
    await stack.api.delete(CLONESETS.path(stack.namespace, "web"))

    async def collected() -> bool:
        return not await pods(stack)

    await eventually(collected, 90, "pods garbage-collected with the CloneSet")


async def test_refused_creation_shows_failed_create_event_and_failed_scale(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "two-pods", "namespace": stack.namespace},
        "spec": {"hard": {"pods": "2"}},
    }
    await stack.api.create(f"/api/v1/namespaces/{stack.namespace}/resourcequotas", quota)

    async def quota_ready() -> bool:
        got = await stack.api.get(f"/api/v1/namespaces/{stack.namespace}/resourcequotas/two-pods")
        return bool((got.get("status") or {}).get("hard"))

    await eventually(quota_ready, 30, "quota in force")
    await stack.api.create(CLONESETS.path(stack.namespace), manifest(stack.namespace, 3))

    async def failed_scale() -> bool:
        conditions = ((await cloneset(stack)).get("status") or {}).get("conditions") or []
        return any(
            c["type"] == "FailedScale" and "exceeded quota" in c.get("message", "") for c in conditions
        )

    await eventually(failed_scale, 60, "FailedScale condition naming the quota")
    events = (await stack.api.get(EVENTS.path(stack.namespace))).get("items", [])
    assert any(e["reason"] == "FailedCreate" and "exceeded quota" in e["message"] for e in events)
    assert len(await pods(stack)) == 2
    # status is still written (kruise does too): the counts stay current beside the condition
    await eventually(lambda: status_is(stack, replicas=2, readyReplicas=2), 60, "status counts the 2 pods")


PVCS_PATH = "/api/v1/namespaces/{ns}/persistentvolumeclaims"


async def test_pvcs_follow_instance_ids_and_are_reused(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    body = manifest(stack.namespace, 2)
    body["spec"]["volumeClaimTemplates"] = [
        {
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }
    ]
    await stack.api.create(CLONESETS.path(stack.namespace), body)

    async def claims() -> dict[str, str]:
        listing = await stack.api.get(PVCS_PATH.format(ns=stack.namespace))
        return {
            c["metadata"]["name"]: c["metadata"]["labels"]["apps.kruise.io/cloneset-instance-id"]
            for c in listing.get("items", [])
            if not c["metadata"].get("deletionTimestamp")
        }

    async def two_of_each() -> bool:
        return len(await pods(stack)) == 2 and len(await claims()) == 2

    await eventually(two_of_each, 60, "2 pods and 2 PVCs")
    ids = {p["metadata"]["labels"]["apps.kruise.io/cloneset-instance-id"] for p in await pods(stack)}
    assert await claims() == {f"data-web-{i}": i for i in ids}
    volumes = {p["metadata"]["name"]: p["spec"]["volumes"][0] for p in await pods(stack)}
    for name, volume in volumes.items():
        assert volume == {"name": "data", "persistentVolumeClaim": {"claimName": f"data-{name}"}}

    # a pod deleted by someone else: its PVC stays and the replacement reuses the id
    victim = sorted(volumes)[0]
    await stack.api.delete(PODS.path(stack.namespace, victim))

    async def reborn() -> bool:
        current = await pods(stack)
        return len(current) == 2 and victim in {p["metadata"]["name"] for p in current}

    await eventually(reborn, 90, "replacement reuses the instance id")
    assert len(await claims()) == 2

    # scale in: the controller deletes the pod and its PVC
    await patch_spec(stack, {"replicas": 1})

    async def one_of_each() -> bool:
        return len(await pods(stack)) == 1 and len(await claims()) == 1

    await eventually(one_of_each, 60, "1 pod and 1 PVC")


async def test_scale_max_unavailable_and_min_ready_seconds_pace_creation(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    body = manifest(stack.namespace, 3)
    body["spec"]["scaleStrategy"] = {"maxUnavailable": 1}
    body["spec"]["minReadySeconds"] = 3
    await stack.api.create(CLONESETS.path(stack.namespace), body)
    await eventually(lambda: status_is(stack, replicas=3, availableReplicas=3), 120, "3 available")
    created = sorted(
        datetime.fromisoformat(p["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
        for p in await pods(stack)
    )
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(created)]
    assert all(gap >= 2 for gap in gaps), gaps  # each pod waited for the previous one to be available
    events = (await stack.api.get(EVENTS.path(stack.namespace))).get("items", [])
    assert any(e["reason"] == "ScaleUpLimited" for e in events)


async def test_in_place_update_hook_walks_the_lifecycle_states(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    body = manifest(stack.namespace, 1, strategy={"type": "InPlaceIfPossible"})
    body["spec"]["lifecycle"] = {"inPlaceUpdate": {"labelsHandler": {"example.com/gate": "on"}}}
    body["spec"]["template"]["metadata"]["labels"]["example.com/gate"] = "on"
    await stack.api.create(CLONESETS.path(stack.namespace), body)
    await eventually(lambda: status_is(stack, readyReplicas=1), 90, "1 ready")
    [first] = await pods(stack)
    name = first["metadata"]["name"]

    async def state_is(state: str) -> bool:
        pod = await stack.api.get(PODS.path(stack.namespace, name))
        return bool(pod["metadata"]["labels"].get("lifecycle.apps.kruise.io/state") == state)

    async def set_gate(value: str | None) -> None:
        patch = {"metadata": {"labels": {"example.com/gate": value}}}
        await stack.api.patch(PODS.path(stack.namespace, name), patch, "merge")

    await patch_spec(stack, {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}})
    await eventually(lambda: state_is("PreparingUpdate"), 60, "PreparingUpdate")
    await asyncio.sleep(2)
    pod = await stack.api.get(PODS.path(stack.namespace, name))
    assert pod["spec"]["containers"][0]["image"] == "nginx:1"  # held by the hook
    await set_gate(None)
    await eventually(lambda: state_is("Updated"), 60, "Updated (updated, hook not back)")
    pod = await stack.api.get(PODS.path(stack.namespace, name))
    assert pod["spec"]["containers"][0]["image"] == "nginx:2"
    await set_gate("on")
    await eventually(lambda: state_is("Normal"), 60, "Normal once the hook is back")
    await eventually(lambda: status_is(stack, updatedReadyReplicas=1, availableReplicas=1), 60, "available")


async def test_mark_pod_not_ready_takes_the_parked_pod_out_of_service(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    body = manifest(stack.namespace, 2)
    body["spec"]["lifecycle"] = {
        "preDelete": {"labelsHandler": {"example.com/hold": "true"}, "markPodNotReady": True}
    }
    body["spec"]["template"]["metadata"]["labels"]["example.com/hold"] = "true"
    await stack.api.create(CLONESETS.path(stack.namespace), body)
    await eventually(lambda: status_is(stack, readyReplicas=2), 90, "2 ready")
    await patch_spec(stack, {"replicas": 1})

    async def parked_and_not_ready() -> bool:
        for p in await pods(stack):
            if p["metadata"]["labels"].get("lifecycle.apps.kruise.io/state") != "PreparingDelete":
                continue
            conditions = {c["type"]: c for c in p["status"].get("conditions", [])}
            kruise_ready = conditions.get("KruisePodReady", {})
            return (
                kruise_ready.get("status") == "False" and conditions.get("Ready", {}).get("status") == "False"
            )
        return False

    await eventually(parked_and_not_ready, 60, "parked pod with KruisePodReady False and not Ready")
    await eventually(lambda: status_is(stack, replicas=2, readyReplicas=1), 60, "only one pod counted ready")


def _changes(before: JsonObject, after: JsonObject) -> dict[str, tuple[object, object]]:
    """The top-level status fields and metadata parts that differ between two versions of an object."""
    changed: dict[str, tuple[object, object]] = {}
    for part in ("status", "spec"):
        old, new = before.get(part) or {}, after.get(part) or {}
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                changed[f"{part}.{key}"] = (old.get(key), new.get(key))
    for key in ("labels", "annotations", "finalizers", "ownerReferences"):
        if before["metadata"].get(key) != after["metadata"].get(key):
            changed[f"metadata.{key}"] = (before["metadata"].get(key), after["metadata"].get(key))
    return changed


async def test_no_write_after_ready_while_nothing_changes(cloneset_stack: Stack) -> None:
    """kruise's e2e specs (e.g. the PodUnavailableBudget ones) create a CloneSet, wait until
    ``readyReplicas == replicas``, read it and Update their copy without retrying: any write of
    the CloneSet after it reads Ready answers that Update with 409. kruise-manager writes the
    status once it is final; so must the worker. Every version of the CloneSet is recorded by a
    watch; after the first one that reads Ready, none may follow while nothing changes."""
    stack = cloneset_stack
    path = CLONESETS.path(stack.namespace)
    listing = await stack.api.get(path)
    versions: list[JsonObject] = []

    async def follow() -> None:
        params = {"resourceVersion": str(listing["metadata"]["resourceVersion"]), "timeoutSeconds": "120"}
        async for event in stack.api.watch(path, params):
            if event.get("type") in ("ADDED", "MODIFIED"):
                versions.append(event["object"])

    watch = asyncio.create_task(follow())
    try:
        await stack.api.create(path, manifest(stack.namespace, 3))

        def ready_at() -> int | None:
            found = [i for i, v in enumerate(versions) if (v.get("status") or {}).get("readyReplicas") == 3]
            return found[0] if found else None

        await eventually_async(lambda: ready_at() is not None, 90, 0.2, "a version with 3 ready seen")
        await asyncio.sleep(3)  # a bounded watch: nothing changes in the namespace meanwhile
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
    first_ready = ready_at()
    assert first_ready is not None
    later = versions[first_ready + 1 :]
    steps = [_changes(a, b) for a, b in itertools.pairwise(versions[first_ready:])]
    assert not later, f"{len(later)} write(s) after the CloneSet read Ready: {steps}"
    status = versions[first_ready]["status"]
    assert (status["replicas"], status["availableReplicas"], status["updatedReadyReplicas"]) == (3, 3, 3)
    assert status["observedGeneration"] == 1


def _barrier_env(pod: str, key: str) -> JsonObject:
    return {
        "name": "KRUISE_CONTAINER_BARRIER",
        "valueFrom": {"configMapKeyRef": {"name": f"{pod}-barrier", "key": key}},
    }


async def test_launch_priority_barrier_opens_in_priority_order(cloneset_stack: Stack) -> None:
    """kruise-manager's container-launch-priority controller on the real API server: a pod whose
    two containers carry the barrier env the webhook injects (``sidecar`` p_0, ``main`` p_-1)
    gets its ``<pod>-barrier`` ConfigMap, owned by the pod, with p_0 only; p_-1 and the pod's
    ``container-launch-priority-completed`` mark come once the kubelet reports ``sidecar`` ready.

    The pod names a scheduler nobody runs, so no kwok node takes it: kwok reports every container
    ready at once and cannot read ConfigMaps, so here the test is the kubelet (it reports
    ``sidecar`` started and ready through ``pods/status`` once p_0 is there)."""
    api, ns = cloneset_stack.api, cloneset_stack.namespace
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "prio", "namespace": ns},
        "spec": {
            "schedulerName": "flotilla-test-nobody",
            "containers": [
                {"name": "sidecar", "image": "busybox:1", "env": [_barrier_env("prio", "p_0")]},
                {"name": "main", "image": "nginx:1", "env": [_barrier_env("prio", "p_-1")]},
            ],
        },
    }
    uid = (await api.create(PODS.path(ns), pod))["metadata"]["uid"]

    async def barrier() -> JsonObject | None:
        try:
            return await api.get(CONFIGMAPS.path(ns, "prio-barrier"))
        except NotFound:
            return None

    async def has(key: str) -> bool:
        found = await barrier()
        return found is not None and key in (found.get("data") or {})

    await eventually(lambda: has("p_0"), 60, "the barrier with p_0")
    first = await barrier()
    assert first is not None
    assert first["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "prio", "uid": uid}
    ]
    assert first["data"] == {"p_0": "true"}  # main's key stays closed while sidecar is not ready
    mark = "apps.kruise.io/container-launch-priority-completed"
    assert mark not in ((await api.get(PODS.path(ns, "prio")))["metadata"].get("annotations") or {})

    def status(name: str, image: str, ready: bool) -> JsonObject:
        state = (
            {"running": {"startedAt": "2026-11-30T12:00:00Z"}}
            if ready
            else {"waiting": {"reason": "CreateContainerConfigError"}}
        )
        return {
            "name": name,
            "image": image,
            "imageID": "",
            "ready": ready,
            "started": ready,
            "restartCount": 0,
            "state": state,
        }

    report = {
        "status": {
            "containerStatuses": [status("sidecar", "busybox:1", True), status("main", "nginx:1", False)]
        }
    }
    await api.patch(PODS.path(ns, "prio", "status"), report, "merge")

    async def completed() -> bool:
        annotations = (await api.get(PODS.path(ns, "prio")))["metadata"].get("annotations") or {}
        return annotations.get(mark) == "true"

    await eventually(lambda: has("p_-1"), 60, "p_-1 once sidecar is ready")
    await eventually(completed, 60, "the pod marked completed")
    final = await barrier()
    assert final is not None
    assert final["data"] == {"p_0": "true", "p_-1": "true"}
