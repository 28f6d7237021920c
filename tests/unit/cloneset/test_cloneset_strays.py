"""The selectors ``observe`` lists a CloneSet's strays with: each requirement negated, narrowed to
pods of the CloneSet's template hashes or without one (not every other CloneSet's pods)."""

from __future__ import annotations

from schemas.kruise.pub import LabelSelector
from workers.cloneset.strays import stray_selectors

ID = "apps.kruise.io/cloneset-instance-id"
HASH = "pod-template-hash"


def test_each_requirement_is_negated_and_combined_with_the_instance_label() -> None:
    selector = LabelSelector.model_validate(
        {
            "matchLabels": {"app": "web", "tier": "front"},
            "matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["b", "a"]},
                {"key": "canary", "operator": "NotIn", "values": ["yes"]},
                {"key": "team", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        }
    )
    made, bare = f"{ID},{HASH} in (5d8f,9c7b)", f"{ID},!{HASH}"
    assert stray_selectors(selector, ["9c7b", "5d8f", "9c7b"]) == (
        f"{made},app!=web",
        f"{bare},app!=web",
        f"{made},tier!=front",
        f"{bare},tier!=front",
        f"{made},zone notin (a,b)",
        f"{bare},zone notin (a,b)",
        f"{made},canary in (yes)",
        f"{bare},canary in (yes)",
        f"{made},!team",
        f"{bare},!team",
        f"{made},legacy",
        f"{bare},legacy",
    )


def test_without_revisions_only_pods_without_a_template_hash_are_listed() -> None:
    selector = LabelSelector.model_validate({"matchLabels": {"app": "web"}})
    assert stray_selectors(selector, []) == (f"{ID},!{HASH},app!=web",)


def test_an_empty_selector_has_no_strays() -> None:
    assert stray_selectors(LabelSelector.model_validate({}), ["5d8f"]) == ()
