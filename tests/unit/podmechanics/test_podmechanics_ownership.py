"""Adoption and release (kruise's controller ref manager) for any owner kind, and selector strings."""

from __future__ import annotations

from typing import Any

from schemas.kruise.pub import LabelSelector
from workers.podmechanics.ownership import (
    adopt_patch,
    claim_pods,
    is_owned_by,
    owner_reference,
    release_patch,
    selector_string,
)
from workers.podmechanics.pods import PodView, read_pod

OWNER_UID = "sts-uid"
SELECTOR = LabelSelector.from_wire({"matchLabels": {"app": "db"}})


def _pod(name: str, labels: dict[str, str], controller: str | None, deleting: bool = False) -> PodView:
    metadata: dict[str, Any] = {"name": name, "uid": f"uid-{name}", "labels": labels}
    if controller is not None:
        metadata["ownerReferences"] = [{"uid": controller, "controller": True, "kind": "StatefulSet"}]
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return read_pod({"metadata": metadata})


def test_owner_reference_for_an_advanced_statefulset() -> None:
    ref = owner_reference("apps.kruise.io/v1beta1", "StatefulSet", {"name": "db", "uid": OWNER_UID})
    assert ref == {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "StatefulSet",
        "name": "db",
        "uid": OWNER_UID,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_a_plain_owner_reference_is_no_controller() -> None:
    ref = owner_reference(
        "apps.kruise.io/v1beta1", "StatefulSet", {"name": "db", "uid": OWNER_UID}, controller=False
    )
    assert ref == {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "StatefulSet",
        "name": "db",
        "uid": OWNER_UID,
    }


def test_claim_adopts_matching_orphans_releases_mismatches_ignores_foreign() -> None:
    mine = _pod("db-0", {"app": "db"}, OWNER_UID)
    orphan = _pod("db-1", {"app": "db"}, None)
    orphan_deleting = _pod("db-2", {"app": "db"}, None, deleting=True)
    stray = _pod("db-3", {"app": "other"}, OWNER_UID)
    foreign = _pod("db-4", {"app": "db"}, "someone-else")
    unrelated_orphan = _pod("x-0", {"app": "other"}, None)
    claims = claim_pods(
        OWNER_UID, SELECTOR, False, [mine, orphan, orphan_deleting, stray, foreign, unrelated_orphan]
    )
    assert [p.name for p in claims.owned] == ["db-0", "db-1"]
    assert [p.name for p in claims.adopt] == ["db-1"]
    assert [p.name for p in claims.release] == ["db-3"]


def test_an_owner_being_deleted_keeps_its_pods_and_adopts_nothing() -> None:
    mine = _pod("db-0", {"app": "db"}, OWNER_UID)
    stray = _pod("db-3", {"app": "other"}, OWNER_UID)
    orphan = _pod("db-1", {"app": "db"}, None)
    claims = claim_pods(OWNER_UID, SELECTOR, True, [mine, stray, orphan])
    assert [p.name for p in claims.owned] == ["db-0", "db-3"]
    assert claims.adopt == ()
    assert claims.release == ()


def test_adopt_and_release_patches_carry_the_pod_uid_precondition() -> None:
    ref = owner_reference("apps.kruise.io/v1beta1", "StatefulSet", {"name": "db", "uid": OWNER_UID})
    pod = _pod("db-1", {"app": "db"}, None)
    assert adopt_patch(ref, pod) == {"metadata": {"ownerReferences": [ref], "uid": "uid-db-1"}}
    assert release_patch(OWNER_UID, pod) == {
        "metadata": {"ownerReferences": [{"$patch": "delete", "uid": OWNER_UID}], "uid": "uid-db-1"}
    }
    assert is_owned_by(_pod("db-0", {}, OWNER_UID).raw, OWNER_UID)
    assert not is_owned_by(pod.raw, OWNER_UID)


def test_selector_string_like_labels_selector() -> None:
    selector = LabelSelector.from_wire(
        {
            "matchLabels": {"b": "2", "a": "1"},
            "matchExpressions": [
                {"key": "c", "operator": "In", "values": ["y", "x"]},
                {"key": "d", "operator": "DoesNotExist"},
            ],
        }
    )
    assert selector_string(selector) == "a=1,b=2,c in (x,y),!d"
