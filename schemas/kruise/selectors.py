"""Label selector semantics (``metav1.LabelSelector``), shared by the workload workers and the watcher.

Pure. :func:`selector_error` is ``ValidatedLabelSelectorAsSelector``'s verdict (an empty selector
is refused too: it would select every pod); :func:`selector_matches` is ``Selector.Matches``.
The workload workers claim pods with them (:mod:`workers.podmechanics.ownership`); the watcher maps
an ownerless pod to the owners whose selector matches it (:mod:`watcher.selectors`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class Requirement(Protocol):
    """A ``matchExpressions`` entry (``schemas.kruise.pub.LabelSelectorRequirement`` is one)."""

    @property
    def key(self) -> str: ...
    @property
    def operator(self) -> str: ...
    @property
    def values(self) -> Sequence[str] | None: ...


class Selector(Protocol):
    """A label selector (``schemas.kruise.pub.LabelSelector`` is one; the watcher has a plain one,
    without the cost of importing the API models)."""

    @property
    def match_labels(self) -> Mapping[str, str] | None: ...
    @property
    def match_expressions(self) -> Sequence[Requirement] | None: ...


def selector_error(selector: Selector) -> str | None:
    """Why the selector is unusable (``ValidatedLabelSelectorAsSelector``), or ``None``."""
    if not selector.match_labels and not selector.match_expressions:
        return "selector is empty: it would select every pod in the namespace"
    for requirement in selector.match_expressions or ():
        has_values = bool(requirement.values)
        if requirement.operator in ("In", "NotIn") and not has_values:
            return f"selector requirement {requirement.key!r} {requirement.operator} needs values"
        if requirement.operator in ("Exists", "DoesNotExist") and has_values:
            return f"selector requirement {requirement.key!r} {requirement.operator} must have no values"
    return None


def selector_matches(selector: Selector, labels: Mapping[str, str]) -> bool:
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.match_expressions or ():
        present = requirement.key in labels
        values = requirement.values or []
        match requirement.operator:
            case "In":
                ok = present and labels[requirement.key] in values
            case "NotIn":
                ok = not present or labels[requirement.key] not in values
            case "Exists":
                ok = present
            case _:
                ok = not present
        if not ok:
            return False
    return True
