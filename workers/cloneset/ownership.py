"""Which pods belong to a CloneSet: label selectors, controller references, adoption and release.

``claim_pods`` is kruise's ``ClaimOwnedObjects``: an orphan (no controller) that matches the
selector is adopted, an owned pod that no longer matches is released, pods controlled by
someone else are ignored. ``selector_string`` renders the selector the way
``labels.Selector.String()`` does, for ``status.labelSelector`` (scale subresource, HPA).
Pure; called by the ``planner`` and ``revisions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from schemas.kruise.cloneset import CloneSet
from schemas.kruise.pub import LabelSelector
from schemas.kruise.selectors import selector_error as selector_error  # re-exported
from schemas.kruise.selectors import selector_matches as selector_matches  # re-exported
from workers.podmechanics.kube_json import JsonDict, JsonObject, controller_ref
from workers.podmechanics.pods import PodView

CLONESET_API_VERSION = "apps.kruise.io/v1alpha1"
CLONESET_KIND = "CloneSet"


def cloneset_name(cloneset: CloneSet) -> str:
    return str(cloneset.metadata.get("name", ""))


def cloneset_namespace(cloneset: CloneSet) -> str:
    return str(cloneset.metadata.get("namespace", ""))


def cloneset_uid(cloneset: CloneSet) -> str:
    return str(cloneset.metadata.get("uid", ""))


def controller_reference(cloneset: CloneSet) -> JsonDict:
    """The ownerReference that makes the CloneSet the controller (garbage collection follows it)."""
    return {
        "apiVersion": CLONESET_API_VERSION,
        "kind": CLONESET_KIND,
        "name": cloneset_name(cloneset),
        "uid": cloneset_uid(cloneset),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def selector_string(selector: LabelSelector) -> str:
    """``metav1.LabelSelectorAsSelector(selector).String()``: requirements sorted by key."""
    parts: list[tuple[str, str]] = []
    for key, value in (selector.match_labels or {}).items():
        parts.append((key, f"{key}={value}"))
    for requirement in selector.match_expressions or ():
        values = ",".join(sorted(requirement.values or []))
        key = requirement.key
        rendered = {
            "In": f"{key} in ({values})",
            "NotIn": f"{key} notin ({values})",
            "Exists": key,
            "DoesNotExist": f"!{key}",
        }[requirement.operator]
        parts.append((key, rendered))
    return ",".join(text for _, text in sorted(parts, key=lambda part: part[0]))


@dataclass(frozen=True)
class PodClaims:
    """The CloneSet's pods after adoption and release decisions."""

    owned: tuple[PodView, ...]
    """Pods the CloneSet controls (including those it adopts now)."""
    adopt: tuple[PodView, ...]
    """Orphans to adopt: matching, no controller, not being deleted."""
    release: tuple[PodView, ...]
    """Owned pods that no longer match the selector."""


def is_owned_by(obj: JsonObject, uid: str) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == uid


def claim_pods(cloneset: CloneSet, pods: Sequence[PodView]) -> PodClaims:
    """Adopt matching orphans, release non-matching owned pods (``ClaimOwnedObjects``)."""
    uid = cloneset_uid(cloneset)
    selector = cloneset.spec.selector
    being_deleted = cloneset.metadata.get("deletionTimestamp") is not None
    owned: list[PodView] = []
    adopt: list[PodView] = []
    release: list[PodView] = []
    for pod in pods:
        matches = selector_matches(selector, pod.labels)
        ref = pod.controller
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if matches or being_deleted:
                owned.append(pod)
            else:
                release.append(pod)
        elif matches and not being_deleted and not pod.deleting:
            adopt.append(pod)
            owned.append(pod)
    return PodClaims(tuple(owned), tuple(adopt), tuple(release))
