"""Label selectors that find a CloneSet's strays: its pods that no longer match its selector.

A pod fails a selector when it fails one of its requirements, so the pods carrying
``apps.kruise.io/cloneset-instance-id`` that fail the selector are the union, over the
requirements, of the pods matching that requirement's negation (``k=v`` -> ``k!=v``,
``in`` -> ``notin``, ``Exists`` -> ``!k``, ...; ``!=`` and ``notin`` also match pods without the
key, as a failed ``=`` / ``in`` does). ``observe`` lists each of these, usually empty, instead of
every CloneSet pod in the namespace.

Each negation alone would still match every pod of every *other* CloneSet in the namespace (20
CloneSets of 50 pods: each reconcile read ~1,000 foreign pods, most of a worker's CPU went to
decoding them). So each is narrowed to the pods this CloneSet made: those whose
``pod-template-hash`` is one of its revisions' hashes (every pod it creates carries it), plus those
without that label (removed along with the selector's). Still missed, as no label selector can
tell: an owned pod relabelled both out of the selector and to a foreign template hash. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas.kruise.cloneset import CLONESET_INSTANCE_ID_LABEL
from schemas.kruise.pub import POD_TEMPLATE_HASH_LABEL, LabelSelector


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


def stray_selectors(selector: LabelSelector, template_hashes: Iterable[str]) -> tuple[str, ...]:
    """Label selectors (two per requirement) that together list the instance pods with one of
    ``template_hashes`` (the short hashes of the CloneSet's revisions) or none, that the selector
    misses.

    An empty selector matches every pod: nothing can stray, so there is nothing to list.
    """
    hashes = ",".join(sorted(set(template_hashes)))
    made = [f"{POD_TEMPLATE_HASH_LABEL} in ({hashes})"] if hashes else []
    return tuple(
        f"{CLONESET_INSTANCE_ID_LABEL},{origin},{negation}"
        for negation in _negations(selector)
        for origin in [*made, f"!{POD_TEMPLATE_HASH_LABEL}"]
    )
