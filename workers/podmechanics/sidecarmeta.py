"""A SidecarSet's ``patchPodMetadata`` on a pod's annotations, and its allowed-annotations guard.

Shared by the SidecarSet worker (the in-place upgrade writes them, kruise v1.9.1
``pkg/controller/sidecarset`` ``updatePodSidecarAndHash``) and the webhook (injection). Pure;
follows ``pkg/control/sidecarcontrol/util.go``:

- ``patch_annotations`` is ``PatchPodMetadata``: each patch in order, ``Retain`` (or no policy)
  adds only keys the pod lacks, ``Overwrite`` sets them, ``MergePatchJson`` applies the value as
  an RFC 7386 merge patch to the pod's value (evanphx/json-patch ``MergePatch``, as kruise does,
  with its errors ``Invalid JSON Document`` / ``Invalid JSON Patch``), or sets it when the pod has
  none. kruise v1.9.1 has these three policies only (labels are not patched).
- ``whitelist_error`` is ``ValidateSidecarSetPatchMetadataWhitelist``: the
  ``SidecarSet_PatchPodMetadata_WhiteList`` entry of the ``kruise-configuration`` ConfigMap
  (rules with an optional SidecarSet label selector and ``allowedAnnotationKeyExprs`` regexes)
  must allow every patched annotation key; with no whitelist (or no rule selecting the set) the
  set is refused unless the ``SidecarSetPatchPodMetadataDefaultsAllowed`` gate is on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from schemas.kruise.rules import meta
from workers.podmechanics.gohash import go_json

WHITELIST_KEY = "SidecarSet_PatchPodMetadata_WhiteList"
CONFIGURATION_NAME = "kruise-configuration"


class MetadataPatchError(ValueError):
    """A ``MergePatchJson`` value or the pod's annotation is not JSON a merge patch can use."""


def _prune_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_nulls(v) for v in value]
    return value


def _merge(doc: Any, patch: Any) -> Any:
    """evanphx ``merge``: two objects merge key by key; otherwise the patch (nulls pruned)."""
    if isinstance(doc, dict) and isinstance(patch, dict):
        out = dict(doc)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif out.get(key) is None:
                out[key] = _prune_nulls(value)
            else:
                out[key] = _merge(out[key], value)
        return out
    return _prune_nulls(patch)


def merge_patch(doc: str, patch: str) -> str:
    """evanphx/json-patch ``MergePatch(doc, patch)`` as Go's JSON (map keys sorted)."""
    try:
        parsed_doc = json.loads(doc)
    except ValueError as exc:
        raise MetadataPatchError("Invalid JSON Document") from exc
    try:
        parsed_patch = json.loads(patch)
    except ValueError as exc:
        raise MetadataPatchError("Invalid JSON Patch") from exc
    if parsed_doc is None:
        raise MetadataPatchError("Invalid JSON Document")
    if parsed_patch is None:
        raise MetadataPatchError("Invalid JSON Patch")
    if isinstance(parsed_patch, dict) and isinstance(parsed_doc, dict):
        result = _merge(parsed_doc, parsed_patch)
    elif isinstance(parsed_patch, (dict, list)):  # not two objects: the patch itself
        result = _prune_nulls(parsed_patch)
    else:
        raise MetadataPatchError("Invalid JSON Patch")
    return go_json(result, sort_keys=True).decode()


def patch_annotations(annotations: Mapping[str, str], patches: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """``PatchPodMetadata``: the pod's annotations after ``patches`` (``spec.patchPodMetadata``);
    raises ``MetadataPatchError`` where kruise returns an error (the pod is then not written)."""
    out = dict(annotations)
    for patch in patches:
        policy = patch.get("patchPolicy") or "Retain"
        values = patch.get("annotations") or {}
        for key, value in values.items():
            key, value = str(key), str(value)
            if policy == "Retain":
                out.setdefault(key, value)
            elif policy == "Overwrite":
                out[key] = value
            elif policy == "MergePatchJson":
                origin = out.get(key, "")
                out[key] = merge_patch(origin, value) if origin else value
    return out


def whitelist_error(
    sidecarset: Mapping[str, Any], configuration: Mapping[str, str] | None, defaults_allowed: bool
) -> str | None:
    """``ValidateSidecarSetPatchMetadataWhitelist``'s message, or None when the set may patch.

    ``configuration`` is the ``kruise-configuration`` ConfigMap's data (None: no ConfigMap)."""
    spec = sidecarset.get("spec") or {}
    patches = [p for p in spec.get("patchPodMetadata") or () if isinstance(p, Mapping)]
    if not spec.get("patchPodMetadata"):
        return None
    raw = (configuration or {}).get(WHITELIST_KEY)
    if raw is None:
        return None if defaults_allowed else "SidecarSet patch metadata whitelist not found"
    try:
        whitelist = json.loads(raw)
    except ValueError as exc:
        return str(exc)
    labels = (sidecarset.get("metadata") or {}).get("labels") or {}
    expressions: list[re.Pattern[str]] = []
    for rule in (whitelist or {}).get("rules") or ():
        selector = rule.get("selector")
        if selector is not None and not meta.selector_matches(selector, labels):
            continue
        for expr in rule.get("allowedAnnotationKeyExprs") or ():
            try:
                expressions.append(re.compile(expr))
            except re.error as exc:
                return f"error parsing regexp: {exc}"
    if not expressions:
        return None if defaults_allowed else "sidecarSet patch metadata annotation is not allowed"
    for patch in patches:
        for key in patch.get("annotations") or {}:
            if not any(e.search(str(key)) for e in expressions):
                return f"sidecarSet patch metadata annotation({key}) is not allowed"
    return None
