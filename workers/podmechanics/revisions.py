"""ControllerRevisions of a workload: hashing, the current / update revision, history limits.

A revision stores the pod template as a strategic-merge patch
(``{"spec": {"template": {..., "$patch": "replace"}}}``), named ``<owner>-<hash>`` where the
hash is Kubernetes' ``HashControllerRevision``: FNV-32 of the patch bytes and the
collisionCount, spelled with ``rand.SafeEncodeString``; CloneSet and Advanced StatefulSet write
the same shape (kruise ``revision.NewRevision`` / statefulset ``newRevision``: template labels
plus ``controller.kubernetes.io/hash``, the owner's annotations). A revision records the template
as Go encodes it (``templates.go_encoded_template``: no ``$patch`` keys, Go's always-written zero
values), so a revision of a template kruise stored gets kruise's name; revisions are compared by
their canonical templates (``templates.canonical_template``), so revisions written by OpenKruise
itself are found equal and adopted as they are, and ``resources: {}`` or a ``$patch`` left in
``spec.template`` make no new revision. A workload describes itself as a :class:`RevisionOwner`
(its metadata, controller reference, template, collisionCount, currentRevision and any
annotations of its own every revision carries). Pure; called by the workload planners.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from workers.podmechanics.gohash import fnv32, go_json, safe_encode
from workers.podmechanics.kube_json import (
    JsonDict,
    JsonObject,
    annotations_of,
    controller_ref,
    integer,
    labels_of,
    mapping,
    name_of,
)
from workers.podmechanics.pods import PodView, creation_time, is_at_revision
from workers.podmechanics.templates import PATCH_DIRECTIVE, canonical_template, go_encoded_template

HASH_LABEL = "controller.kubernetes.io/hash"


def revision_data(template: JsonObject) -> JsonDict:
    """The ``data`` of a revision recording ``template`` (Go-encoded, with kruise's replace marker)."""
    body = go_encoded_template(template)
    body[PATCH_DIRECTIVE] = "replace"
    return {"spec": {"template": body}}


def encode_data(data: JsonObject) -> bytes:
    """Canonical bytes of revision data as kruise hashes them: Go's ``json.Marshal`` of a map
    (sorted keys, compact, ``<``, ``>``, ``&``, U+2028, U+2029 escaped)."""
    return go_json(data, sort_keys=True)


def hash_revision(data: JsonObject, collision_count: int | None) -> str:
    """``HashControllerRevision``: FNV-32 over the data bytes and the collision count."""
    raw = encode_data(data)
    if collision_count is not None:
        raw += str(collision_count).encode()
    return safe_encode(str(fnv32(raw)))


def revision_name(parent: str, hash_value: str) -> str:
    return f"{parent[:223]}-{hash_value}"


def template_of(revision: JsonObject) -> JsonObject:
    """The pod template a revision records (without the ``$patch`` marker)."""
    return {k: v for k, v in mapping(revision, "data", "spec", "template").items() if k != PATCH_DIRECTIVE}


def same_template(revision: JsonObject, template: JsonObject) -> bool:
    return canonical_template(template_of(revision)) == canonical_template(template)


def sort_revisions(revisions: Sequence[JsonObject]) -> tuple[JsonObject, ...]:
    """By ``revision``, then creation time, then name (``history.SortControllerRevisions``)."""

    def key(rev: JsonObject) -> tuple[int, str, str]:
        created = creation_time(rev)
        return (integer(rev, "revision"), created.isoformat() if created else "", name_of(rev))

    return tuple(sorted(revisions, key=key))


def owned_revisions(owner_uid: str, revisions: Sequence[JsonObject]) -> tuple[JsonObject, ...]:
    """Revisions controlled by the owner or by nothing (``ListControllerRevisions``), sorted."""
    kept = []
    for rev in revisions:
        ref = controller_ref(rev)
        if ref is None or ref.get("uid") == owner_uid:
            kept.append(rev)
    return sort_revisions(kept)


@dataclass(frozen=True)
class RevisionOwner:
    """What a workload contributes to its revisions."""

    metadata: Mapping[str, object]
    """The workload's metadata (name, namespace; its annotations are copied onto each revision)."""
    reference: JsonObject
    """The controller ownerReference pointing at the workload."""
    template: JsonObject
    """``spec.template`` now."""
    collision_count: int
    """``status.collisionCount`` (0 when unset)."""
    current_revision: str | None
    """``status.currentRevision``."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Annotations of the workload's own that every revision of now carries, on top of the
    workload's (CloneSet: the volumeClaimTemplates hash); a revision rolled back to gets their
    values of now."""


@dataclass(frozen=True)
class RevisionDecision:
    """The revisions a reconcile works with, and the writes that make them true."""

    current: JsonObject
    """The revision of the last complete rollout."""
    update: JsonObject
    """The revision of the workload's template now."""
    collision_count: int
    to_create: JsonObject | None = None
    """A new revision to create (it is ``update``)."""
    to_renumber: tuple[str, int, Mapping[str, str] | None] | None = None
    """An older equal revision becomes the newest: (name, new revision number, the
    :attr:`RevisionOwner.annotations` that change on it, None when none do)."""


def new_revision(owner: RevisionOwner, number: int, collision_count: int) -> JsonDict:
    """The ControllerRevision recording the owner's template (``NewRevision`` / ``newRevision``)."""
    data = revision_data(owner.template)
    hash_value = hash_revision(data, collision_count)
    labels = dict(labels_of(owner.template))
    labels[HASH_LABEL] = hash_value
    annotations = dict(annotations_of({"metadata": owner.metadata}))
    annotations.update(owner.annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": revision_name(str(owner.metadata.get("name", "")), hash_value),
            "namespace": str(owner.metadata.get("namespace", "")),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [dict(owner.reference)],
        },
        "data": data,
        "revision": number,
    }


def decide_revisions(
    owner: RevisionOwner, owned: Sequence[JsonObject], all_names: Mapping[str, JsonObject]
) -> RevisionDecision:
    """``getActiveRevisions``: find or make the update revision, find the current one.

    ``owned`` are the owner's revisions sorted; ``all_names`` every observed revision by name,
    used to detect a hash collision (a same-named revision holding another template).
    """
    collision_count = owner.collision_count
    next_number = integer(owned[-1], "revision") + 1 if owned else 1
    template = owner.template
    equal = [rev for rev in owned if same_template(rev, template)]
    to_create: JsonObject | None = None
    to_renumber: tuple[str, int, Mapping[str, str] | None] | None = None
    if equal and equal[-1] is owned[-1]:
        update: JsonObject = owned[-1]
    elif equal:
        update = {**equal[-1], "revision": next_number}
        present = annotations_of(equal[-1])
        changed = {key: value for key, value in owner.annotations.items() if present.get(key) != value}
        if changed:
            # kruise gives the revision rolled back to the owner's annotations of now
            metadata = dict(mapping(equal[-1], "metadata"))
            metadata["annotations"] = {**present, **changed}
            update["metadata"] = metadata
        to_renumber = (name_of(equal[-1]), next_number, changed or None)
    else:
        candidate = new_revision(owner, next_number, collision_count)
        while (clash := all_names.get(name_of(candidate))) is not None and not same_template(clash, template):
            collision_count += 1
            candidate = new_revision(owner, next_number, collision_count)
        if clash is not None:
            update = clash
        else:
            update = candidate
            to_create = candidate
    current_name = owner.current_revision
    current = next((rev for rev in owned if name_of(rev) == current_name), update)
    return RevisionDecision(current, update, collision_count, to_create, to_renumber)


def revisions_to_delete(
    owned: Sequence[JsonObject],
    pods: Sequence[PodView],
    current: str,
    update: str,
    history_limit: int,
) -> tuple[str, ...]:
    """Non-live revisions beyond ``revisionHistoryLimit``, oldest first (``truncateHistory``)."""
    not_live = [
        name_of(rev)
        for rev in owned
        if name_of(rev) not in (current, update) and not any(is_at_revision(p, name_of(rev)) for p in pods)
    ]
    excess = len(not_live) - history_limit
    return tuple(not_live[:excess]) if excess > 0 else ()


def revision_number(revision: JsonObject) -> int:
    value = revision.get("revision")
    return value if isinstance(value, int) else 0
