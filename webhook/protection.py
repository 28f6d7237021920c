"""Deletion protection: ``policy.kruise.io/delete-protection: Always | Cascading`` (kruise v1.9.1).

kruise's ``pkg/webhook/util/deletionprotection`` and the handlers that call it, with the same
decisions and messages, behind the ``ResourcesDeletionProtection`` gate:

- Deployment, ReplicaSet, StatefulSet, CloneSet, Advanced StatefulSet, UnitedDeployment:
  ``Always`` refuses; ``Cascading`` refuses while ``spec.replicas`` > 0.
- Namespace: ``Always`` refuses; ``Cascading`` refuses while it has active pods, then while it
  has Bound PersistentVolumeClaims.
- CustomResourceDefinition: ``Always`` refuses; ``Cascading`` needs the
  ``DeletionProtectionForCRDCascadingGate`` gate and refuses while objects of it exist.
- Service, Ingress: ``Always`` refuses (kruise protects them with ``Always`` only).

An object already being deleted, a DELETE of a subresource or a request without ``oldObject``
is allowed, as kruise does. The decisions are pure; the namespace and CRD ``gather`` read the
counts they need first (:mod:`webhook.dispatch`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flotilla.runtime.errors import KubeError
from flotilla.runtime.features import Feature
from webhook.dispatch import NO_FACTS, AdmissionConfig, Cluster, Facts, Route, RouteKey
from webhook.review import AdmissionRequest, Verdict, allowed, denied

DELETION_PROTECTION_KEY = "policy.kruise.io/delete-protection"
ALWAYS = "Always"
CASCADING = "Cascading"

_FORBIDDEN = "forbidden by ResourcesProtectionDeletion for"


class MalformedObject(ValueError):
    """``oldObject`` is not the object its kind says (kruise's decoder fails: 400)."""


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata", {})
    if not isinstance(metadata, dict):
        raise MalformedObject("metadata must be an object")
    return metadata


def protection_value(obj: Mapping[str, Any]) -> str:
    """The object's ``policy.kruise.io/delete-protection`` label ('' when absent)."""
    labels = _metadata(obj).get("labels") or {}
    if not isinstance(labels, dict):
        raise MalformedObject("metadata.labels must be a map of strings")
    value = labels.get(DELETION_PROTECTION_KEY, "")
    if not isinstance(value, str):
        raise MalformedObject(f"label {DELETION_PROTECTION_KEY} must be a string")
    return value


def being_deleted(obj: Mapping[str, Any]) -> bool:
    return bool(_metadata(obj).get("deletionTimestamp"))


def spec_replicas(obj: Mapping[str, Any]) -> int | None:
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict):
        raise MalformedObject("spec must be an object")
    replicas = spec.get("replicas")
    if replicas is not None and (not isinstance(replicas, int) or isinstance(replicas, bool)):
        raise MalformedObject(f"spec.replicas must be an integer, got {replicas!r}")
    return replicas


def workload_deletion_error(obj: Mapping[str, Any], replicas: int | None) -> str:
    """kruise ``ValidateWorkloadDeletion``: the refusal message, '' when deletion is allowed."""
    if being_deleted(obj):
        return ""
    value = protection_value(obj)
    if value == ALWAYS:
        return f"{_FORBIDDEN} {DELETION_PROTECTION_KEY}={value}"
    if value == CASCADING and replicas is not None and replicas > 0:
        return f"{_FORBIDDEN} {DELETION_PROTECTION_KEY}={value} and replicas {replicas}>0"
    return ""


def always_only_deletion_error(obj: Mapping[str, Any]) -> str:
    """kruise ``ValidateServiceDeletion`` / ``ValidateIngressDeletion``: only ``Always`` protects."""
    if being_deleted(obj):
        return ""
    value = protection_value(obj)
    return f"{_FORBIDDEN} {DELETION_PROTECTION_KEY}={value}" if value == ALWAYS else ""


def namespace_deletion_error(namespace: Mapping[str, Any], facts: Facts) -> str:
    """kruise ``ValidateNamespaceDeletion``, given the counts :func:`gather_namespace` read."""
    if being_deleted(namespace):
        return ""
    value = protection_value(namespace)
    if value == ALWAYS:
        return f"{_FORBIDDEN} {DELETION_PROTECTION_KEY}={value}"
    if value != CASCADING:
        return ""
    if facts.error:
        return facts.error
    if facts.active_pods:
        return f"{_FORBIDDEN} {DELETION_PROTECTION_KEY}={value} and active pods {facts.active_pods}>0"
    if facts.bound_claims:
        return f'{_FORBIDDEN} {DELETION_PROTECTION_KEY}={value} and "Bound" status pvc {facts.bound_claims}>0'
    return ""


def crd_deletion_error(crd: Mapping[str, Any], facts: Facts, cascading_gate: bool) -> str:
    """kruise ``ValidateCRDDeletion``, given the count :func:`gather_crd` read."""
    if being_deleted(crd):
        return ""
    value = protection_value(crd)
    if value == ALWAYS:
        return f"{_FORBIDDEN} {DELETION_PROTECTION_KEY}={value}"
    if value != CASCADING:
        return ""
    if not cascading_gate:
        return f"feature-gate {Feature.DELETION_PROTECTION_FOR_CRD_CASCADING_GATE.value} is not enabled"
    if facts.error:
        return facts.error
    if facts.live_custom_resources:
        return (
            f"{_FORBIDDEN} {DELETION_PROTECTION_KEY}={value} and active CRs {facts.live_custom_resources}>0"
        )
    return ""


def storage_version(crd: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """``(group, version, plural, listKind)`` of the CRD's storage version ('' version when none)."""
    spec = crd.get("spec") or {}
    if not isinstance(spec, dict):
        raise MalformedObject("spec must be an object")
    names = spec.get("names") or {}
    versions = spec.get("versions") or []
    if not isinstance(names, dict) or not isinstance(versions, list):
        raise MalformedObject("spec.names must be an object and spec.versions a list")
    version = next(
        (str(v.get("name", "")) for v in versions if isinstance(v, dict) and v.get("storage") is True), ""
    )
    return str(spec.get("group", "")), version, str(names.get("plural", "")), str(names.get("listKind", ""))


def _checked(request: AdmissionRequest, config: AdmissionConfig) -> Mapping[str, Any] | None:
    """The old object when protection applies to this request; None when it is allowed outright."""
    if not config.gates[Feature.RESOURCES_DELETION_PROTECTION] or request.sub_resource:
        return None
    return request.old_object


def _verdict(message: str) -> Verdict:
    return denied(403, message) if message else allowed()


def protect_workload(request: AdmissionRequest, config: AdmissionConfig, _facts: Facts) -> Verdict:
    old = _checked(request, config)
    if old is None:
        return allowed()
    try:
        return _verdict(workload_deletion_error(old, spec_replicas(old)))
    except MalformedObject as err:
        return denied(400, f"cannot decode oldObject of {request.kind}: {err}")


def protect_always_only(request: AdmissionRequest, config: AdmissionConfig, _facts: Facts) -> Verdict:
    old = _checked(request, config)
    if old is None:
        return allowed()
    try:
        return _verdict(always_only_deletion_error(old))
    except MalformedObject as err:
        return denied(400, f"cannot decode oldObject of {request.kind}: {err}")


async def gather_namespace(request: AdmissionRequest, config: AdmissionConfig, cluster: Cluster) -> Facts:
    """Count active pods (then Bound claims) only for a ``Cascading`` namespace, as kruise lists them."""
    old = _checked(request, config)
    try:
        if old is None or being_deleted(old) or protection_value(old) != CASCADING:
            return NO_FACTS
    except MalformedObject:
        return NO_FACTS  # the handler refuses it with the decode error
    name = str(_metadata(old).get("name") or request.name)
    try:
        pods = await cluster.active_pods(name)
    except KubeError as err:
        return Facts(error=f"{_FORBIDDEN} list pods error: {err}")
    if pods:
        return Facts(active_pods=pods)
    try:
        return Facts(active_pods=0, bound_claims=await cluster.bound_claims(name))
    except KubeError as err:
        return Facts(error=f"{_FORBIDDEN} list pvc error: {err}")


def protect_namespace(request: AdmissionRequest, config: AdmissionConfig, facts: Facts) -> Verdict:
    old = _checked(request, config)
    if old is None:
        return allowed()
    try:
        return _verdict(namespace_deletion_error(old, facts))
    except MalformedObject as err:
        return denied(400, f"cannot decode oldObject of Namespace: {err}")


def _crd_applies(request: AdmissionRequest) -> bool:
    return request.version in ("v1", "v1beta1")  # kruise skips other CRD versions


async def gather_crd(request: AdmissionRequest, config: AdmissionConfig, cluster: Cluster) -> Facts:
    """Count the CRD's live objects only for a ``Cascading`` CRD with the cascading gate on."""
    old = _checked(request, config)
    try:
        if (
            old is None
            or not _crd_applies(request)
            or not config.gates[Feature.DELETION_PROTECTION_FOR_CRD_CASCADING_GATE]
            or being_deleted(old)
            or protection_value(old) != CASCADING
        ):
            return NO_FACTS
        group, version, plural, list_kind = storage_version(old)
    except MalformedObject:
        return NO_FACTS
    try:
        return Facts(live_custom_resources=await cluster.live_custom_resources(group, version, plural))
    except KubeError as err:
        return Facts(error=f"failed to list CRs of {group}/{version}, Kind={list_kind}: {err}")


def protect_crd(request: AdmissionRequest, config: AdmissionConfig, facts: Facts) -> Verdict:
    old = _checked(request, config)
    if old is None or not _crd_applies(request):
        return allowed()
    try:
        gate = config.gates[Feature.DELETION_PROTECTION_FOR_CRD_CASCADING_GATE]
        return _verdict(crd_deletion_error(old, facts, gate))
    except MalformedObject as err:
        return denied(400, f"cannot decode oldObject of CustomResourceDefinition: {err}")


_WORKLOAD = Route(protect_workload)
_ALWAYS_ONLY = Route(protect_always_only)

#: Every DELETE kruise v1.9.1 guards with the delete-protection label.
ROUTES: Mapping[RouteKey, Route] = {
    ("", "Namespace", "DELETE"): Route(protect_namespace, gather_namespace),
    ("apiextensions.k8s.io", "CustomResourceDefinition", "DELETE"): Route(protect_crd, gather_crd),
    ("apps", "Deployment", "DELETE"): _WORKLOAD,
    ("apps", "ReplicaSet", "DELETE"): _WORKLOAD,
    ("apps", "StatefulSet", "DELETE"): _WORKLOAD,
    ("apps.kruise.io", "CloneSet", "DELETE"): _WORKLOAD,
    ("apps.kruise.io", "StatefulSet", "DELETE"): _WORKLOAD,
    ("apps.kruise.io", "UnitedDeployment", "DELETE"): _WORKLOAD,
    ("", "Service", "DELETE"): _ALWAYS_ONLY,
    ("networking.k8s.io", "Ingress", "DELETE"): _ALWAYS_ONLY,
}
