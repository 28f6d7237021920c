"""Templates compared the way kruise's encoding compares them (STYLE point 13).

``kubectl-kruise set image`` PUTs the whole container list with ``resources: {}``; ``kubectl-kruise
rollout undo`` leaves ``"$patch": "replace"`` in ``spec.template``. In kruise (Go encoding) both
are no change at all: ``{}`` encodes like absent, ``$patch`` is no field of PodTemplateSpec. So:
no new revision for them, the in-place diff sees only the image, InPlaceOnly accepts it.
"""

from __future__ import annotations

from typing import Any

import orjson

from schemas.kruise.cloneset import CloneSet
from tests.unit.cloneset.cloneset_builders import (
    cloneset,
    events,
    patched,
    pod,
    rev_name,
    revision,
    run,
    status_of,
)
from workers.cloneset.actions import CreateRevision, RenumberRevision
from workers.podmechanics.revisions import revision_data


def _edit(cs: CloneSet, *, resources: bool = False, patch_marker: bool = False) -> CloneSet:
    """``cs`` as the API server returns it after kubectl-kruise's write."""
    wire = cs.to_wire()
    template: dict[str, Any] = wire["spec"]["template"]  # type: ignore[index]
    if resources:
        for container in template["spec"]["containers"]:
            container["resources"] = {}
    if patch_marker:
        template["$patch"] = "replace"
    return CloneSet.from_wire(wire)


def test_resources_and_patch_marker_make_no_new_revision() -> None:
    base = cloneset(2)
    for edited in (
        _edit(base, resources=True),
        _edit(base, patch_marker=True),
        _edit(base, resources=True, patch_marker=True),
    ):
        assert rev_name(edited) == rev_name(base)
        assert revision_data(edited.spec.template) == revision_data(base.spec.template)
        plan = run(edited, [pod("web-a", rev_name(base)), pod("web-b", rev_name(base))], [revision(base, 1)])
        assert not [a for a in plan.actions if isinstance(a, CreateRevision)]
        assert patched(plan) == {}


def test_revision_data_is_the_template_as_go_encodes_it() -> None:
    data = revision_data(_edit(cloneset(1), resources=True, patch_marker=True).spec.template)
    # hand-written from Go's json.Marshal of a PodTemplateSpec: ObjectMeta's creationTimestamp (a
    # struct) is null when unset, a Container's resources (a struct) {} - present or not in the
    # stored template; $patch is no field; kruise's one replace marker
    assert data == {
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
                "spec": {"containers": [{"name": "app", "image": "nginx:1", "resources": {}}]},
                "$patch": "replace",
            }
        }
    }
    assert data == revision_data(cloneset(1).spec.template)


def _set_image(strategy: dict[str, Any]) -> tuple[CloneSet, str, list[dict[str, Any]]]:
    """v1 rolled out; then ``kubectl-kruise set image app=nginx:2`` (containers with resources {})."""
    v1 = cloneset(2, strategy=strategy)
    old = rev_name(v1)
    v2 = _edit(
        cloneset(2, image="nginx:2", strategy=strategy, status={"currentRevision": old}), resources=True
    )
    return v2, old, [revision(v1, 1), revision(v2, 2)]


def test_set_image_with_empty_resources_updates_in_place() -> None:
    cs, old, revs = _set_image({"type": "InPlaceIfPossible", "maxUnavailable": 1})
    writes = patched(run(cs, [pod("web-a", old), pod("web-b", old)], revs))
    assert list(writes) == ["web-a"]
    [write] = writes["web-a"]
    assert write["spec"] == {"containers": [{"name": "app", "image": "nginx:2"}]}  # no specified-delete


def test_set_image_with_empty_resources_is_accepted_by_in_place_only() -> None:
    cs, old, revs = _set_image({"type": "InPlaceOnly", "maxUnavailable": 1})
    plan = run(cs, [pod("web-a", old), pod("web-b", old)], revs)
    assert events(plan) == []  # no FailedUpdate "found add /spec/containers/0/resources"
    assert patched(plan)["web-a"][0]["spec"] == {"containers": [{"name": "app", "image": "nginx:2"}]}
    status = status_of(plan)
    assert status is not None
    assert "conditions" not in status


def test_rollout_undo_with_patch_marker_renumbers_and_updates_in_place() -> None:
    """v1 -> v2 (in place), then undo to v1: spec.template is v1's revision data, marker included."""
    strategy = {"type": "InPlaceOnly", "maxUnavailable": 1}
    v1 = cloneset(2, strategy=strategy)
    v2 = cloneset(2, image="nginx:2", strategy=strategy)
    undo = orjson.loads(orjson.dumps(revision(v1, 1)["data"]["spec"]["template"]))
    wire = cloneset(2, strategy=strategy, status={"currentRevision": rev_name(v2)}).to_wire()
    wire["spec"]["template"] = undo  # type: ignore[index]
    back = CloneSet.from_wire(wire)
    assert back.to_wire()["spec"]["template"]["$patch"] == "replace"  # type: ignore[index]
    pods = [pod("web-a", rev_name(v2), image="nginx:2"), pod("web-b", rev_name(v2), image="nginx:2")]
    plan = run(back, pods, [revision(v1, 1), revision(v2, 2)])
    assert RenumberRevision(rev_name(v1), 3) in plan.actions
    assert not [a for a in plan.actions if isinstance(a, CreateRevision)]
    [write] = patched(plan)["web-a"]
    assert write["spec"] == {"containers": [{"name": "app", "image": "nginx:1"}]}
    assert events(plan) == []  # no FailedUpdate "found add /$patch"
