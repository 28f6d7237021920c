"""ControllerRevisions for any kruise workload: hash, the revision object, rollback renumbering.

Expected values: the hash from Go's ``hash/fnv.New32`` and ``rand.SafeEncodeString``; the revision
shape from kruise's statefulset ``newRevision`` / ``history.NewControllerRevision`` (template
labels plus ``controller.kubernetes.io/hash``, the owner's annotations, one controller reference).
"""

from __future__ import annotations

from typing import Any

from workers.podmechanics.gohash import fnv32, safe_encode
from workers.podmechanics.ownership import owner_reference
from workers.podmechanics.revisions import (
    HASH_LABEL,
    RevisionOwner,
    decide_revisions,
    hash_revision,
    new_revision,
    owned_revisions,
    template_of,
)

METADATA: dict[str, object] = {
    "name": "db",
    "namespace": "ns",
    "uid": "sts-uid",
    "annotations": {"team": "a"},
}
REFERENCE = owner_reference("apps.kruise.io/v1beta1", "StatefulSet", METADATA)


def _template(image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": image}]}}


def _owner(image: str, current: str | None = None, **annotations: str) -> RevisionOwner:
    return RevisionOwner(METADATA, REFERENCE, _template(image), 0, current, annotations)


def test_hash_is_kubernetes_fnv32_and_safe_encoding() -> None:
    # Values computed with Go's hash/fnv.New32 and rand.SafeEncodeString.
    assert fnv32(b'{"spec":{"template":{"$patch":"replace"}}}0') == 1459418616
    assert safe_encode("1459418616") == "589f85db5b"
    assert hash_revision({"spec": {"template": {"$patch": "replace"}}}, 0) == "589f85db5b"


def test_a_statefulset_revision_has_kruises_shape() -> None:
    rev = new_revision(_owner("pg:1"), 3, 0)
    meta = rev["metadata"]
    name_hash = meta["name"].removeprefix("db-")
    assert meta["labels"] == {"app": "db", HASH_LABEL: name_hash}
    assert meta["annotations"] == {"team": "a"}  # the owner's annotations, nothing of CloneSet's
    assert meta["ownerReferences"] == [REFERENCE]
    assert meta["namespace"] == "ns"
    assert rev["revision"] == 3
    assert rev["data"]["spec"]["template"]["$patch"] == "replace"
    # the template as Go encodes it: every container's resources struct written
    assert template_of(rev)["spec"] == {"containers": [{"name": "db", "image": "pg:1", "resources": {}}]}
    assert new_revision(_owner("pg:1"), 3, 1)["metadata"]["name"] != meta["name"]  # collisionCount hashed


def test_first_revision_is_created_and_is_current() -> None:
    decision = decide_revisions(_owner("pg:1"), (), {})
    assert decision.to_create is not None
    assert decision.update is decision.to_create
    assert decision.current is decision.update
    assert decision.to_renumber is None


def test_rollback_renumbers_the_older_equal_revision() -> None:
    v1 = new_revision(_owner("pg:1"), 1, 0)
    v2 = new_revision(_owner("pg:2"), 2, 0)
    owned = owned_revisions("sts-uid", [v2, v1])
    decision = decide_revisions(_owner("pg:1", current=v2["metadata"]["name"]), owned, {})
    assert decision.to_create is None
    assert decision.to_renumber == (v1["metadata"]["name"], 3, None)
    assert decision.update["revision"] == 3
    assert decision.current is v2


def test_rollback_rewrites_the_owners_own_annotations_that_changed() -> None:
    v1 = new_revision(_owner("pg:1", mark="old"), 1, 0)
    v2 = new_revision(_owner("pg:2", mark="new"), 2, 0)
    decision = decide_revisions(_owner("pg:1", mark="new"), (v1, v2), {})
    assert decision.to_renumber == (v1["metadata"]["name"], 3, {"mark": "new"})
    assert decision.update["metadata"]["annotations"] == {"team": "a", "mark": "new"}


def test_foreign_revisions_are_not_owned() -> None:
    mine = new_revision(_owner("pg:1"), 1, 0)
    foreign = {
        **mine,
        "metadata": {
            **mine["metadata"],
            "name": "x",
            "ownerReferences": [{"uid": "other", "controller": True}],
        },
    }
    orphan = {**mine, "metadata": {**mine["metadata"], "name": "y", "ownerReferences": []}}
    assert [r["metadata"]["name"] for r in owned_revisions("sts-uid", [foreign, orphan, mine])] == [
        mine["metadata"]["name"],
        "y",
    ]
