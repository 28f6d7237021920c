"""Tiny builders of BroadcastJobs, pods and nodes for the planner's table tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schemas.kruise.broadcastjob import BroadcastJob
from workers.broadcastjob.observed import ObservedBroadcastJob

NS, NAME, UID = "ns", "job", "uid-1"
#: 2026-01-01T00:00:00Z
T0 = 1767225600.0


def node(
    name: str,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    unschedulable: bool = False,
    cpu: str = "4",
    pods: str = "110",
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": spec,
        "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": pods}},
    }


def pod(
    name: str,
    on: str,
    phase: str = "Running",
    restarts: int = 0,
    restart_policy: str = "Never",
    deleting: bool = False,
    owner: str = UID,
) -> dict[str, Any]:
    """A job pod as kruise created it: bound by a metadata.name term, not yet by nodeName."""
    meta: dict[str, Any] = {
        "name": name,
        "uid": f"pod-{name}",
        "namespace": NS,
        "labels": {"broadcastjob-name": NAME, "broadcastjob-controller-uid": owner},
        "ownerReferences": [
            {"apiVersion": "apps.kruise.io/v1beta1", "kind": "BroadcastJob", "name": NAME, "uid": owner,
             "controller": True, "blockOwnerDeletion": True}
        ],
    }  # fmt: skip
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [on]}]}
    return {
        "metadata": meta,
        "spec": {
            "restartPolicy": restart_policy,
            "containers": [{"name": "c", "image": "busybox"}],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
                }
            },
        },
        "status": {"phase": phase, "containerStatuses": [{"name": "c", "restartCount": restarts}]},
    }


def job(
    spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, deleting: bool = False
) -> dict[str, Any]:
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}
    meta: dict[str, Any] = {"name": NAME, "namespace": NS, "uid": UID, "resourceVersion": "7"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    raw: dict[str, Any] = {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "BroadcastJob",
        "metadata": meta,
        "spec": {"template": template, **(spec or {})},
    }
    if status is not None:
        raw["status"] = status
    return raw


def observed(
    raw: dict[str, Any],
    pods: Sequence[dict[str, Any]] = (),
    nodes: Sequence[dict[str, Any]] = (),
) -> ObservedBroadcastJob:
    return ObservedBroadcastJob(raw, BroadcastJob.from_wire(raw), tuple(pods), tuple(nodes))


RUNNING = {
    "startTime": "2026-01-01T00:00:00Z",
    "phase": "running",
    "active": 0,
    "succeeded": 0,
    "failed": 0,
    "desired": 0,
}
