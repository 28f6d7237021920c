"""The no-node half of ContainerRecreateRequest (nodeagent.crr.controller).

Expected values are kruise-manager v1.9.1's (``pkg/controller/containerrecreaterequest``): its
messages word for word, the 60 s response timeout, the deadline counted from creation, the
active label dropped before the TTL counts, the synced statuses only of containers started
since the request was created.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from nodeagent.crr.controller import plan_request
from nodeagent.crr.daemon import SYNC_CONTAINER_STATUSES_KEY, UNREADY_ACQUIRED_KEY
from schemas.kruise.containerrecreaterequest import ACTIVE_LABEL, POD_UID_LABEL, ContainerRecreateRequest

NOW = dt.datetime(2026, 11, 30, 2, 0, 0, tzinfo=dt.UTC)


def crr(phase: str | None = "Recreating", created_ago: float = 10, **extra: Any) -> ContainerRecreateRequest:
    created = (NOW - dt.timedelta(seconds=created_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = {POD_UID_LABEL: "uid-1", ACTIVE_LABEL: "true", **extra.pop("labels", {})}
    body: dict[str, Any] = {
        "metadata": {
            "name": "r",
            "namespace": "ns",
            "creationTimestamp": created,
            "labels": labels,
            "annotations": extra.pop("annotations", {}),
        },
        "spec": {"podName": "p", "containers": [{"name": "app"}], **extra.pop("spec", {})},
        "status": ({"phase": phase} if phase else {}) | extra.pop("status", {}),
    }
    return ContainerRecreateRequest.from_wire(body)


def pod(started: str = "2026-11-30T01:59:55Z", ready: bool = True, uid: str = "uid-1") -> dict[str, Any]:
    status = {
        "name": "app",
        "ready": ready,
        "restartCount": 1,
        "containerID": "containerd://app-2",
        "state": {"running": {"startedAt": started}},
    }
    return {"metadata": {"name": "p", "uid": uid}, "status": {"containerStatuses": [status]}}


def test_pod_gone_or_replaced_completes() -> None:
    assert plan_request(crr(), None, NOW).complete_message == "pod has gone"
    assert plan_request(crr(), pod(uid="uid-2"), NOW).complete_message == "pod has gone"


def test_no_response_from_the_node_for_a_minute() -> None:
    plan = plan_request(crr(phase=None, created_ago=30), pod(), NOW)
    assert plan.complete_message is None
    assert plan.requeue_after == 30
    plan = plan_request(crr(phase=None, created_ago=61), pod(), NOW)
    assert plan.complete_message == "daemon has not responded for a long time"


def test_active_deadline_counts_from_creation() -> None:
    plan = plan_request(crr(created_ago=2, spec={"activeDeadlineSeconds": 3}, phase="Pending"), pod(), NOW)
    assert plan.requeue_after == 1
    plan = plan_request(crr(created_ago=3, spec={"activeDeadlineSeconds": 3}), pod(), NOW)
    assert plan.complete_message == "recreating has exceeded the activeDeadlineSeconds"


def test_syncs_only_containers_started_since_creation() -> None:
    plan = plan_request(crr(created_ago=10), pod(started="2026-11-30T01:59:55Z"), NOW)
    assert plan.metadata_patch is not None
    value = json.loads(plan.metadata_patch["annotations"][SYNC_CONTAINER_STATUSES_KEY])
    assert value == [{"name": "app", "ready": True, "restartCount": 1, "containerID": "containerd://app-2"}]
    plan = plan_request(crr(created_ago=10), pod(started="2026-11-30T01:59:00Z"), NOW)
    assert plan.metadata_patch == {"annotations": {SYNC_CONTAINER_STATUSES_KEY: "[]"}}
    settled = crr(annotations={SYNC_CONTAINER_STATUSES_KEY: "[]"})
    assert plan_request(settled, pod(started="2026-11-30T01:59:00Z"), NOW).metadata_patch is None


def test_unready_acquired_once_statuses_are_synced() -> None:
    synced = plan_request(crr(), pod(), NOW).metadata_patch
    assert synced is not None
    value = synced["annotations"][SYNC_CONTAINER_STATUSES_KEY]
    request = crr(
        annotations={SYNC_CONTAINER_STATUSES_KEY: value}, spec={"strategy": {"unreadyGracePeriodSeconds": 5}}
    )
    plan = plan_request(request, pod(), NOW)
    assert plan.metadata_patch == {"annotations": {UNREADY_ACQUIRED_KEY: "2026-11-30T02:00:00Z"}}


def test_finished_drops_active_then_waits_for_ttl_then_deletes() -> None:
    done = {"phase": "Completed", "completionTime": "2026-11-30T01:59:58Z"}
    plan = plan_request(crr(phase=None, status=done, spec={"ttlSecondsAfterFinished": 5}), pod(), NOW)
    assert plan.metadata_patch == {"labels": {ACTIVE_LABEL: None}}
    inactive = {ACTIVE_LABEL: None}
    request = crr(phase=None, status=done, spec={"ttlSecondsAfterFinished": 5}, labels=inactive)
    request.metadata["labels"].pop(ACTIVE_LABEL)
    plan = plan_request(request, pod(), NOW)
    assert plan.requeue_after == 3
    assert not plan.delete
    assert plan_request(request, pod(), NOW + dt.timedelta(seconds=3)).delete
    no_ttl = crr(phase=None, status=done)
    no_ttl.metadata["labels"].pop(ACTIVE_LABEL)
    assert plan_request(no_ttl, None, NOW) == plan_request(no_ttl, pod(), NOW)
    assert not plan_request(no_ttl, None, NOW).delete


def gated_pod(messages: list[dict[str, str]] | None, ready: str = "True") -> dict[str, Any]:
    base = pod()
    base["metadata"]["namespace"] = "ns"
    base["spec"] = {"readinessGates": [{"conditionType": "KruisePodReady"}]}
    conditions: list[dict[str, Any]] = [
        {"type": "Ready", "status": ready},
        {"type": "ContainersReady", "status": "True"},
    ]
    if messages is not None:
        status = "True" if not messages else "False"
        conditions.append({"type": "KruisePodReady", "status": status, "message": json.dumps(messages)})
    base["status"]["conditions"] = conditions
    return base


def test_unready_grace_holds_a_finalizer_then_marks_the_gated_pod_not_ready() -> None:
    value = plan_request(crr(), pod(), NOW).metadata_patch["annotations"][SYNC_CONTAINER_STATUSES_KEY]  # type: ignore[index]
    spec = {"strategy": {"unreadyGracePeriodSeconds": 5}}
    request = crr(annotations={SYNC_CONTAINER_STATUSES_KEY: value}, spec=spec)
    request.metadata["resourceVersion"] = "7"
    plan = plan_request(request, gated_pod([]), NOW)
    assert plan.metadata_patch == {
        "finalizers": ["crr.apps.kruise.io/unready-acquired"],
        "resourceVersion": "7",
    }
    request.metadata["finalizers"] = ["crr.apps.kruise.io/unready-acquired"]
    plan = plan_request(request, gated_pod([]), NOW)
    assert plan.pod_status_patch is not None
    conditions = {c["type"]: c for c in plan.pod_status_patch["status"]["conditions"]}
    assert conditions["KruisePodReady"]["status"] == "False"
    assert (
        conditions["KruisePodReady"]["message"] == '[{"userAgent":"ContainerRecreateRequest","key":"ns/r"}]'
    )
    assert conditions["Ready"]["status"] == "False"
    held = gated_pod([{"userAgent": "ContainerRecreateRequest", "key": "ns/r"}], ready="False")
    plan = plan_request(request, held, NOW)
    assert plan.metadata_patch == {"annotations": {UNREADY_ACQUIRED_KEY: "2026-11-30T02:00:00Z"}}


def test_finished_request_gives_the_pod_back_then_drops_its_finalizer() -> None:
    done = {"phase": "Completed", "completionTime": "2026-11-30T01:59:58Z"}
    request = crr(phase=None, status=done)
    request.metadata["finalizers"] = ["other", "crr.apps.kruise.io/unready-acquired"]
    request.metadata["resourceVersion"] = "9"
    others = [{"userAgent": "Lifecycle", "key": "preUpdateHook"}]
    held = gated_pod([*others, {"userAgent": "ContainerRecreateRequest", "key": "ns/r"}], ready="False")
    plan = plan_request(request, held, NOW)
    assert plan.pod_status_patch is not None
    [gate] = plan.pod_status_patch["status"]["conditions"]
    assert gate["status"] == "False"  # another holder is left
    assert gate["message"] == '[{"userAgent":"Lifecycle","key":"preUpdateHook"}]'
    plan = plan_request(request, gated_pod(others, ready="False"), NOW)
    assert plan.metadata_patch == {"finalizers": ["other"], "resourceVersion": "9"}
    alone = gated_pod([{"userAgent": "ContainerRecreateRequest", "key": "ns/r"}], ready="False")
    [gate] = plan_request(request, alone, NOW).pod_status_patch["status"]["conditions"]  # type: ignore[index]
    assert (gate["status"], gate["message"]) == ("True", "[]")
    assert plan_request(request, None, NOW).metadata_patch == {
        "finalizers": ["other"],
        "resourceVersion": "9",
    }
