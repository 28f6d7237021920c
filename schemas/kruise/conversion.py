"""Conversion between the API versions kruise v1.9.1 serves, on Kubernetes JSON (pure functions).

v1beta1 is the hub (the storage version). What each function keeps and drops is what kruise's
``ConvertTo`` / ``ConvertFrom`` do (``apis/apps/v1alpha1/*_conversion.go``,
``apis/apps/v1beta1/*_conversion.go``):

* Advanced StatefulSet: v1alpha1 has a subset of the fields; going down drops the v1beta1-only
  ones (reserveOrdinals, lifecycle, scaleStrategy, PVC retention, ordinals,
  volumeClaimUpdateStrategy and the newer status counters).
* SidecarSet: v1alpha1 ``spec.namespace`` becomes a v1beta1 ``namespaceSelector`` on
  ``kubernetes.io/metadata.name`` (and wins over a namespaceSelector); v1alpha1's custom-version
  *label* is v1beta1's ``spec.customVersion``.
* AdvancedCronJob: 1:1 except that an ``imageListPullJobTemplate`` cannot go down
  (:class:`ConversionError`, kruise's message).
* NodeImage: going down drops ``pullSecrets[].mode``.
* BroadcastJob, ImagePullJob, ImageListPullJob: only ``apiVersion`` changes.

The CRDs convert with ``None`` today (docs/schemas.md says why); the admission/conversion server of
issue #11 serves these functions at ``/convert`` through :func:`convert`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

KubeJson = dict[str, Any]

GROUP = "apps.kruise.io"
HUB = "v1beta1"
SPOKE = "v1alpha1"
SIDECARSET_CUSTOM_VERSION_LABEL = "apps.kruise.io/sidecarset-custom-version"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


class ConversionError(ValueError):
    """The object cannot be represented at the requested version; the message says why."""


def _with_version(obj: KubeJson, version: str) -> KubeJson:
    out = copy.deepcopy(obj)
    out["apiVersion"] = f"{GROUP}/{version}"
    return out


def _keep(source: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: copy.deepcopy(source[k]) for k in keys if k in source}


# --- Advanced StatefulSet ---------------------------------------------------------------------

_STS_SPEC = (
    "replicas",
    "selector",
    "template",
    "volumeClaimTemplates",
    "serviceName",
    "podManagementPolicy",
    "revisionHistoryLimit",
)
_STS_ROLLING = (
    "partition",
    "maxUnavailable",
    "podUpdatePolicy",
    "paused",
    "inPlaceUpdateStrategy",
    "minReadySeconds",
)
_STS_STATUS = (
    "observedGeneration",
    "replicas",
    "readyReplicas",
    "availableReplicas",
    "currentReplicas",
    "updatedReplicas",
    "currentRevision",
    "updateRevision",
    "collisionCount",
    "conditions",
    "labelSelector",
)


def _sts_common(obj: KubeJson, version: str) -> KubeJson:
    """The fields both StatefulSet versions have (kruise copies exactly these either way)."""
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("spec", "status")}
    out["apiVersion"] = f"{GROUP}/{version}"
    spec = obj.get("spec") or {}
    new_spec = _keep(spec, _STS_SPEC)
    strategy = spec.get("updateStrategy") or {}
    new_strategy = _keep(strategy, ("type",))
    rolling = strategy.get("rollingUpdate")
    if rolling is not None:
        new_rolling = _keep(rolling, _STS_ROLLING)
        unordered = rolling.get("unorderedUpdate")
        if unordered is not None:
            new_rolling["unorderedUpdate"] = _keep(unordered, ("priorityStrategy",))
        new_strategy["rollingUpdate"] = new_rolling
    new_spec["updateStrategy"] = new_strategy
    out["spec"] = new_spec
    if "status" in obj:
        out["status"] = _keep(obj["status"] or {}, _STS_STATUS)
    return out


def statefulset_to_v1alpha1(obj: KubeJson) -> KubeJson:
    """v1beta1 → v1alpha1: the v1beta1-only fields are dropped."""
    return _sts_common(obj, SPOKE)


def statefulset_to_v1beta1(obj: KubeJson) -> KubeJson:
    """v1alpha1 → v1beta1: every v1alpha1 field is carried."""
    return _sts_common(obj, HUB)


# --- SidecarSet --------------------------------------------------------------------------------


def sidecarset_to_v1beta1(obj: KubeJson) -> KubeJson:
    """v1alpha1 → v1beta1: namespace into namespaceSelector, the custom-version label into the spec."""
    out = _with_version(obj, HUB)
    spec = out.setdefault("spec", {})
    namespace = spec.pop("namespace", None)
    if namespace:
        spec["namespaceSelector"] = {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}}
    spec.pop("customVersion", None)
    labels = (out.get("metadata") or {}).get("labels")
    if labels and SIDECARSET_CUSTOM_VERSION_LABEL in labels:
        custom = labels.pop(SIDECARSET_CUSTOM_VERSION_LABEL)
        if custom:
            spec["customVersion"] = custom
        if not labels:  # Go's omitempty: no labels map once the last label is gone
            del out["metadata"]["labels"]
    return out


def sidecarset_to_v1alpha1(obj: KubeJson) -> KubeJson:
    """v1beta1 → v1alpha1: customVersion back into the label (namespaceSelector stays)."""
    out = _with_version(obj, SPOKE)
    spec = out.setdefault("spec", {})
    spec.pop("namespace", None)
    custom = spec.pop("customVersion", None)
    if custom:
        metadata = out.setdefault("metadata", {})
        metadata.setdefault("labels", {})[SIDECARSET_CUSTOM_VERSION_LABEL] = custom
    return out


# --- AdvancedCronJob, NodeImage, BroadcastJob, ImagePullJob ------------------------------------


def advancedcronjob_to_v1alpha1(obj: KubeJson) -> KubeJson:
    """v1beta1 → v1alpha1; an ImageListPullJob template has no v1alpha1 form."""
    template = (obj.get("spec") or {}).get("template") or {}
    if template.get("imageListPullJobTemplate") is not None:
        raise ConversionError("imageListPullJobTemplate is not supported in v1alpha1")
    return _with_version(obj, SPOKE)


def nodeimage_to_v1alpha1(obj: KubeJson) -> KubeJson:
    """v1beta1 → v1alpha1: ``pullSecrets[].mode`` is dropped."""
    out = _with_version(obj, SPOKE)
    for image in ((out.get("spec") or {}).get("images") or {}).values():
        for secret in (image or {}).get("pullSecrets") or []:
            secret.pop("mode", None)
    return out


def to_v1beta1(obj: KubeJson) -> KubeJson:
    """Any of the 1:1 kinds (and AdvancedCronJob, NodeImage) v1alpha1 → v1beta1."""
    return _with_version(obj, HUB)


def to_v1alpha1(obj: KubeJson) -> KubeJson:
    """BroadcastJob, ImagePullJob, ImageListPullJob v1beta1 → v1alpha1."""
    return _with_version(obj, SPOKE)


#: (kind, target version) → the function; what ``/convert`` dispatches on.
CONVERTERS: dict[tuple[str, str], Callable[[KubeJson], KubeJson]] = {
    ("StatefulSet", SPOKE): statefulset_to_v1alpha1,
    ("StatefulSet", HUB): statefulset_to_v1beta1,
    ("SidecarSet", SPOKE): sidecarset_to_v1alpha1,
    ("SidecarSet", HUB): sidecarset_to_v1beta1,
    ("AdvancedCronJob", SPOKE): advancedcronjob_to_v1alpha1,
    ("AdvancedCronJob", HUB): to_v1beta1,
    ("NodeImage", SPOKE): nodeimage_to_v1alpha1,
    ("NodeImage", HUB): to_v1beta1,
    ("BroadcastJob", SPOKE): to_v1alpha1,
    ("BroadcastJob", HUB): to_v1beta1,
    ("ImagePullJob", SPOKE): to_v1alpha1,
    ("ImagePullJob", HUB): to_v1beta1,
    ("ImageListPullJob", SPOKE): to_v1alpha1,
    ("ImageListPullJob", HUB): to_v1beta1,
}


def convert(obj: KubeJson, desired_api_version: str) -> KubeJson:
    """``obj`` at ``desired_api_version`` (a ConversionReview's desiredAPIVersion).

    Same version: a copy. Raises :class:`ConversionError` for a kind or version kruise does not
    convert, or an object the target version cannot hold.
    """
    group, _, version = desired_api_version.rpartition("/")
    kind = obj.get("kind", "")
    if group != GROUP:
        raise ConversionError(f"cannot convert {kind} to {desired_api_version}: not group {GROUP}")
    if obj.get("apiVersion") == desired_api_version:
        return copy.deepcopy(obj)
    converter = CONVERTERS.get((kind, version))
    if converter is None:
        raise ConversionError(f"kruise does not convert {kind} to {desired_api_version}")
    return converter(obj)
