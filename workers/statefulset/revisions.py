"""The Advanced StatefulSet as the owner of its ControllerRevisions (``getStatefulSetRevisions``).

kruise's statefulset ``newRevision`` writes the shape the shared revision mechanics build
(``workers.podmechanics.revisions``: the template as a ``$patch: replace`` strategic-merge patch,
the template's labels plus ``controller.kubernetes.io/hash``, the set's annotations, the name
``<set>-<hash>``), so the set only describes itself (:func:`revision_owner`) and decides with
the shared ``decide_revisions``. What is the StatefulSet's own: adopting orphan revisions its
selector matches (``AdoptOrphanRevisions``). Pure; used by the planner.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.kruise.statefulset import StatefulSet
from workers.podmechanics.kube_json import JsonDict, JsonObject, controller_ref, name_of, objects
from workers.podmechanics.revisions import RevisionDecision, RevisionOwner, decide_revisions, owned_revisions
from workers.statefulset.identity import set_reference


def revision_owner(sts: StatefulSet, name: str, uid: str) -> RevisionOwner:
    return RevisionOwner(
        metadata=sts.metadata,
        reference=set_reference(name, uid, controller=True),
        template=sts.spec.template,
        collision_count=sts.status.collision_count or 0,
        current_revision=sts.status.current_revision,
    )


def set_revisions(sts: StatefulSet, name: str, uid: str, observed: Sequence[JsonObject]) -> RevisionDecision:
    """The current and update revisions, and the writes that make them exist."""
    owned = owned_revisions(uid, observed)
    return decide_revisions(revision_owner(sts, name, uid), owned, {name_of(r): r for r in observed})


def orphan_adoptions(name: str, uid: str, observed: Sequence[JsonObject]) -> list[tuple[str, JsonDict]]:
    """(revision, merge patch) for each orphan revision the selector matched: the set controls it now."""
    out: list[tuple[str, JsonDict]] = []
    for revision in observed:
        if controller_ref(revision) is None:
            owners = [
                *objects(revision, "metadata", "ownerReferences"),
                set_reference(name, uid, controller=True),
            ]
            out.append((name_of(revision), {"metadata": {"ownerReferences": owners}}))
    return out
