"""Label selectors that find a CloneSet's strays: its pods that no longer match its selector.

A pod fails a selector when it fails one of its requirements, so the pods carrying
``apps.kruise.io/cloneset-instance-id`` that fail the selector are the union, over the
requirements, of the pods matching that requirement's negation (``k=v`` -> ``k!=v``,
``in`` -> ``notin``, ``Exists`` -> ``!k``, ...; ``!=`` and ``notin`` also match pods without the
key, as a failed ``=`` / ``in`` does). ``observe`` lists each of these, usually empty, instead of
every CloneSet pod in the namespace. Pure.
"""

from __future__ import annotations

from schemas.kruise.cloneset import CLONESET_INSTANCE_ID_LABEL
from schemas.kruise.pub import LabelSelector


def _negations(selector: LabelSelector) -> list[str]:
    negated = [f"{key}!={value}" for key, value in sorted((selector.match_labels or {}).items())]
    for requirement in selector.match_expressions or ():
        key = requirement.key
        values = ",".join(sorted(requirement.values or []))
        negated.append(
            {
                "In": f"{key} notin ({values})",
                "NotIn": f"{key} in ({values})",
                "Exists": f"!{key}",
                "DoesNotExist": key,
            }[requirement.operator]
        )
    return negated


def stray_selectors(selector: LabelSelector) -> tuple[str, ...]:
    """One label selector per requirement; together they list every instance pod the selector misses.

    An empty selector matches every pod: nothing can stray, so there is nothing to list.
    """
    return tuple(f"{CLONESET_INSTANCE_ID_LABEL},{negation}" for negation in _negations(selector))
