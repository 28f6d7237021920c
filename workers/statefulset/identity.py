"""A stateful pod's identity and storage: the pod and PVC bodies kruise builds for one ordinal.

``new_pod`` follows ``newStatefulSetPod``: the template's labels, annotations, finalizers and
spec (``GetPodFromTemplate``), the set as controller owner, name ``<set>-<ordinal>``, labels
``statefulset.kubernetes.io/pod-name`` and (gate ``PodIndexLabel``) ``apps.kubernetes.io/pod-index``,
``hostname`` = the pod name and ``subdomain`` = ``serviceName`` (``initIdentity``), one volume per
volume claim template pointing at ``<claim>-<set>-<ordinal>`` (``updateStorage``), the
``controller-revision-hash`` label and the lifecycle state label with its timestamp.
``claims_for`` builds the PVCs (``getPersistentVolumeClaims``: the template, that name, the
selector's matchLabels merged into its labels). ``identity_matches`` / ``storage_matches`` are
kruise's checks of an existing pod. Pure; used by the planner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from schemas.kruise.pub import (
    CONTROLLER_REVISION_HASH_LABEL,
    LIFECYCLE_STATE_LABEL,
    LIFECYCLE_TIMESTAMP_ANNOTATION,
)
from schemas.kruise.statefulset import POD_INDEX_LABEL, POD_NAME_LABEL
from workers.podmechanics.kube_json import (
    JsonDict,
    JsonObject,
    mapping,
    name_of,
    objects,
    strings,
    text,
    thaw_object,
)
from workers.podmechanics.ownership import owner_reference
from workers.statefulset.ordinals import claim_name, parent_and_ordinal, pod_name

STATEFULSET_API_VERSION = "apps.kruise.io/v1beta1"
STATEFULSET_KIND = "StatefulSet"


def set_reference(name: str, uid: str, *, controller: bool) -> JsonDict:
    """An ownerReference to the set: the controller reference of its pods and revisions, or a
    PVC's plain owner (retention policy); ``podmechanics.ownership.owner_reference``."""
    metadata = {"name": name, "uid": uid}
    return owner_reference(STATEFULSET_API_VERSION, STATEFULSET_KIND, metadata, controller=controller)


def claim_volumes(claim_templates: Sequence[JsonObject], set_name: str, ordinal: int) -> list[JsonDict]:
    return [
        {
            "name": name_of(t),
            "persistentVolumeClaim": {"claimName": claim_name(name_of(t), set_name, ordinal)},
        }
        for t in claim_templates
    ]


def with_storage(
    spec: JsonObject, claim_templates: Sequence[JsonObject], set_name: str, ordinal: int
) -> JsonDict:
    """``updateStorage``: claim volumes first, then the template's other volumes."""
    body = thaw_object(spec)
    names = {name_of(t) for t in claim_templates}
    kept = [thaw_object(v) for v in objects(spec, "volumes") if text(v, "name") not in names]
    volumes = claim_volumes(claim_templates, set_name, ordinal) + kept
    if volumes:
        body["volumes"] = volumes
    return body


def new_pod(
    *,
    set_name: str,
    namespace: str,
    set_uid: str,
    service_name: str,
    template: JsonObject,
    claim_templates: Sequence[JsonObject],
    ordinal: int,
    revision: str,
    lifecycle_state: str,
    timestamp: str,
    pod_index_label: bool,
) -> JsonDict:
    """The pod kruise creates for ``ordinal`` from ``template`` (a revision's template)."""
    name = pod_name(set_name, ordinal)
    template_meta = mapping(template, "metadata")
    labels = {str(k): str(v) for k, v in mapping(template_meta, "labels").items()}
    labels[POD_NAME_LABEL] = name
    if pod_index_label:
        labels[POD_INDEX_LABEL] = str(ordinal)
    labels[CONTROLLER_REVISION_HASH_LABEL] = revision
    labels[LIFECYCLE_STATE_LABEL] = lifecycle_state
    annotations = {str(k): str(v) for k, v in mapping(template_meta, "annotations").items()}
    annotations[LIFECYCLE_TIMESTAMP_ANNOTATION] = timestamp
    metadata: JsonDict = {
        "name": name,
        "namespace": namespace,
        "labels": labels,
        "annotations": annotations,
        "ownerReferences": [set_reference(set_name, set_uid, controller=True)],
    }
    finalizers = strings(template_meta, "finalizers")
    if finalizers:
        metadata["finalizers"] = list(finalizers)
    spec = with_storage(mapping(template, "spec"), claim_templates, set_name, ordinal)
    spec["hostname"] = name
    if service_name:
        spec["subdomain"] = service_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def claims_for(
    claim_templates: Sequence[JsonObject],
    *,
    set_name: str,
    namespace: str,
    match_labels: Mapping[str, str],
    ordinal: int,
    owners: Sequence[JsonObject] = (),
) -> tuple[JsonDict, ...]:
    """The PVCs of ``ordinal`` (``getPersistentVolumeClaims``), with ``owners`` as ownerReferences."""
    out: list[JsonDict] = []
    for template in claim_templates:
        body = thaw_object(template)
        body.pop("status", None)
        metadata = thaw_object(body.get("metadata"))
        metadata["name"] = claim_name(name_of(template), set_name, ordinal)
        metadata["namespace"] = namespace
        metadata["labels"] = {
            **{str(k): str(v) for k, v in mapping(metadata, "labels").items()},
            **match_labels,
        }
        if owners:
            metadata["ownerReferences"] = [dict(o) for o in owners]
        body["metadata"] = metadata
        body["apiVersion"] = "v1"
        body["kind"] = "PersistentVolumeClaim"
        out.append(body)
    return tuple(out)


def identity_matches(set_name: str, namespace: str, pod: JsonObject) -> bool:
    """``identityMatches``: name, namespace and the pod-name label agree with the ordinal."""
    parent, ordinal = parent_and_ordinal(name_of(pod))
    name = name_of(pod)
    return (
        ordinal >= 0
        and parent == set_name
        and name == pod_name(set_name, ordinal)
        and text(pod, "metadata", "namespace") == namespace
        and mapping(pod, "metadata", "labels").get(POD_NAME_LABEL) == name
    )


def storage_matches(claim_templates: Sequence[JsonObject], set_name: str, pod: JsonObject) -> bool:
    """``storageMatches``: every claim template has its volume, pointing at this ordinal's PVC."""
    ordinal = parent_and_ordinal(name_of(pod))[1]
    if ordinal < 0:
        return False
    volumes = {text(v, "name"): v for v in objects(pod, "spec", "volumes")}
    for template in claim_templates:
        volume = volumes.get(name_of(template))
        if volume is None:
            return False
        if text(volume, "persistentVolumeClaim", "claimName") != claim_name(
            name_of(template), set_name, ordinal
        ):
            return False
    return True
