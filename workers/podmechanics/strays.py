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
relabelled both out of the selector and off the anchor, or to a foreign revision (e.g. stripped
of all its labels). For those, :func:`owned_pods_missing` tells a shell when one namespace-wide
LIST (kruise's read) is worth its cost: when the selector LIST returned fewer owned pods than the
workload's last status counted (a pod left the selector, lost its labels, or was deleted since).
That LIST then replaces the stray LISTs (it returns everything they would), so a steady
reconcile still reads only its own pods; :func:`owned_strays` picks the workload's owned pods
out of either. Pure; called by the CloneSet and StatefulSet shells' ``observe``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from schemas.kruise.pub import LabelSelector
from workers.podmechanics.kube_json import JsonObject, uid_of
from workers.podmechanics.ownership import is_owned_by


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


Pod = TypeVar("Pod", bound=JsonObject)


def owned_strays(found: Iterable[Pod], owner_uid: str, seen: set[str]) -> list[Pod]:
    """The pods of ``found`` the owner controls that are not in ``seen`` (uids; extended)."""
    strays: list[Pod] = []
    for pod in found:
        uid = uid_of(pod)
        if uid not in seen and is_owned_by(pod, owner_uid):
            seen.add(uid)
            strays.append(pod)
    return strays


def owned_pods_missing(last_counted: int, found: Iterable[JsonObject], owner_uid: str) -> bool:
    """Fewer pods the owner controls came back (from its selector LIST) than its last status
    counted (``status.replicas``): one may have left the selector, lost the labels every selector
    LIST relies on, or been deleted since."""
    return sum(1 for pod in found if is_owned_by(pod, owner_uid)) < last_counted
