"""volumeClaimTemplates changes: kruise's revision hash annotation and RecreatePodWhenChangeVCTInCloneSetGate.

The expected hashes were printed by a Go program running kruise's hashing path
(``volumeclaimtemplate.getExpectHash``: the templates reduced to name + spec, sorted,
``json.Marshal`` with k8s.io/api v0.32.10, then ``hashutil.DeepHashObject`` with go-spew and
FNV-32a), not by the Python under test. The planner cases follow kruise's e2e spec
"CloneSet Update with VolumeClaimTemplate changes" (test/e2e/apps/v1alpha1/cloneset.go) and
``CanVCTemplateInplaceUpdate`` / ``getActiveRevisions``.
"""

from __future__ import annotations

from typing import Any

import pytest

from flotilla.runtime.features import feature_gates
from tests.unit.cloneset.cloneset_builders import cloneset, created, patched, pod, rev_name, revision, run
from workers.cloneset.actions import CreateRevision, RenumberRevision
from workers.cloneset.claimhash import VCT_HASH_ANNOTATION, claim_templates_hash
from workers.cloneset.config import PlannerConfig, planner_config
from workers.podmechanics.kube_json import annotations_of

GATE_ON = PlannerConfig(recreate_pod_when_change_vct=True)
SPECIFIED_DELETE = {"metadata": {"labels": {"apps.kruise.io/specified-delete": "true"}}}


def _claim(name: str, size: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }


def _claims(vol1: str = "1Gi", vol2: str = "1Gi") -> list[dict[str, Any]]:
    return [_claim("data-vol1", vol1), _claim("data-vol2", vol2)]


RICH = [
    {
        "metadata": {"name": "zeta", "labels": {"a": "b"}},
        "spec": {
            "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
            "selector": {
                "matchLabels": {"z": "1", "a": "<&>"},
                "matchExpressions": [
                    {"key": "k", "operator": "In", "values": ["x", "y"]},
                    {"key": "e", "operator": "Exists"},
                ],
            },
            "resources": {"limits": {"storage": "5Gi"}, "requests": {"storage": "1Gi"}},
            "volumeName": "pv-1",
            "storageClassName": "",
            "volumeMode": "Block",
            "dataSource": {"kind": "PersistentVolumeClaim", "name": "src"},
            "dataSourceRef": {
                "apiGroup": "snapshot.storage.k8s.io",
                "kind": "VolumeSnapshot",
                "name": "snap",
                "namespace": "other",
            },
            "volumeAttributesClassName": "gold",
        },
    },
    {"metadata": {"name": "alpha"}, "spec": {}},
]


@pytest.mark.parametrize(
    ("templates", "expected"),
    [
        ([], ""),
        (None, ""),
        ([{**_claim("data", "1Gi"), "status": {"phase": "Pending"}}], "3636919212"),
        (_claims(), "2066247556"),
        (_claims(vol1="2Gi"), "3980851610"),
        (list(reversed(_claims(vol1="2Gi"))), "3980851610"),
        (RICH, "1122629353"),
    ],
    ids=["empty", "none", "golden-claims", "e2e-1Gi", "e2e-vol1-2Gi", "order-free", "every-field"],
)
def test_claim_templates_hash_is_kruise_s(templates: list[dict[str, Any]] | None, expected: str) -> None:
    assert claim_templates_hash(templates) == expected


def test_revision_carries_the_hash_annotation() -> None:
    assert revision(cloneset(claim_templates=_claims()))["metadata"]["annotations"] == {
        VCT_HASH_ANNOTATION: "2066247556"
    }
    assert revision(cloneset())["metadata"]["annotations"] == {VCT_HASH_ANNOTATION: ""}


def test_gate_maps_from_kruise_feature_gates() -> None:
    assert PlannerConfig().recreate_pod_when_change_vct is False
    assert planner_config(feature_gates()).recreate_pod_when_change_vct is False
    assert planner_config(feature_gates({"AllAlpha": True})).recreate_pod_when_change_vct is True
    gates = feature_gates({"AllAlpha": True, "RecreatePodWhenChangeVCTInCloneSetGate": False})
    assert planner_config(gates).recreate_pod_when_change_vct is False


def _rollout(
    strategy_type: str,
    *,
    new_claims: list[dict[str, Any]],
    old_image: str = "nginx:1",
    new_image: str = "nginx:2",
) -> tuple[Any, str, str, list[dict[str, Any]]]:
    strategy = {"type": strategy_type, "maxUnavailable": 1}
    old_cs = cloneset(2, image=old_image, strategy=strategy, claim_templates=_claims())
    old = rev_name(old_cs)
    new_cs = cloneset(
        2, image=new_image, strategy=strategy, claim_templates=new_claims, status={"currentRevision": old}
    )
    return new_cs, old, rev_name(new_cs), [revision(old_cs, 1), revision(new_cs, 2)]


def _pods(rev: str) -> list[dict[str, Any]]:
    return [pod("web-a", rev), pod("web-b", rev)]


def test_image_and_claims_change_recreates_under_in_place_if_possible() -> None:
    cs, old, _, revs = _rollout("InPlaceIfPossible", new_claims=_claims(vol1="2Gi"))
    plan = run(cs, _pods(old), revs, config=GATE_ON)
    assert patched(plan) == {"web-a": [SPECIFIED_DELETE]}


def test_gate_off_updates_in_place_as_before() -> None:
    cs, old, _, revs = _rollout("InPlaceIfPossible", new_claims=_claims(vol1="2Gi"))
    writes = patched(run(cs, _pods(old), revs, config=PlannerConfig()))
    assert list(writes) == ["web-a"]
    assert writes["web-a"][-1]["spec"] == {"containers": [{"name": "app", "image": "nginx:2"}]}


def test_image_change_with_same_claims_stays_in_place() -> None:
    cs, old, _, revs = _rollout("InPlaceIfPossible", new_claims=_claims())
    writes = patched(run(cs, _pods(old), revs, config=GATE_ON))
    assert writes["web-a"][-1]["spec"] == {"containers": [{"name": "app", "image": "nginx:2"}]}


def test_in_place_only_ignores_the_claims_hash() -> None:
    """kruise's InPlaceOnly sets ``IgnoreVolumeClaimTemplatesHashDiff``: in place, PVCs untouched."""
    cs, old, _, revs = _rollout("InPlaceOnly", new_claims=_claims("3Gi", "3Gi"))
    writes = patched(run(cs, _pods(old), revs, config=GATE_ON))
    assert writes["web-a"][-1]["spec"] == {"containers": [{"name": "app", "image": "nginx:2"}]}


def test_claims_only_change_makes_no_revision_and_touches_no_pod() -> None:
    """The e2e "Update cloneSet only volumeClaimTemplates" step: same template, no new revision."""
    strategy = {"type": "InPlaceIfPossible"}
    before = cloneset(2, strategy=strategy, claim_templates=_claims())
    rev = rev_name(before)
    after = cloneset(
        2, strategy=strategy, claim_templates=_claims(vol2="2Gi"), status={"currentRevision": rev}
    )
    plan = run(after, _pods(rev), [revision(before, 1)], config=GATE_ON)
    assert [a for a in plan.actions if isinstance(a, CreateRevision | RenumberRevision)] == []
    assert patched(plan) == {}
    assert created(plan) == []


def test_then_an_image_change_recreates_for_the_earlier_claims_change() -> None:
    """The e2e "Update cloneSet image and vct size changed in previous step": the new revision
    records vol2's new size, the pods' revision the old one."""
    strategy = {"type": "InPlaceIfPossible", "maxUnavailable": 1}
    before = cloneset(2, strategy=strategy, claim_templates=_claims())
    old = rev_name(before)
    after = cloneset(
        2,
        image="nginx:2",
        strategy=strategy,
        claim_templates=_claims(vol2="2Gi"),
        status={"currentRevision": old},
    )
    plan = run(after, _pods(old), [revision(before, 1)], config=GATE_ON)
    [made] = [a for a in plan.actions if isinstance(a, CreateRevision)]
    assert annotations_of(made.revision) == {VCT_HASH_ANNOTATION: claim_templates_hash(_claims(vol2="2Gi"))}
    assert patched(plan) == {"web-a": [SPECIFIED_DELETE]}


def _unannotated(rev: dict[str, Any]) -> dict[str, Any]:
    return {**rev, "metadata": {k: v for k, v in rev["metadata"].items() if k != "annotations"}}


def test_revisions_without_the_annotation_never_force_a_recreate() -> None:
    """A revision an older Flotilla wrote has no hash: kruise lets the pod update in place."""
    cs, old, _, revs = _rollout("InPlaceIfPossible", new_claims=_claims(vol1="2Gi"))
    plan = run(cs, _pods(old), [_unannotated(revs[0]), revs[1]], config=GATE_ON)
    assert patched(plan)["web-a"][-1]["spec"] == {"containers": [{"name": "app", "image": "nginx:2"}]}


def test_rollback_gives_the_older_revision_the_current_claims_hash() -> None:
    strategy = {"type": "InPlaceIfPossible", "maxUnavailable": 1}
    first = cloneset(2, strategy=strategy, claim_templates=_claims())
    second = cloneset(2, image="nginx:2", strategy=strategy, claim_templates=_claims())
    first_name, second_name = rev_name(first), rev_name(second)
    back = cloneset(
        2, strategy=strategy, claim_templates=_claims(vol1="2Gi"), status={"currentRevision": second_name}
    )
    plan = run(back, _pods(second_name), [revision(first, 1), revision(second, 2)], config=GATE_ON)
    renumbers = [a for a in plan.actions if isinstance(a, RenumberRevision)]
    assert renumbers == [RenumberRevision(first_name, 3, claim_templates_hash(_claims(vol1="2Gi")))]
    # the pods' revision keeps the old hash, the rolled-back one has the new: recreate
    assert patched(plan) == {"web-a": [SPECIFIED_DELETE]}
    same = cloneset(2, strategy=strategy, claim_templates=_claims(), status={"currentRevision": second_name})
    plan = run(same, _pods(second_name), [revision(first, 1), revision(second, 2)], config=GATE_ON)
    assert [a for a in plan.actions if isinstance(a, RenumberRevision)] == [RenumberRevision(first_name, 3)]


def test_renumber_lowering_patches_the_hash_only_when_it_changes() -> None:
    from workers.cloneset.lowering import CONTROLLER_REVISIONS, CloneSetSnapshot, lower
    from workers.runtime import actions as runtime

    snap = CloneSetSnapshot("ns", "web", None, {"metadata": {"name": "web", "namespace": "ns", "uid": "u"}})
    [plain] = lower(snap, RenumberRevision("web-abc", 3))
    [hashed] = lower(snap, RenumberRevision("web-abc", 3, ""))
    assert isinstance(plain, runtime.PatchObject)
    assert isinstance(hashed, runtime.PatchObject)
    assert (plain.resource, plain.name, plain.patch) == (CONTROLLER_REVISIONS, "web-abc", {"revision": 3})
    assert hashed.patch == {"revision": 3, "metadata": {"annotations": {VCT_HASH_ANNOTATION: ""}}}
