"""The selectors ``observe`` lists a CloneSet's strays with: one negated requirement each."""

from __future__ import annotations

from schemas.kruise.pub import LabelSelector
from workers.cloneset.strays import stray_selectors

ID = "apps.kruise.io/cloneset-instance-id"


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
    assert stray_selectors(selector) == (
        f"{ID},app!=web",
        f"{ID},tier!=front",
        f"{ID},zone notin (a,b)",
        f"{ID},canary in (yes)",
        f"{ID},!team",
        f"{ID},legacy",
    )


def test_an_empty_selector_has_no_strays() -> None:
    assert stray_selectors(LabelSelector.model_validate({})) == ()
