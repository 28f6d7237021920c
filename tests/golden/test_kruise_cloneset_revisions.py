"""Flotilla's CloneSet revisions against the ones kruise-manager v1.9.1 wrote.

The golden files (tests/golden/kruise/cloneset/*.json, re-recorded by
`python -m tests.golden.kruise.record`) hold, for non-trivial CloneSets, the object kruise
stored (its defaults applied), the ControllerRevisions kruise-manager wrote for the first
template and for an image update, and its pods' revision labels. The same stored CloneSets go
through Flotilla's revision code (workers/podmechanics/revisions.py): the revision name, its
hash label and its data must be kruise's, byte for byte where kruise hashes bytes, and
Flotilla must find kruise's revision equal to the template (adoption, no rollout).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from schemas.kruise.cloneset import CloneSet
from workers.cloneset.history import new_revision
from workers.cloneset.newpod import write_revision_labels
from workers.cloneset.predownload import CREATED_LABEL, IGNORED_LABEL
from workers.podmechanics.revisions import encode_data, revision_data, same_template

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).resolve().parent / "kruise" / "cloneset"
FILES = sorted(GOLDEN.glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _steps(golden: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(step, stored CloneSet, kruise's revision of that step's template)."""
    by_number = {int(rev["revision"]): rev for rev in golden["revisions"]}
    out = []
    for step in ("created", "updated"):
        snapshot = golden[step]
        name = snapshot["status"]["updateRevision"]
        [revision] = [rev for rev in by_number.values() if rev["name"] == name]
        out.append((step, snapshot, revision))
    return out


def test_golden_data_is_recorded() -> None:
    assert len(FILES) >= 2, f"no golden data in {GOLDEN}: run `python -m tests.golden.kruise.record`"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_revision_name_hash_and_data_are_kruise_s(path: Path) -> None:
    golden = _load(path)
    for step, snapshot, kruise_revision in _steps(golden):
        stored = snapshot["stored"]
        cloneset = CloneSet.from_wire({"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", **stored})
        collision_count = int(snapshot["status"].get("collisionCount") or 0)
        ours = new_revision(cloneset, int(kruise_revision["revision"]), collision_count)
        assert ours["data"] == kruise_revision["data"], f"{step}: revision data differs from kruise's"
        assert encode_data(revision_data(cloneset.spec.template)) == encode_data(kruise_revision["data"])
        assert ours["metadata"]["name"] == kruise_revision["name"], f"{step}: revision name (hash) differs"
        hash_label = "controller.kubernetes.io/hash"
        assert ours["metadata"]["labels"][hash_label] == kruise_revision["labels"][hash_label]


PREDOWNLOAD_MARKS = (CREATED_LABEL, IGNORED_LABEL)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_revision_labels_are_kruise_s(path: Path) -> None:
    """The template's labels plus the hash. With the e2e gates (PreDownloadImageForInPlaceUpdate)
    kruise later patches a pre-download mark onto the update revision; that mark is not part of
    the revision as created (Flotilla patches it the same way: tests/unit/cloneset/
    test_cloneset_predownload.py), so it is set aside here."""
    golden = _load(path)
    for step, snapshot, kruise_revision in _steps(golden):
        stored = snapshot["stored"]
        cloneset = CloneSet.from_wire({"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", **stored})
        ours = new_revision(cloneset, int(kruise_revision["revision"]), 0)
        created = {k: v for k, v in kruise_revision["labels"].items() if k not in PREDOWNLOAD_MARKS}
        assert ours["metadata"]["labels"] == created, f"{step}: revision labels differ"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_revision_annotations_are_kruise_s(path: Path) -> None:
    """kruise adds ``kruise.io/cloneset-volumeclaimtemplate-hash`` to every revision ("" without
    volumeClaimTemplates) and compares it to decide whether a claim change forbids in-place update."""
    golden = _load(path)
    for step, snapshot, kruise_revision in _steps(golden):
        stored = snapshot["stored"]
        cloneset = CloneSet.from_wire({"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", **stored})
        ours = new_revision(cloneset, int(kruise_revision["revision"]), 0)
        assert ours["metadata"]["annotations"] == kruise_revision["annotations"], (
            f"{step}: annotations differ"
        )


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_kruise_s_revisions_are_adopted_as_equal_templates(path: Path) -> None:
    golden = _load(path)
    for step, snapshot, kruise_revision in _steps(golden):
        template = snapshot["stored"]["spec"]["template"]
        assert same_template(kruise_revision, template), f"{step}: kruise's revision not found equal"
    first, second = (snapshot["stored"]["spec"]["template"] for _, snapshot, _ in _steps(golden))
    assert not same_template(_steps(golden)[0][2], second), "an image change is a new revision"
    assert first != second


def _short_hash_gate(feature_gates: str) -> bool:
    """CloneSetShortHash (alpha): on with AllAlpha=true unless set false on its own."""
    gates = dict(item.split("=", 1) for item in feature_gates.split(",") if item)
    return gates.get("CloneSetShortHash", gates.get("AllAlpha", "false")) == "true"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_pod_revision_labels_are_kruise_s(path: Path) -> None:
    golden = _load(path)
    short = _short_hash_gate(golden["feature_gates"])
    for step, snapshot, kruise_revision in _steps(golden):
        assert snapshot["pods"], f"{step}: no pods recorded"
        for pod in snapshot["pods"]:
            labels: dict[str, str] = {}
            write_revision_labels(labels, kruise_revision["name"], short_hash_label=short)
            assert labels == {
                "controller-revision-hash": pod["controller-revision-hash"],
                "pod-template-hash": pod["pod-template-hash"],
            }, f"{step}: pod labels differ"
