"""``persistentVolumeClaimRetentionPolicy``: which owners a stateful pod's PVCs should carry.

kruise (gate ``StatefulSetAutoDeletePVC``) expresses the policy through ownerReferences and
lets the garbage collector do the deleting (``updateClaimOwnerRefForSetAndPod``):

==============  ==============  =====================================================
whenScaled      whenDeleted     owners of the PVC
==============  ==============  =====================================================
Retain          Retain          neither the set nor the pod
Retain          Delete          the set
Delete          Retain          the pod, only once the pod is scaled away
Delete          Delete          the pod once scaled away, else the set
==============  ==============  =====================================================

Other owners are kept. ``desired_owners`` returns the owner list a PVC should have; the planner
patches a PVC whose list differs (``claimOwnerMatchesSetAndPod`` is exactly "nothing to change").
Pure; used by the planner.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.kruise.statefulset import PersistentVolumeClaimRetentionPolicy
from workers.podmechanics.kube_json import JsonDict, JsonObject, as_text
from workers.podmechanics.ownership import owner_reference
from workers.statefulset.identity import set_reference


def pod_reference(name: str, uid: str) -> JsonDict:
    return owner_reference("v1", "Pod", {"name": name, "uid": uid}, controller=False)


def _without(refs: list[JsonDict], uid: str) -> list[JsonDict]:
    return [r for r in refs if as_text(r.get("uid")) != uid]


def _with(refs: list[JsonDict], ref: JsonDict) -> list[JsonDict]:
    if any(as_text(r.get("uid")) == ref["uid"] for r in refs):
        return refs
    return [*refs, ref]


def desired_owners(
    current: Sequence[JsonObject],
    policy: PersistentVolumeClaimRetentionPolicy | None,
    *,
    set_name: str,
    set_uid: str,
    pod_name: str,
    pod_uid: str,
    scaled_down: bool,
) -> list[JsonDict]:
    """The ownerReferences the PVC should carry (``current`` with the set / pod refs fixed)."""
    when_scaled = policy.when_scaled if policy is not None else "Retain"
    when_deleted = policy.when_deleted if policy is not None else "Retain"
    refs = [dict(r) for r in current]
    owner_set = set_reference(set_name, set_uid, controller=False)
    owner_pod = pod_reference(pod_name, pod_uid)
    keep_set = when_deleted == "Delete" and not (when_scaled == "Delete" and scaled_down)
    keep_pod = when_scaled == "Delete" and scaled_down and bool(pod_uid)
    refs = _with(refs, owner_set) if keep_set else _without(refs, set_uid)
    if pod_uid:
        refs = _with(refs, owner_pod) if keep_pod else _without(refs, pod_uid)
    return refs


def new_claim_owners(
    policy: PersistentVolumeClaimRetentionPolicy | None, *, set_name: str, set_uid: str
) -> list[JsonDict]:
    """Owners of a PVC created for a pod in range: the set when whenDeleted is Delete."""
    return desired_owners(
        (), policy, set_name=set_name, set_uid=set_uid, pod_name="", pod_uid="", scaled_down=False
    )
