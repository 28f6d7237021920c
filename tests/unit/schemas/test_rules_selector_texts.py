"""``metav1.LabelSelectorAsSelector``'s error texts, which kruise puts in its messages
(``invalid selector %v`` of the update priority, ImagePullJob's ``invalid selector: %v``).

Expected texts are written out by hand from apimachinery v0.32.10 (kruise v1.9.1's):
``pkg/apis/meta/v1/helpers.go`` LabelSelectorAsSelector (matchLabels first as ``=``
requirements, then the expressions; ``%q is not a valid label selector operator``),
``pkg/labels/selector.go`` NewRequirement (key, then the value count, then each value at
``values[i][key]``, aggregated ``[a, b]``), ``pkg/util/validation/validation.go`` RegexError
(its examples joined ``', ' + ' or '``: two spaces).
"""

from __future__ import annotations

from typing import Any

import pytest

from schemas.kruise import rules
from schemas.kruise.rules.meta import selector_as_selector_error

pytestmark = pytest.mark.unit

NAME_REGEX = "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'"
NAME_PART = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
    f"regex used for validation is {NAME_REGEX})"
)
LABEL_VALUE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
    "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
IN_EMPTY = "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"

CASES: list[tuple[str, dict[str, Any], str | None]] = [
    (
        "valid",
        {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "x", "operator": "Exists"}]},
        None,
    ),
    ("empty selects everything", {}, None),
    (
        "unknown operator",
        {"matchExpressions": [{"key": "x", "operator": "Gt", "values": ["1"]}]},
        '"Gt" is not a valid label selector operator',
    ),
    ("In without values", {"matchExpressions": [{"key": "x", "operator": "In"}]}, IN_EMPTY),
    # append([]string(nil), []string{}...) is nil too
    ("In with []", {"matchExpressions": [{"key": "x", "operator": "NotIn", "values": []}]}, IN_EMPTY),
    (
        "Exists with values",
        {"matchExpressions": [{"key": "x", "operator": "DoesNotExist", "values": ["a", "b"]}]},
        'values: Invalid value: []string{"a", "b"}: values set must be empty for exists and does not exist',
    ),
    (
        "bad key",
        {"matchExpressions": [{"key": "a b", "operator": "Exists"}]},
        f'key: Invalid value: "a b": {NAME_PART}',
    ),
    (
        "bad key and no values: both, aggregated",
        {"matchExpressions": [{"key": "-x", "operator": "In"}]},
        f'[key: Invalid value: "-x": {NAME_PART}, {IN_EMPTY}]',
    ),
    (
        "bad value",
        {"matchExpressions": [{"key": "x", "operator": "In", "values": ["ok", "not ok"]}]},
        f'values[1][x]: Invalid value: "not ok": {LABEL_VALUE}',
    ),
    (
        "bad matchLabels value, before the expressions",
        {"matchLabels": {"app": "a b"}, "matchExpressions": [{"key": "x", "operator": "In"}]},
        f'values[0][app]: Invalid value: "a b": {LABEL_VALUE}',
    ),
]


@pytest.mark.parametrize(("why", "selector", "text"), CASES, ids=[c[0] for c in CASES])
def test_label_selector_as_selector_texts(why: str, selector: dict[str, Any], text: str | None) -> None:
    assert selector_as_selector_error(selector) == text


def test_the_cloneset_update_priority_shows_the_text() -> None:  # apis/apps/pub/update_priority.go:77
    cloneset = {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "CloneSet",
        "metadata": {"name": "c", "namespace": "ns"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "c"}},
            "template": {
                "metadata": {"labels": {"app": "c"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
            "updateStrategy": {
                "priorityStrategy": {
                    "weightPriority": [
                        {
                            "weight": 20,
                            "matchSelector": {"matchExpressions": [{"key": "k", "operator": "In"}]},
                        }
                    ]
                }
            },
        },
    }
    messages = [str(e) for e in rules.validate("CloneSet", rules.default("CloneSet", cloneset))]
    assert any(f"invalid selector {IN_EMPTY}" in m for m in messages), messages
