"""Which pods belong to a workload: label selectors, controller references, adoption and release.

``claim_pods`` is kruise's ``ClaimOwnedObjects`` (the controller ref manager): an orphan (no
controller) that matches the selector is adopted, an owned pod that no longer matches is
released, pods controlled by someone else are ignored; ``adopt_patch`` / ``release_patch`` are
the pod patches that do it. ``owner_reference`` is the controller ownerReference a workload puts
on what it creates (garbage collection follows it). ``selector_string`` renders a selector the
way ``labels.Selector.String()`` does, for ``status.labelSelector`` (scale subresource, HPA).
Pure; called by the workload planners and ``revisions``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from schemas.kruise.pub import LabelSelector
from schemas.kruise.selectors import selector_error as selector_error  # re-exported
from schemas.kruise.selectors import selector_matches as selector_matches  # re-exported
from workers.podmechanics.kube_json import JsonDict, JsonObject, controller_ref
from workers.podmechanics.pods import PodView


def owner_reference(
    api_version: str, kind: str, metadata: Mapping[str, object], *, controller: bool = True
) -> JsonDict:
    """An ownerReference to the object ``metadata`` describes: by default the controller reference
    (``controller`` and ``blockOwnerDeletion`` true, what ``metav1.NewControllerRef`` writes);
    ``controller=False`` gives a plain owner (garbage collection only, e.g. a retained PVC's)."""
    ref: JsonDict = {
        "apiVersion": api_version,
        "kind": kind,
        "name": str(metadata.get("name", "")),
        "uid": str(metadata.get("uid", "")),
    }
    if controller:
        ref["controller"] = True
        ref["blockOwnerDeletion"] = True
    return ref


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
    """A workload's pods after adoption and release decisions."""

    owned: tuple[PodView, ...]
    """Pods the workload controls (including those it adopts now)."""
    adopt: tuple[PodView, ...]
    """Orphans to adopt: matching, no controller, not being deleted."""
    release: tuple[PodView, ...]
    """Owned pods that no longer match the selector."""


def is_owned_by(obj: JsonObject, uid: str) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == uid


def claim_pods(
    owner_uid: str,
    selector: LabelSelector,
    owner_deleting: bool,
    pods: Sequence[PodView],
    member: Callable[[PodView], bool] | None = None,
) -> PodClaims:
    """Adopt matching orphans, release non-matching owned pods (``ClaimOwnedObjects``).

    ``owner_deleting``: the workload has a ``deletionTimestamp`` (it then adopts nothing and
    releases nothing: every pod it controls stays its own). ``member``: the ref manager's extra
    filter (the StatefulSet's ``isMemberOf``: named ``<set>-<ordinal>``); a pod it refuses matches
    no more than one the selector misses."""
    owned: list[PodView] = []
    adopt: list[PodView] = []
    release: list[PodView] = []
    for pod in pods:
        matches = selector_matches(selector, pod.labels) and (member is None or member(pod))
        ref = pod.controller
        if ref is not None:
            if ref.get("uid") != owner_uid:
                continue
            if matches or owner_deleting:
                owned.append(pod)
            else:
                release.append(pod)
        elif matches and not owner_deleting and not pod.deleting:
            adopt.append(pod)
            owned.append(pod)
    return PodClaims(tuple(owned), tuple(adopt), tuple(release))


def adopt_patch(owner: JsonObject, pod: PodView) -> JsonDict:
    """The pod patch that adopts ``pod``: ``owner`` (an ownerReference) joins its ownerReferences.

    The pod's uid is a precondition, so a pod deleted and re-created under the name is not adopted."""
    return {"metadata": {"ownerReferences": [dict(owner)], "uid": pod.uid}}


def release_patch(owner_uid: str, pod: PodView) -> JsonDict:
    """The pod patch that releases ``pod``: the owner's reference is removed (strategic merge by uid)."""
    return {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": owner_uid}], "uid": pod.uid}}
