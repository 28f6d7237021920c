"""The no-node half of ContainerRecreateRequest: deadlines, TTL, the Pod's view copied in.

Follows kruise-manager's ``pkg/controller/containerrecreaterequest`` (v1.9.1). It needs no
container runtime, only the request and its Pod; the node agent runs it for the requests of its
own node (docs/nodeagent.md says why no separate worker). Pure: :func:`plan_request` returns a
:class:`ControllerPlan` that :mod:`nodeagent.crr.agent` executes, one write per pass.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from nodeagent.crr import readiness
from nodeagent.crr.daemon import SYNC_CONTAINER_STATUSES_KEY, UNREADY_ACQUIRED_KEY
from schemas.kruise.containerrecreaterequest import ACTIVE_LABEL, POD_UID_LABEL, ContainerRecreateRequest

#: kruise's ``responseTimeout``: a request the node never picked up completes after this.
RESPONSE_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class ControllerPlan:
    """One write (or none) for one request, and when to look again."""

    #: Merge patch of the request's metadata (labels, annotations, finalizers), or None.
    metadata_patch: dict[str, Any] | None = None
    #: Complete the request with this message (phase Completed, completionTime now).
    complete_message: str | None = None
    #: Strategic-merge patch of the Pod's status (the KruisePodReady gate), or None.
    pod_status_patch: dict[str, Any] | None = None
    #: Delete the request (ttlSecondsAfterFinished passed).
    delete: bool = False
    requeue_after: float | None = None
    reason: str = ""


def _time(raw: object) -> dt.datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    return dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))


def rfc3339(moment: dt.datetime) -> str:
    """Kubernetes' second-precision UTC timestamp."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sync_container_statuses(crr: ContainerRecreateRequest, pod: dict[str, Any]) -> str:
    """kruise's ``syncContainerStatuses``: the kubelet's statuses of the requested containers that
    are running and started since the request was created, as the annotation's JSON."""
    created = _time(crr.metadata.get("creationTimestamp"))
    by_name = {s.get("name"): s for s in (pod.get("status") or {}).get("containerStatuses") or ()}
    out = []
    for wanted in crr.spec.containers:
        status = by_name.get(wanted.name)
        if status is None:
            continue
        running = (status.get("state") or {}).get("running")
        started = _time((running or {}).get("startedAt"))
        if running is None or (started is not None and created is not None and started < created):
            continue
        out.append(
            {
                "name": status.get("name"),
                "ready": bool(status.get("ready", False)),
                "restartCount": int(status.get("restartCount", 0)),
                "containerID": status.get("containerID", ""),
            }
        )
    return json.dumps(out, separators=(",", ":"))


def _finalizers_patch(crr: ContainerRecreateRequest, add: bool) -> dict[str, Any]:
    """Merge patch of the finalizer list, guarded by the resourceVersion (a list is replaced whole)."""
    current = [str(f) for f in crr.metadata.get("finalizers") or ()]
    wanted = [*current, readiness.FINALIZER] if add else [f for f in current if f != readiness.FINALIZER]
    return {"finalizers": wanted, "resourceVersion": crr.metadata.get("resourceVersion")}


def _crr_key(crr: ContainerRecreateRequest) -> str:
    return f"{crr.metadata.get('namespace', '')}/{crr.metadata.get('name', '')}"


def plan_request(
    crr: ContainerRecreateRequest, pod: dict[str, Any] | None, now: dt.datetime
) -> ControllerPlan:
    """One pass of kruise's CRR ``Reconcile``."""
    meta = crr.metadata
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    completion = crr.status.completion_time
    finished = bool(meta.get("deletionTimestamp")) or completion is not None
    if finished and readiness.FINALIZER in (meta.get("finalizers") or ()):
        live = pod is not None and not (pod.get("metadata") or {}).get("deletionTimestamp")
        patch = readiness.not_ready_patch(pod, _crr_key(crr), False, rfc3339(now)) if live and pod else None
        if patch is not None:
            return ControllerPlan(pod_status_patch=patch, reason="release the pod's readiness")
        return ControllerPlan(metadata_patch=_finalizers_patch(crr, add=False), reason="release finalizer")
    if meta.get("deletionTimestamp"):
        return ControllerPlan(reason="being deleted")
    if completion is not None:
        if ACTIVE_LABEL in labels:
            return ControllerPlan(
                metadata_patch={"labels": {ACTIVE_LABEL: None}}, reason="finished: not active"
            )
        ttl = crr.spec.ttl_seconds_after_finished
        if ttl is None:
            return ControllerPlan(reason="finished, no TTL")
        done = _time(completion) if isinstance(completion, str) else completion
        left = ttl - (now - done).total_seconds() if isinstance(done, dt.datetime) else 0.0
        if left <= 0:
            return ControllerPlan(delete=True, reason="ttlSecondsAfterFinished passed")
        return ControllerPlan(requeue_after=left, reason="waiting for ttlSecondsAfterFinished")

    pod_meta = (pod or {}).get("metadata") or {}
    if pod is None or pod_meta.get("deletionTimestamp") or pod_meta.get("uid") != labels.get(POD_UID_LABEL):
        return ControllerPlan(complete_message="pod has gone", reason="pod has gone")

    created = _time(meta.get("creationTimestamp")) or now
    waits: list[float] = []
    if not crr.status.phase:
        left = RESPONSE_TIMEOUT_SECONDS - (now - created).total_seconds()
        if left <= 0:
            return ControllerPlan(
                complete_message="daemon has not responded for a long time", reason="no response"
            )
        waits.append(left)
    deadline = crr.spec.active_deadline_seconds
    if deadline is not None:
        left = deadline - (now - created).total_seconds()
        if left <= 0:
            return ControllerPlan(
                complete_message="recreating has exceeded the activeDeadlineSeconds", reason="deadline"
            )
        waits.append(left)
    requeue = min(waits) if waits else None
    if crr.status.phase != "Recreating":
        return ControllerPlan(requeue_after=requeue, reason="not recreating yet")

    synced = sync_container_statuses(crr, pod)
    if annotations.get(SYNC_CONTAINER_STATUSES_KEY) != synced:
        return ControllerPlan(
            metadata_patch={"annotations": {SYNC_CONTAINER_STATUSES_KEY: synced}}, reason="pod status changed"
        )
    if crr.spec.strategy.unready_grace_period_seconds is not None and not annotations.get(
        UNREADY_ACQUIRED_KEY
    ):
        if readiness.has_gate(pod):
            if readiness.FINALIZER not in (meta.get("finalizers") or ()):
                return ControllerPlan(
                    metadata_patch=_finalizers_patch(crr, add=True), reason="hold finalizer"
                )
            patch = readiness.not_ready_patch(pod, _crr_key(crr), True, rfc3339(now))
            if patch is not None:
                return ControllerPlan(pod_status_patch=patch, reason="pod not ready for the grace period")
        return ControllerPlan(
            metadata_patch={"annotations": {UNREADY_ACQUIRED_KEY: rfc3339(now)}}, reason="unready acquired"
        )
    return ControllerPlan(requeue_after=requeue, reason="recreating")
