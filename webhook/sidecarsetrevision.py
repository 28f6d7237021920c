"""Which revision of a SidecarSet a new pod gets: kruise's ``injectionStrategy.revision``.

Pure part of kruise v1.9.1 ``pkg/webhook/pod/mutating/sidecarset.go``
``getSuitableRevisionSidecarSet`` (the pod CREATE branch) and
``pkg/control/sidecarcontrol/history_control.go`` ``GetHistorySidecarSet`` /
``restoreRevisionInfo``:

- ``wants_revision``: ``revision`` names a ``revisionName`` or a ``customVersion``;
- ``restore``: the SidecarSet as a ControllerRevision recorded it (the revision's data is a
  strategic-merge patch whose ``spec`` carries ``$patch: replace``, so the restored spec is the
  recorded fields only), its hash annotations from the revision's (or computed when the revision
  has none) and ``status.latestRevision`` = the revision's name;
- ``choose``: the restored one when ``updateStrategy.paused``; policy ``Partial``: the restored
  one for a pod the update strategy's selector does not select, else the restored one with the
  probability of a percent ``partition`` (``selectRevisionRandomly``; ``draw`` is the random
  number in [0, 1)), the latest for an int partition; policy ``Always`` (default): the restored one.

:func:`find` is kruise's ``getControllerRevision``: the ControllerRevision by ``revisionName``
(an exact GET), else the newest (``history.SortControllerRevisions``) of those labelled
``kruise.io/sidecarset-name=<set>`` and ``apps.kruise.io/sidecarset-custom-version=<version>``,
in the namespace the revisions live in (the webhook's :class:`~webhook.dispatch.Cluster` knows
it); None when there is none (the pod is refused with :func:`not_found`, a SidecarSet with
:func:`admission_error`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from schemas.kruise.rules import meta
from schemas.kruise.rules.sidecarset import sidecarset_hash
from schemas.kruise.sidecarset import (
    SIDECARSET_CUSTOM_VERSION_LABEL,
    SIDECARSET_HASH_ANNOTATION,
    SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION,
)
from workers.podmechanics.revisions import sort_revisions

#: The label kruise puts on every ControllerRevision of a SidecarSet (``SidecarSetKindName``).
SIDECARSET_NAME_LABEL = "kruise.io/sidecarset-name"


class RevisionReader(Protocol):
    async def read_controller_revision(self, name: str) -> Mapping[str, Any] | None: ...

    async def list_controller_revisions(self, label_selector: str) -> Sequence[Mapping[str, Any]]: ...


class RevisionChoiceError(ValueError):
    """kruise returns an error (the pod is refused with 500)."""


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _revision_info(sidecarset: Mapping[str, Any]) -> Mapping[str, Any]:
    return _dict(_dict(_dict(sidecarset.get("spec")).get("injectionStrategy")).get("revision"))


def wants_revision(sidecarset: Mapping[str, Any]) -> bool:
    info = _revision_info(sidecarset)
    return info.get("revisionName") is not None or info.get("customVersion") is not None


def restore(sidecarset: Mapping[str, Any], revision: Mapping[str, Any]) -> dict[str, Any]:
    """``GetHistorySidecarSet``: ``sidecarset`` with the revision's recorded spec."""
    out: dict[str, Any] = copy.deepcopy(dict(sidecarset))
    recorded = dict(_dict(_dict(revision.get("data")).get("spec")))
    if recorded.pop("$patch", None) == "replace":
        spec: dict[str, Any] = {}
    else:
        spec = dict(_dict(out.get("spec")))
    spec.update({k: v for k, v in recorded.items() if v is not None})
    out["spec"] = spec
    metadata = dict(_dict(out.get("metadata")))
    annotations = {str(k): str(v) for k, v in _dict(metadata.get("annotations")).items()}
    kept = _dict(_dict(revision.get("metadata")).get("annotations"))
    annotations[SIDECARSET_HASH_ANNOTATION] = str(
        kept.get(SIDECARSET_HASH_ANNOTATION) or sidecarset_hash(spec)
    )
    annotations[SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION] = str(
        kept.get(SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION) or sidecarset_hash(spec, without_image=True)
    )
    metadata["annotations"] = annotations
    out["metadata"] = metadata
    out["status"] = {
        **_dict(out.get("status")),
        "latestRevision": _dict(revision.get("metadata")).get("name"),
    }
    return out


def _percent(value: str) -> float:
    """``ParsePercentageAsFloat64``."""
    if not value.endswith("%"):
        raise RevisionChoiceError("invalid type: string is not a percentage")
    try:
        return float(value[:-1]) / 100
    except ValueError as exc:
        raise RevisionChoiceError(f'strconv.ParseFloat: parsing "{value[:-1]}": invalid syntax') from exc


def not_found(sidecarset: Mapping[str, Any]) -> str:
    """kruise's error when the pinned revision does not exist (the pod is refused with 500): the API
    server's NotFound for a ``revisionName``, ``generateNotFoundError`` for a ``customVersion``."""
    info = _revision_info(sidecarset)
    if info.get("revisionName") is not None:
        return f'controllerrevisions.apps "{info["revisionName"]}" not found'
    return f'ControllerRevision.apps "{_dict(sidecarset.get("metadata")).get("name")}" not found'


def choose(
    sidecarset: Mapping[str, Any], history: Mapping[str, Any], pod_labels: Mapping[str, str], draw: float
) -> Mapping[str, Any]:
    """The SidecarSet a new pod is injected with: ``history`` (restored) or the latest."""
    strategy = _dict(_dict(sidecarset.get("spec")).get("updateStrategy"))
    if strategy.get("paused"):
        return history
    if _revision_info(sidecarset).get("policy") != "Partial":
        return history
    selector = strategy.get("selector")
    if selector is not None and not meta.selector_matches(selector, pod_labels):
        return history
    partition = strategy.get("partition")
    if not isinstance(partition, str):
        return sidecarset
    return history if draw <= _percent(partition) else sidecarset


def custom_version_selector(sidecarset: Mapping[str, Any]) -> str:
    """The label selector of the revisions of ``sidecarset`` with its pinned ``customVersion``."""
    name = _dict(sidecarset.get("metadata")).get("name")
    version = _revision_info(sidecarset).get("customVersion")
    return f"{SIDECARSET_NAME_LABEL}={name},{SIDECARSET_CUSTOM_VERSION_LABEL}={version}"


def newest(revisions: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The last of ``history.SortControllerRevisions`` (None for none)."""
    ordered = sort_revisions([dict(r) for r in revisions])
    return ordered[-1] if ordered else None


async def find(reader: RevisionReader, sidecarset: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ControllerRevision ``injectionStrategy.revision`` pins (None: none found)."""
    info = _revision_info(sidecarset)
    if info.get("revisionName") is not None:
        return await reader.read_controller_revision(str(info["revisionName"]))
    return newest(await reader.list_controller_revisions(custom_version_selector(sidecarset)))


def admission_error(sidecarset: Mapping[str, Any], revision: Mapping[str, Any] | None) -> str | None:
    """``validateSidecarSetInjectionStrategy``'s ``Cannot find specific ControllerRevision``
    detail for a SidecarSet whose pinned revision does not exist (None: found, or nothing pinned)."""
    if not wants_revision(sidecarset) or revision is not None:
        return None
    return f"Cannot find specific ControllerRevision, err: {not_found(sidecarset)}"
