"""A BroadcastJob's pods: the one it creates for a node, and how it reads the ones it has.

Pure. :func:`new_pod` builds a pod as kruise v1.9.1 does (``GetPodFromTemplate`` with the job's
labels added to the template, ``generateName`` ``<job>-``, the job as controller owner) and binds
it to its node the default way (``--assign-bcj-pods-by-scheduler=true``): the required node
affinity is replaced by one term ``matchFields metadata.name In [node]`` and the scheduler binds
it. :func:`assigned_node` reads a pod's node back (``spec.nodeName``, else that term).
:func:`classify` sorts pods into active / failed / succeeded as kruise's ``filterPods`` does.
Called by :mod:`workers.broadcastjob.planner`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

JsonObject = dict[str, Any]

JOB_NAME_LABEL = "broadcastjob-name"
CONTROLLER_UID_LABEL = "broadcastjob-controller-uid"
API_VERSION = "apps.kruise.io/v1beta1"
KIND = "BroadcastJob"


def job_labels(name: str, uid: str) -> dict[str, str]:
    """The labels kruise puts on every pod of the job (and lists them by)."""
    return {JOB_NAME_LABEL: name, CONTROLLER_UID_LABEL: uid}


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def owned_by(pod: Mapping[str, Any], uid: str) -> bool:
    """The pod's controller owner is the BroadcastJob ``uid``."""
    for ref in _meta(pod).get("ownerReferences") or ():
        if isinstance(ref, Mapping) and ref.get("controller") is True:
            return ref.get("kind") == KIND and ref.get("uid") == uid
    return False


def deleting(obj: Mapping[str, Any]) -> bool:
    return bool(_meta(obj).get("deletionTimestamp"))


def assigned_node(pod: Mapping[str, Any]) -> str:
    """kruise's ``getAssignedNode``: ``spec.nodeName``, else the single-node ``metadata.name In``
    requirement of the required node affinity, else ``""``."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in required.get("nodeSelectorTerms") or ():
        for req in (term or {}).get("matchFields") or ():
            values = req.get("values") or []
            if req.get("key") == "metadata.name" and req.get("operator") == "In" and len(values) == 1:
                return str(values[0])
    return ""


def bind_to_node(spec: JsonObject, node: str) -> None:
    """``ReplaceDaemonSetPodNodeNameNodeAffinity``: the required node affinity becomes one term
    naming the node (preferred terms and pod (anti-)affinity are kept)."""
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
    affinity = spec.setdefault("affinity", {}) or {}
    spec["affinity"] = affinity
    node_affinity = affinity.setdefault("nodeAffinity", {}) or {}
    affinity["nodeAffinity"] = node_affinity
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, dict):
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [term]}
    else:
        required["nodeSelectorTerms"] = [term]


def template_with_labels(template: Mapping[str, Any], name: str, uid: str) -> JsonObject:
    """The job's template with its pod labels added (``addLabelToPodTemplate``)."""
    out = copy.deepcopy(dict(template))
    meta = out.setdefault("metadata", {}) or {}
    out["metadata"] = meta
    meta["labels"] = {**(meta.get("labels") or {}), **job_labels(name, uid)}
    return out


def mock_pod(template: Mapping[str, Any], namespace: str, node: str) -> JsonObject:
    """kruise's ``NewMockPod``: the template as a pod pinned by ``nodeName`` to ``node``."""
    spec = copy.deepcopy(dict(template.get("spec") or {}))
    spec["nodeName"] = node
    meta = dict(template.get("metadata") or {})
    meta["namespace"] = namespace
    return {"metadata": meta, "spec": spec}


def new_pod(template: Mapping[str, Any], job: Mapping[str, Any], node: str) -> JsonObject:
    """The pod kruise creates for ``node`` from the (labelled) template."""
    job_meta = _meta(job)
    name, uid = str(job_meta.get("name", "")), str(job_meta.get("uid", ""))
    source = template_with_labels(template, name, uid)
    source_meta = source.get("metadata") or {}
    meta: JsonObject = {
        "generateName": f"{name}-",
        "namespace": str(job_meta.get("namespace", "")),
        "labels": dict(source_meta.get("labels") or {}),
        "ownerReferences": [
            {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": name,
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if source_meta.get("annotations"):
        meta["annotations"] = dict(source_meta["annotations"])
    if source_meta.get("finalizers"):
        meta["finalizers"] = list(source_meta["finalizers"])
    spec = copy.deepcopy(dict(source.get("spec") or {}))
    bind_to_node(spec, node)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def _restarts(pod: Mapping[str, Any]) -> int:
    status = pod.get("status") or {}
    return sum(
        int(s.get("restartCount") or 0)
        for key in ("initContainerStatuses", "containerStatuses")
        for s in status.get(key) or ()
    )


def failed_by_restarts(restart_limit: int, pod: Mapping[str, Any]) -> bool:
    """``isPodFailed``: a ``restartPolicy: OnFailure`` pod restarted more than the limit."""
    return (pod.get("spec") or {}).get("restartPolicy") == "OnFailure" and _restarts(pod) > restart_limit


def phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_active(pod: Mapping[str, Any]) -> bool:
    """``IsPodActive``: not Succeeded, not Failed, not being deleted."""
    return phase(pod) not in ("Succeeded", "Failed") and not deleting(pod)


@dataclass(frozen=True)
class PodsByOutcome:
    active: tuple[JsonObject, ...]
    failed: tuple[JsonObject, ...]
    succeeded: tuple[JsonObject, ...]


def classify(restart_limit: int, pods: tuple[JsonObject, ...]) -> PodsByOutcome:
    """``filterPods``: Succeeded, Failed (or restarted past the limit), else active unless deleting."""
    active: list[JsonObject] = []
    failed: list[JsonObject] = []
    succeeded: list[JsonObject] = []
    for pod in pods:
        if phase(pod) == "Succeeded":
            succeeded.append(pod)
        elif phase(pod) == "Failed":
            failed.append(pod)
        elif not deleting(pod):
            (failed if failed_by_restarts(restart_limit, pod) else active).append(pod)
    return PodsByOutcome(tuple(active), tuple(failed), tuple(succeeded))
