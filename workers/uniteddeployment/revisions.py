"""A UnitedDeployment's ControllerRevisions (kruise ``uniteddeployment/revision.go``).

A revision records ``spec.template`` (all four kinds' fields, as one object) as the patch
``{"spec": {"template": {..., "$patch": "replace"}}}``, named ``<ud>-<hash>`` with Kubernetes'
``HashControllerRevision`` of those bytes and the collisionCount (``podmechanics.revisions``),
labelled with the template's workload labels (none for a CloneSet template, as in kruise) and
``controller.kubernetes.io/hash``, controlled by the UnitedDeployment. The newest revision equal
to the template is reused (renumbered when older); a same-named revision with another template
raises the collisionCount. Beyond ``revisionHistoryLimit`` the oldest revisions that are neither
current nor updated are deleted. The bytes hashed are this package's JSON of the template, not
Go's encoding of kruise's structs, so the names differ from kruise's (see
docs/uniteddeployment.md). Pure; called by ``planner``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from workers.podmechanics.kube_json import (
    JsonDict,
    JsonObject,
    controller_ref,
    labels_of,
    mapping,
    name_of,
    uid_of,
)
from workers.podmechanics.revisions import (
    HASH_LABEL,
    hash_revision,
    revision_name,
    revision_number,
    sort_revisions,
)
from workers.uniteddeployment.subsets import KINDS, UNITED_DEPLOYMENTS

PATCH = "$patch"


def revision_data(ud: JsonObject) -> JsonDict:
    template = {k: v for k, v in mapping(ud, "spec", "template").items()}
    template[PATCH] = "replace"
    return {"spec": {"template": template}}


def _template_of(revision: JsonObject) -> JsonObject:
    return {k: v for k, v in mapping(revision, "data", "spec", "template").items() if k != PATCH}


def _same(revision: JsonObject, ud: JsonObject) -> bool:
    return _template_of(revision) == dict(mapping(ud, "spec", "template"))


def owned(ud: JsonObject, revisions: Sequence[JsonObject]) -> tuple[JsonObject, ...]:
    uid = uid_of(ud)
    return sort_revisions([r for r in revisions if (controller_ref(r) or {}).get("uid") == uid])


def _labels(ud: JsonObject) -> dict[str, str]:
    template = mapping(ud, "spec", "template")
    for kind in KINDS:
        if kind.template_field in template and kind.type_name != "CloneSet":
            return dict(labels_of(mapping(template, kind.template_field)))
    return {}


def new_revision(ud: JsonObject, number: int, collision_count: int) -> JsonDict:
    data = revision_data(ud)
    hash_value = hash_revision(data, collision_count)
    meta = mapping(ud, "metadata")
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": revision_name(name_of(ud), hash_value),
            "namespace": str(meta.get("namespace", "")),
            "labels": {**_labels(ud), HASH_LABEL: hash_value},
            "ownerReferences": [
                {
                    "apiVersion": UNITED_DEPLOYMENTS.api_version,
                    "kind": "UnitedDeployment",
                    "name": name_of(ud),
                    "uid": uid_of(ud),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": data,
        "revision": number,
    }


@dataclass(frozen=True)
class Revisions:
    current: str
    update: str
    collision_count: int
    to_create: JsonDict | None = None
    to_renumber: tuple[str, int] | None = None
    to_delete: tuple[str, ...] = ()


def decide(ud: JsonObject, revisions: Sequence[JsonObject]) -> Revisions:
    """``constructUnitedDeploymentRevisions`` (with ``cleanExpiredRevision``)."""
    status = mapping(ud, "status")
    collision_count = int(status.get("collisionCount") or 0)  # type: ignore[call-overload]
    mine = list(owned(ud, revisions))
    limit = int(mapping(ud, "spec").get("revisionHistoryLimit", 10))  # type: ignore[call-overload]
    to_delete: list[str] = []
    exceed = len(mine) - limit
    if exceed > 0:
        live = {
            str(status.get("currentRevision") or ""),
            str(mapping(status, "updateStatus").get("updatedRevision") or ""),
        }
        for index, rev in enumerate(mine):
            if name_of(rev) in live:
                continue
            if index >= exceed:
                break
            to_delete.append(name_of(rev))
        mine = mine[exceed:]
    next_number = revision_number(mine[-1]) + 1 if mine else 1
    equal = [rev for rev in mine if _same(rev, ud)]
    to_create: JsonDict | None = None
    to_renumber: tuple[str, int] | None = None
    if equal and equal[-1] is mine[-1]:
        update = name_of(mine[-1])
    elif equal:
        update = name_of(equal[-1])
        to_renumber = (update, next_number)
    else:
        by_name = {name_of(r): r for r in revisions}
        candidate = new_revision(ud, next_number, collision_count)
        while (clash := by_name.get(name_of(candidate))) is not None and not _same(clash, ud):
            collision_count += 1
            candidate = new_revision(ud, next_number, collision_count)
        update = name_of(candidate)
        if clash is None:
            to_create = candidate
    wanted = str(status.get("currentRevision") or "")
    current = wanted if any(name_of(r) == wanted for r in mine) else update
    return Revisions(current, update, collision_count, to_create, to_renumber, tuple(to_delete))
