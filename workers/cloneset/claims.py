"""The CloneSet's PVCs: which are its own, and the ``disablePVCReuse`` clean-up.

By default a PVC whose pod is gone stays, and the next pod created reuses its instance id
(and so the volume). With ``scaleStrategy.disablePVCReuse`` such PVCs are removed instead:
one still referenced by a finished pod is handed over to that pod (garbage-collected with
it), any other is deleted (kruise ``cleanupPVCs``). Pure; called by ``planner``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from workers.cloneset.actions import Action, DeleteClaim, PatchClaim, warning
from workers.cloneset.clonepods import instance_id, pod_instance_id
from workers.podmechanics.kube_json import JsonObject, field, name_of, objects, text, uid_of
from workers.podmechanics.ownership import is_owned_by
from workers.podmechanics.pods import PodView


def owned_claims(pvcs: Sequence[JsonObject], cloneset_uid: str) -> tuple[JsonObject, ...]:
    """PVCs the CloneSet controls and that are not being deleted."""
    return tuple(
        c for c in pvcs if is_owned_by(c, cloneset_uid) and field(c, "metadata", "deletionTimestamp") is None
    )


@dataclass(frozen=True)
class ClaimCleanup:
    actions: tuple[Action, ...]
    kept: tuple[JsonObject, ...]
    """PVCs of active pods: the ones the planner still works with."""


def clean_up_claims(
    claims: Sequence[JsonObject],
    active_pods: Sequence[PodView],
    inactive_pods: Sequence[PodView],
    cloneset_uid: str,
) -> ClaimCleanup:
    active_ids = {pod_instance_id(p) for p in active_pods} - {""}
    inactive = {pod_instance_id(p): p for p in inactive_pods if pod_instance_id(p)}
    actions: list[Action] = []
    kept: list[JsonObject] = []
    for claim in claims:
        claim_id = instance_id(claim)
        if claim_id in active_ids:
            kept.append(claim)
        elif claim_id in inactive:
            pod = inactive[claim_id]
            pod_ref = {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": pod.name,
                "uid": pod.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
            others = [
                dict(ref)
                for ref in objects(claim, "metadata", "ownerReferences")
                if ref.get("uid") != cloneset_uid and ref.get("uid") != pod.uid
            ]
            patch = {"metadata": {"ownerReferences": [*others, pod_ref]}}
            rv = text(claim, "metadata", "resourceVersion") or None
            # kruise's updateOnePVC (cloneset_controller.go:721-727)
            failure = warning("FailedUpdate", f"failed to update PVC {name_of(claim)}: {{error}}")
            actions.append(PatchClaim(name_of(claim), patch, resource_version=rv, failure_event=failure))
        else:
            failure = warning("FailedDelete", f"failed to clean up PVC {name_of(claim)}: {{error}}")
            actions.append(DeleteClaim(name_of(claim), uid_of(claim), failure_event=failure))
    return ClaimCleanup(tuple(actions), tuple(kept))
