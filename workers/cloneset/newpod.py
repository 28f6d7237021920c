"""New CloneSet pods and their PVCs, built from a revision's template.

Pods are named ``<cloneset>-<instance id>``; the id (5 characters of kruise's
``rand.String`` alphabet) is also the ``apps.kruise.io/cloneset-instance-id`` label on the
pod and its PVCs. Ids come from PVCs left behind by a dead pod first (PVC reuse), then from
:class:`SeededNames`, the planner's only source of randomness: a seed drawn by the shell,
so a plan is a pure function of its inputs. Called by ``scale``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from schemas.kruise.cloneset import CLONESET_INSTANCE_ID_LABEL, CloneSet
from schemas.kruise.pub import (
    CONTROLLER_REVISION_HASH_LABEL,
    INPLACE_UPDATE_READY_CONDITION,
    KRUISE_POD_READY_CONDITION,
    LIFECYCLE_STATE_LABEL,
    LIFECYCLE_TIMESTAMP_ANNOTATION,
    POD_TEMPLATE_HASH_LABEL,
)
from workers.cloneset.actions import NewPod
from workers.cloneset.clonepods import instance_id
from workers.cloneset.owner import cloneset_name, cloneset_namespace, controller_reference
from workers.podmechanics.kube_json import (
    JsonDict,
    JsonObject,
    annotations_of,
    labels_of,
    mapping,
    name_of,
    objects,
    strings,
    text,
    thaw_object,
)
from workers.podmechanics.pods import short_hash

INSTANCE_ID_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
INSTANCE_ID_LENGTH = 5


@dataclass(frozen=True)
class SeededNames:
    """Deterministic instance ids from a seed (the shell passes fresh entropy each reconcile)."""

    seed: int

    def instance_ids(self, count: int, taken: Collection[str]) -> tuple[str, ...]:
        ids: list[str] = []
        counter = 0
        while len(ids) < count:
            digest = hashlib.blake2b(f"{self.seed}:{counter}".encode(), digest_size=8).digest()
            counter += 1
            candidate = "".join(
                INSTANCE_ID_ALPHABET[b % len(INSTANCE_ID_ALPHABET)] for b in digest[:INSTANCE_ID_LENGTH]
            )
            if candidate not in taken and candidate not in ids:
                ids.append(candidate)
        return tuple(ids)


@dataclass(frozen=True)
class InstanceIds:
    ready: tuple[str, ...]
    """Ids to create pods with now: PVCs to reuse first, then fresh ids."""
    waiting: int
    """Slots held back: their PVC's id still belongs to a pod that is going away."""


def available_instance_ids(
    count: int,
    pods: Sequence[JsonObject],
    claims: Sequence[JsonObject],
    names: SeededNames,
    going: Sequence[JsonObject] = (),
) -> InstanceIds:
    """Ids of PVCs whose pod is gone first (sorted), then fresh ones (``getOrGenAvailableIDs``).

    ``going`` are pods that still exist but no longer count (terminating, finished): a PVC of
    theirs is reused once the pod is gone (the new pod takes its name), so that slot waits
    instead of failing to create a same-named pod or giving up the volume.
    """
    held = {instance_id(p) for p in going} - {""}
    existing = ({instance_id(c) for c in claims} | {instance_id(p) for p in pods} | held) - {""}
    in_use = {instance_id(p) for p in pods}
    free = sorted({instance_id(c) for c in claims} - in_use - {""})
    slots = free[:count]
    ready = [pod_id for pod_id in slots if pod_id not in held]
    waiting = len(slots) - len(ready)
    return InstanceIds(tuple(ready) + names.instance_ids(count - len(slots), existing), waiting)


def write_revision_labels(labels: dict[str, str], revision: str, *, short_hash_label: bool) -> None:
    """Set ``controller-revision-hash`` (name, or hash with CloneSetShortHash) and ``pod-template-hash``."""
    labels[CONTROLLER_REVISION_HASH_LABEL] = short_hash(revision) if short_hash_label else revision
    labels[POD_TEMPLATE_HASH_LABEL] = short_hash(revision)


def claim_name(template_name: str, cloneset: str, pod_instance_id: str) -> str:
    return f"{template_name}-{cloneset}-{pod_instance_id}"


def claims_for(cloneset: CloneSet, pod_instance_id: str) -> tuple[JsonDict, ...]:
    """The PVCs a pod with this instance id uses (``GetPersistentVolumeClaims``)."""
    claims: list[JsonDict] = []
    for template in cloneset.spec.volume_claim_templates or ():
        claim = thaw_object(template)
        metadata = thaw_object(claim.get("metadata"))
        labels = dict(labels_of(claim))
        labels.update(cloneset.spec.selector.match_labels or {})
        labels[CLONESET_INSTANCE_ID_LABEL] = pod_instance_id
        metadata.update(
            name=claim_name(name_of(template), cloneset_name(cloneset), pod_instance_id),
            namespace=cloneset_namespace(cloneset),
            labels=labels,
            ownerReferences=[controller_reference(cloneset)],
        )
        claim.update(apiVersion="v1", kind="PersistentVolumeClaim", metadata=metadata)
        claim.pop("status", None)
        claims.append(claim)
    return tuple(claims)


def build_pod(
    cloneset: CloneSet,
    template: JsonObject,
    revision: str,
    pod_instance_id: str,
    *,
    timestamp: str,
    short_hash_label: bool,
) -> JsonDict:
    """A pod from ``template`` (``GetPodFromTemplate`` + kruise's additions).

    Its lifecycle state is ``PreparingNormal``, as kruise creates every pod; ``refresh`` moves it
    to ``Normal`` once it is scheduled (no ``preNormal`` hook) or all hooked. The one exception,
    where kruise's outcome is the same: a template that names its node (``spec.nodeName``) and no
    ``preNormal`` hook starts ``Normal``, since kruise's next pass would move it at once (its
    ``HasPodScheduled`` is "nodeName set"); this saves that write.
    """
    labels = dict(labels_of(template))
    write_revision_labels(labels, revision, short_hash_label=short_hash_label)
    labels[CLONESET_INSTANCE_ID_LABEL] = pod_instance_id
    lifecycle = cloneset.spec.lifecycle
    hooked = lifecycle is not None and lifecycle.pre_normal is not None
    bound = bool(text(template, "spec", "nodeName"))
    labels[LIFECYCLE_STATE_LABEL] = "Normal" if bound and not hooked else "PreparingNormal"
    annotations = dict(annotations_of(template))
    annotations[LIFECYCLE_TIMESTAMP_ANNOTATION] = timestamp
    metadata: JsonDict = {
        "name": f"{cloneset_name(cloneset)}-{pod_instance_id}",
        "generateName": f"{cloneset_name(cloneset)}-",
        "namespace": cloneset_namespace(cloneset),
        "labels": labels,
        "annotations": annotations,
        "ownerReferences": [controller_reference(cloneset)],
    }
    template_finalizers = strings(template, "metadata", "finalizers")
    if template_finalizers:
        metadata["finalizers"] = list(template_finalizers)
    spec = thaw_object(mapping(template, "spec"))
    gates = [dict(g) for g in objects(template, "spec", "readinessGates")]
    # InPlaceUpdateReady as kruise's CloneSet adds it; KruisePodReady as kruise's pod webhook adds
    # it to every pod a kruise workload owns (markPodNotReady needs it; refresh sets it True).
    for gate in (INPLACE_UPDATE_READY_CONDITION, KRUISE_POD_READY_CONDITION):
        if not any(g.get("conditionType") == gate for g in gates):
            gates.append({"conditionType": gate})
    spec["readinessGates"] = gates
    claims = claims_for(cloneset, pod_instance_id)
    if claims:
        template_names = [name_of(t) for t in cloneset.spec.volume_claim_templates or ()]
        volumes: list[object] = [
            {"name": tname, "persistentVolumeClaim": {"claimName": name_of(claim)}}
            for tname, claim in zip(template_names, claims, strict=True)
        ]
        volumes.extend(
            dict(v) for v in objects(template, "spec", "volumes") if v.get("name") not in template_names
        )
        spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def new_pod(
    cloneset: CloneSet,
    template: JsonObject,
    revision: str,
    pod_instance_id: str,
    existing_claims: Collection[str],
    *,
    timestamp: str,
    short_hash_label: bool,
) -> NewPod:
    """The pod, the PVCs it needs that do not exist yet, and its readiness gates' first conditions.

    ``InPlaceUpdateReady`` and ``KruisePodReady`` start True, as kruise's ``inplaceupdate.Refresh``
    and pod-readiness controller set them on a new pod; writing them right after the create
    (not a reconcile later) lets the pod turn Ready as soon as its containers run.
    """
    pod = build_pod(
        cloneset, template, revision, pod_instance_id, timestamp=timestamp, short_hash_label=short_hash_label
    )
    missing = tuple(c for c in claims_for(cloneset, pod_instance_id) if name_of(c) not in existing_claims)
    gates = {text(g, "conditionType") for g in objects(pod, "spec", "readinessGates")}
    ready = tuple(
        {"type": gate, "status": "True", "lastTransitionTime": timestamp}
        for gate in (INPLACE_UPDATE_READY_CONDITION, KRUISE_POD_READY_CONDITION)
        if gate in gates
    )
    return NewPod(pod=pod, claims=missing, ready_conditions=ready)
