"""ControllerRevisions of an Advanced StatefulSet (``getStatefulSetRevisions``, ``newRevision``).

A revision records the pod template as kruise's ``getPatch`` does (``{"spec": {"template":
{..., "$patch": "replace"}}}``, the template as Go encodes it), labelled with the template's
labels and ``controller.kubernetes.io/hash``, annotated with the set's annotations, named
``<set>-<hash>`` with Kubernetes' ``HashControllerRevision`` over data and collisionCount. The
encoding, hashing and history truncation are the shared revision mechanics
(``workers.cloneset.revisions`` until they move to the shared pod-mechanics package); what is
the StatefulSet's own is here: which revision is current / update, rollback by renumbering an
equal older revision, a name collision bumping ``collisionCount``. Pure; used by the planner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workers.cloneset.revisions import (
    HASH_LABEL,
    hash_revision,
    revision_data,
    revision_name,
    same_template,
    sort_revisions,
)
from workers.podmechanics.kube_json import JsonDict, JsonObject, controller_ref, integer, labels_of, name_of
from workers.statefulset.identity import set_reference


@dataclass(frozen=True)
class SetRevisions:
    current: JsonObject
    update: JsonObject
    collision_count: int
    to_create: JsonObject | None = None
    """A new revision to create (it is ``update``)."""
    to_renumber: tuple[str, int] | None = None
    """Rollback: an older revision equal to the template becomes the newest (name, revision)."""
    to_adopt: tuple[str, ...] = ()
    """Orphan revisions the selector matches (``AdoptOrphanRevisions``)."""


def owned_revisions(set_uid: str, revisions: Sequence[JsonObject]) -> tuple[JsonObject, ...]:
    """Revisions the set controls or nobody controls, sorted (``ListControllerRevisions``)."""
    kept = []
    for rev in revisions:
        ref = controller_ref(rev)
        if ref is None or ref.get("uid") == set_uid:
            kept.append(rev)
    return sort_revisions(kept)


def new_revision(
    *,
    set_name: str,
    namespace: str,
    set_uid: str,
    set_annotations: Mapping[str, str],
    template: JsonObject,
    number: int,
    collision_count: int,
) -> JsonDict:
    data = revision_data(template)
    hash_value = hash_revision(data, collision_count)
    labels = {**labels_of(template), HASH_LABEL: hash_value}
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": revision_name(set_name, hash_value),
            "namespace": namespace,
            "labels": labels,
            "annotations": dict(set_annotations),
            "ownerReferences": [set_reference(set_name, set_uid, controller=True)],
        },
        "data": data,
        "revision": number,
    }


def decide_revisions(
    *,
    set_name: str,
    namespace: str,
    set_uid: str,
    set_annotations: Mapping[str, str],
    template: JsonObject,
    status_current: str,
    status_collision_count: int,
    observed: Sequence[JsonObject],
) -> SetRevisions:
    """The current and update revisions, and the revision writes that make them exist."""
    owned = owned_revisions(set_uid, observed)
    by_name = {name_of(r): r for r in observed}
    collision_count = status_collision_count
    number = integer(owned[-1], "revision") + 1 if owned else 1
    equal = [r for r in owned if same_template(r, template)]
    to_create: JsonObject | None = None
    to_renumber: tuple[str, int] | None = None
    if equal and equal[-1] is owned[-1]:
        update: JsonObject = owned[-1]
    elif equal:
        update = {**equal[-1], "revision": number}
        to_renumber = (name_of(equal[-1]), number)
    else:

        def candidate_for(count: int) -> JsonDict:
            return new_revision(
                set_name=set_name,
                namespace=namespace,
                set_uid=set_uid,
                set_annotations=set_annotations,
                template=template,
                number=number,
                collision_count=count,
            )

        candidate = candidate_for(collision_count)
        while (clash := by_name.get(name_of(candidate))) is not None and not same_template(clash, template):
            collision_count += 1
            candidate = candidate_for(collision_count)
        update = clash if clash is not None else candidate
        to_create = None if clash is not None else candidate
    current = next((r for r in owned if name_of(r) == status_current), update)
    orphans = tuple(name_of(r) for r in owned if controller_ref(r) is None)
    return SetRevisions(current, update, collision_count, to_create, to_renumber, orphans)
