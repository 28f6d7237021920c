"""Label selectors that find a workload's strays: its pods that no longer match its selector.

kruise lists every pod in the namespace and releases the owned ones its selector misses
(``ClaimPods``). Flotilla lists by the selector, so the strays need their own lists: a pod fails a
selector when it fails one of its requirements, so the workload's pods that fail it are the union,
over the requirements, of the pods matching that requirement's negation (``k=v`` -> ``k!=v``,
``in`` -> ``notin``, ``Exists`` -> ``!k``, ...; ``!=`` and ``notin`` also match pods without the
key, as a failed ``=`` / ``in`` does). Each negation is anchored on a label every pod of that kind
of workload carries (CloneSet: ``apps.kruise.io/cloneset-instance-id``; StatefulSet:
``statefulset.kubernetes.io/pod-name``) and narrowed to the pods this workload made: those whose
revision label (``pod-template-hash`` / ``controller-revision-hash``) is one of its revisions',
plus those without that label (removed along with the selector's), so a reconcile does not read
every other workload's pods in the namespace. Still missed, as no label selector can tell: a pod
relabelled both out of the selector and off the anchor, or to a foreign revision. Pure; called by
the CloneSet and StatefulSet shells' ``observe``.
"""

from __future__ import annotations

from collections.abc import Iterable

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


def stray_selectors(
    selector: LabelSelector, anchor_label: str, revision_label: str, revisions: Iterable[str]
) -> tuple[str, ...]:
    """Label selectors (two per requirement) that together list the pods carrying ``anchor_label``
    whose ``revision_label`` is one of ``revisions`` or absent, that the selector misses.

    An empty selector matches every pod: nothing can stray, so there is nothing to list.
    """
    values = ",".join(sorted(set(revisions)))
    made = [f"{revision_label} in ({values})"] if values else []
    return tuple(
        f"{anchor_label},{origin},{negation}"
        for negation in _negations(selector)
        for origin in [*made, f"!{revision_label}"]
    )
