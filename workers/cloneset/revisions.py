"""ControllerRevisions of a CloneSet: hashing, the current / update revision, history limits.

A revision stores the pod template as a strategic-merge patch
(``{"spec": {"template": {..., "$patch": "replace"}}}``), named ``<cloneset>-<hash>`` where the
hash is Kubernetes' ``HashControllerRevision``: FNV-32 of the patch bytes and the
collisionCount, spelled with ``rand.SafeEncodeString``. A revision records the template as Go
encodes it (``templates.go_encoded_template``: no ``$patch`` keys, Go's always-written zero
values), so a revision of a template kruise stored gets kruise's name; revisions are compared by
their canonical templates (``templates.canonical_template``), so revisions written by OpenKruise
itself are found equal and adopted as they are, and ``resources: {}`` or a ``$patch`` left in
``spec.template`` make no new revision. Pure; called by the ``planner``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from schemas.kruise.cloneset import CloneSet
from workers.cloneset.claimhash import VCT_HASH_ANNOTATION, claim_templates_hash, revision_claims_hash
from workers.cloneset.owner import controller_reference
from workers.cloneset.templates import PATCH_DIRECTIVE, canonical_template, go_encoded_template
from workers.podmechanics.kube_json import (
    JsonDict,
    JsonObject,
    annotations_of,
    controller_ref,
    field,
    integer,
    labels_of,
    mapping,
    name_of,
)
from workers.podmechanics.pods import PodView, creation_time, is_at_revision

HASH_LABEL = "controller.kubernetes.io/hash"
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def fnv32(data: bytes) -> int:
    """FNV-1 32-bit (Go's ``hash/fnv.New32``)."""
    value = _FNV32_OFFSET
    for byte in data:
        value = (value * _FNV32_PRIME) & 0xFFFFFFFF
        value ^= byte
    return value


def safe_encode(text: str) -> str:
    """``rand.SafeEncodeString``: each byte mapped onto consonants and digits, no vowels."""
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in text)


def revision_data(template: JsonObject) -> JsonDict:
    """The ``data`` of a revision recording ``template`` (Go-encoded, with kruise's replace marker)."""
    body = go_encoded_template(template)
    body[PATCH_DIRECTIVE] = "replace"
    return {"spec": {"template": body}}


#: What Go's ``json.Marshal`` escapes that orjson writes as is (HTML-safe and JS line separators);
#: these bytes occur only inside JSON strings, so replacing them is exact.
_GO_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def encode_data(data: JsonObject) -> bytes:
    """Canonical bytes of revision data as kruise hashes them: Go's ``json.Marshal`` of a map
    (sorted keys, compact, ``<``, ``>``, ``&``, U+2028, U+2029 escaped)."""
    raw = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    for plain, escaped in _GO_ESCAPES:
        raw = raw.replace(plain, escaped)
    return raw


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


def owned_revisions(cloneset: CloneSet, revisions: Sequence[JsonObject]) -> tuple[JsonObject, ...]:
    """Revisions controlled by the CloneSet or by nothing (``ListControllerRevisions``), sorted."""
    uid = str(cloneset.metadata.get("uid", ""))
    kept = []
    for rev in revisions:
        ref = controller_ref(rev)
        if ref is None or ref.get("uid") == uid:
            kept.append(rev)
    return sort_revisions(kept)


@dataclass(frozen=True)
class RevisionDecision:
    """The revisions a reconcile works with, and the writes that make them true."""

    current: JsonObject
    """The revision of the last complete rollout."""
    update: JsonObject
    """The revision of the CloneSet's template now."""
    collision_count: int
    to_create: JsonObject | None = None
    """A new revision to create (it is ``update``)."""
    to_renumber: tuple[str, int, str | None] | None = None
    """An older equal revision becomes the newest: (name, new revision number, its new claims hash
    when that changes)."""


def new_revision(cloneset: CloneSet, number: int, collision_count: int) -> JsonDict:
    """The ControllerRevision recording the CloneSet's template (``NewRevision``)."""
    template = cloneset.spec.template
    data = revision_data(template)
    hash_value = hash_revision(data, collision_count)
    labels = dict(labels_of(template))
    labels[HASH_LABEL] = hash_value
    annotations = dict(annotations_of({"metadata": cloneset.metadata}))
    annotations[VCT_HASH_ANNOTATION] = claim_templates_hash(cloneset.spec.volume_claim_templates)
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": revision_name(str(cloneset.metadata.get("name", "")), hash_value),
            "namespace": str(cloneset.metadata.get("namespace", "")),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [controller_reference(cloneset)],
        },
        "data": data,
        "revision": number,
    }


def decide_revisions(
    cloneset: CloneSet, owned: Sequence[JsonObject], all_names: Mapping[str, JsonObject]
) -> RevisionDecision:
    """``getActiveRevisions``: find or make the update revision, find the current one.

    ``owned`` are the CloneSet's revisions sorted; ``all_names`` every observed revision by name,
    used to detect a hash collision (a same-named revision holding another template).
    """
    collision_count = cloneset.status.collision_count or 0
    next_number = integer(owned[-1], "revision") + 1 if owned else 1
    template = cloneset.spec.template
    equal = [rev for rev in owned if same_template(rev, template)]
    to_create: JsonObject | None = None
    to_renumber: tuple[str, int, str | None] | None = None
    if equal and equal[-1] is owned[-1]:
        update: JsonObject = owned[-1]
    elif equal:
        update = {**equal[-1], "revision": next_number}
        claims_hash: str | None = claim_templates_hash(cloneset.spec.volume_claim_templates)
        if revision_claims_hash(equal[-1]) == claims_hash:
            claims_hash = None
        else:
            # kruise gives the revision rolled back to the claim templates' hash of now
            metadata = dict(mapping(equal[-1], "metadata"))
            metadata["annotations"] = {**annotations_of(equal[-1]), VCT_HASH_ANNOTATION: claims_hash}
            update["metadata"] = metadata
        to_renumber = (name_of(equal[-1]), next_number, claims_hash)
    else:
        candidate = new_revision(cloneset, next_number, collision_count)
        while (clash := all_names.get(name_of(candidate))) is not None and not same_template(clash, template):
            collision_count += 1
            candidate = new_revision(cloneset, next_number, collision_count)
        if clash is not None:
            update = clash
        else:
            update = candidate
            to_create = candidate
    current_name = cloneset.status.current_revision
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
    value = field(revision, "revision")
    return value if isinstance(value, int) else 0
