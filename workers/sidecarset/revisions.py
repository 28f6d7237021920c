"""A SidecarSet's ControllerRevisions: kruise's ``registerLatestRevision`` and ``truncateHistory``.

A revision records the parts of the spec that reach pods (``copySidecarSetSpecRevision``:
``{"spec": {"$patch": "replace", "containers", "initContainers", "volumes", "imagePullSecrets",
"patchPodMetadata"}}``), lives in the namespace the worker runs in (kruise: kruise-manager's
namespace, ``webhookutil.GetNamespace``), is labelled ``kruise.io/sidecarset-name: <set>`` (plus
``apps.kruise.io/sidecarset-custom-version`` for ``spec.customVersion``) and carries the set's
labels and annotations, and is controlled by the SidecarSet. Its name is ``<set>-<hash>``, the
hash being Kubernetes' ``HashControllerRevision`` of the data with the collisionCount
(``podmechanics.revisions``); the data is the stored spec's JSON, not Go's encoding of kruise's
structs, so a name can differ from the one kruise-manager would pick for the same spec
(revisions are compared by content, so kruise's are found equal and reused). The newest equal
revision is reused as it is, or renumbered when an older one is rolled back to; history beyond
``revisionHistoryLimit`` (at least 1) goes oldest first, never the newest one nor one a pod's
``kruise.io/sidecarset-hash`` names. Pure; called by ``planner``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workers.podmechanics.kube_json import JsonDict, JsonObject, as_object, as_text, integer, name_of
from workers.podmechanics.revisions import hash_revision, revision_name, sort_revisions

SIDECARSET_NAME_LABEL = "kruise.io/sidecarset-name"
CUSTOM_VERSION_LABEL = "apps.kruise.io/sidecarset-custom-version"
_RECORDED = ("volumes", "containers", "initContainers", "imagePullSecrets", "patchPodMetadata")


def revision_data(spec: JsonObject) -> JsonDict:
    """``getPatch``: the recorded spec fields (absent ones as null, as Go writes them)."""
    recorded: JsonDict = {"$patch": "replace"}
    for key in _RECORDED:
        recorded[key] = spec.get(key)
    return {"spec": recorded}


@dataclass(frozen=True)
class RevisionDecision:
    latest: JsonObject
    collision_count: int
    to_create: JsonObject | None = None
    to_renumber: tuple[str, int] | None = None
    to_delete: tuple[str, ...] = ()


def new_revision(sidecarset: JsonObject, namespace: str, number: int, collision_count: int) -> JsonDict:
    """``NewRevision`` + the name ``CreateControllerRevision`` gives it."""
    metadata = as_object(sidecarset.get("metadata"))
    spec = as_object(sidecarset.get("spec"))
    data = revision_data(spec)
    name = as_text(metadata.get("name"))
    labels = {str(k): str(v) for k, v in as_object(metadata.get("labels")).items()}
    if spec.get("customVersion"):
        labels[CUSTOM_VERSION_LABEL] = as_text(spec.get("customVersion"))
    labels[SIDECARSET_NAME_LABEL] = name
    annotations = {str(k): str(v) for k, v in as_object(metadata.get("annotations")).items()}
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": revision_name(name, hash_revision(data, collision_count)),
            "namespace": namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "apps.kruise.io/v1beta1",
                    "kind": "SidecarSet",
                    "name": name,
                    "uid": as_text(metadata.get("uid")),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": data,
        "revision": number,
    }


def _same(revision: JsonObject, data: JsonObject) -> bool:
    return as_object(revision.get("data")) == data


def decide(
    sidecarset: JsonObject,
    namespace: str,
    revisions: Sequence[JsonObject],
    pod_revisions: set[str],
) -> RevisionDecision:
    """The latest revision of the set's spec now, the writes that make it so, and the history to
    delete (``pod_revisions``: the revisions pods name; never deleted)."""
    spec = as_object(sidecarset.get("spec"))
    uid = as_text(as_object(sidecarset.get("metadata")).get("uid"))
    owned = sort_revisions(
        [
            r
            for r in revisions
            if not any(ref.get("controller") for ref in _refs(r))
            or any(ref.get("uid") == uid for ref in _refs(r))
        ]
    )
    collision = integer(as_object(sidecarset.get("status")), "collisionCount")
    data = revision_data(spec)
    number = integer(owned[-1], "revision") + 1 if owned else 1
    equal = [r for r in owned if _same(r, data)]
    to_create: JsonObject | None = None
    to_renumber: tuple[str, int] | None = None
    kept = list(owned)
    if equal and equal[-1] is owned[-1]:
        latest: JsonObject = owned[-1]
    elif equal:
        latest = {**equal[-1], "revision": number}
        to_renumber = (name_of(equal[-1]), number)
        kept = [r for r in owned if r is not equal[-1]] + [latest]
    else:
        by_name = {name_of(r): r for r in revisions}
        candidate = new_revision(sidecarset, namespace, number, collision)
        while (clash := by_name.get(name_of(candidate))) is not None and not _same(clash, data):
            collision += 1
            candidate = new_revision(sidecarset, namespace, number, collision)
        if clash is not None:
            latest = clash
        else:
            latest = candidate
            to_create = candidate
            kept.append(candidate)
    return RevisionDecision(
        latest, collision, to_create, to_renumber, _to_delete(sidecarset, kept, pod_revisions)
    )


def _refs(revision: JsonObject) -> tuple[Mapping[str, object], ...]:
    refs = as_object(revision.get("metadata")).get("ownerReferences")
    return tuple(r for r in refs if isinstance(r, Mapping)) if isinstance(refs, list) else ()


def _to_delete(
    sidecarset: JsonObject, revisions: Sequence[JsonObject], pod_revisions: set[str]
) -> tuple[str, ...]:
    """``truncateHistory`` + ``filterActiveRevisions`` (a pinned injection revision stays too)."""
    spec = as_object(sidecarset.get("spec"))
    limit = max(1, integer(spec, "revisionHistoryLimit", default=10))
    excess = len(revisions) - limit
    if excess <= 0:
        return ()
    active = set(pod_revisions)
    pinned = as_object(as_object(spec.get("injectionStrategy")).get("revision"))
    if pinned.get("revisionName"):
        active.add(as_text(pinned.get("revisionName")))
    custom = pinned.get("customVersion")
    if custom:
        matching = [
            r
            for r in revisions
            if as_object(as_object(r.get("metadata")).get("labels")).get(CUSTOM_VERSION_LABEL) == custom
        ]
        if matching:
            active.add(name_of(sort_revisions(matching)[-1]))
    doomed: list[str] = []
    for revision in revisions[:-1]:
        if excess <= 0:
            break
        if name_of(revision) not in active:
            doomed.append(name_of(revision))
            excess -= 1
    return tuple(doomed)
