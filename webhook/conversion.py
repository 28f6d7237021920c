"""CRD conversion: ``/convert`` (ConversionReview v1) and the CRDs' ``spec.conversion`` it keeps.

:func:`answer_review` turns a ConversionReview's body into the response: every object converted
by :func:`schemas.kruise.conversion.convert` (kruise's ``ConvertTo`` / ``ConvertFrom``), or a
``Failure`` result with the reason, never an exception: a body that is not a ConversionReview
(or has no ``request.uid``) raises :class:`MalformedConversion`, which the server answers with a
400. :func:`ensure_crd_conversion` is kruise-manager's ``crd.Ensure``: on each CRD Flotilla
converts by webhook it sets ``strategy: Webhook`` with this server's clientConfig and caBundle
(by Service inside a cluster, by URL on loopback outside), at start and on every certificate
upkeep round, so a rotated CA reaches the CRDs as it reaches the webhook configurations.

Which CRDs: those kruise v1.9.1 itself converts by webhook (``config/crd/patches/webhook_in_*``:
Advanced StatefulSet, SidecarSet; Advanced DaemonSet is not shipped). Its other two-version kinds
(BroadcastJob, AdvancedCronJob, ImagePullJob, NodeImage) keep ``None`` as in kruise. The generated
CRDs carry ``None`` (a cluster without the webhook keeps working); the webhook switches them.
"""

from __future__ import annotations

import base64
import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from flotilla.runtime.errors import Conflict, NotFound
from flotilla.runtime.kube import JsonObject, KubeClient, Resource
from schemas.kruise.conversion import ConversionError, convert

log = logging.getLogger(__name__)

CONVERT_PATH = "/convert"
CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False)
#: The CRDs kruise v1.9.1 converts with its webhook (the others convert with ``None``).
WEBHOOK_CONVERTED_CRDS = ("statefulsets.apps.kruise.io", "sidecarsets.apps.kruise.io")
REVIEW_API_VERSION = "apiextensions.k8s.io/v1"


class MalformedConversion(ValueError):
    """The body is not a ConversionReview v1 with a request uid."""


@dataclass(frozen=True)
class ConversionOutcome:
    """What one review came to: the response body, and for spans/metrics/logs its summary."""

    response: dict[str, Any]
    kind: str
    desired: str
    count: int
    failure: str


def _review(uid: str, result: dict[str, str], converted: list[Any]) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": uid, "result": result}
    if result["status"] == "Success":
        response["convertedObjects"] = converted
    return {"apiVersion": REVIEW_API_VERSION, "kind": "ConversionReview", "response": response}


def answer_review(body: bytes) -> ConversionOutcome:
    """The ConversionReview response for ``body`` (pure); :class:`MalformedConversion` without a uid."""
    try:
        review = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise MalformedConversion(f"not JSON: {err}") from None
    request = review.get("request") if isinstance(review, dict) else None
    uid = request.get("uid") if isinstance(request, dict) else None
    if not isinstance(request, dict) or not isinstance(uid, str) or not uid:
        raise MalformedConversion("not a ConversionReview: request.uid is missing")
    desired = request.get("desiredAPIVersion")
    objects = request.get("objects")

    def failed(message: str, kind: str = "") -> ConversionOutcome:
        result = {"status": "Failure", "message": message}
        return ConversionOutcome(_review(uid, result, []), kind, str(desired or ""), 0, message)

    if not isinstance(desired, str) or "/" not in desired:
        return failed(f"request.desiredAPIVersion must be group/version, got {desired!r}")
    if not isinstance(objects, list):
        return failed("request.objects must be a list")
    converted: list[Any] = []
    kind = ""
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            return failed(f"request.objects[{index}] is not an object")
        kind = str(obj.get("kind", ""))
        try:
            converted.append(convert(obj, desired))
        except ConversionError as err:
            metadata = obj.get("metadata") or {}
            name = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}".lstrip("/")
            return failed(f"{kind} {name}: {err}", kind)
    result = {"status": "Success"}
    return ConversionOutcome(_review(uid, result, converted), kind, desired, len(converted), "")


def conversion_client_config(
    ca_bundle: bytes, url_base: str | None, namespace: str, service_name: str
) -> dict[str, Any]:
    """kruise ``crd.Ensure``'s clientConfig: a URL when registered by URL, else the Service on 443."""
    config: dict[str, Any] = {"caBundle": base64.b64encode(ca_bundle).decode()}
    if url_base is not None:
        config["url"] = url_base.rstrip("/") + CONVERT_PATH
    else:
        config["service"] = {
            "namespace": namespace,
            "name": service_name,
            "port": 443,
            "path": CONVERT_PATH,
        }
    return config


def webhook_conversion(client_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "strategy": "Webhook",
        "webhook": {"clientConfig": client_config, "conversionReviewVersions": ["v1"]},
    }


def patched_crd(crd: JsonObject, client_config: dict[str, Any]) -> JsonObject:
    """``crd`` converting through this webhook (pure); a single-version CRD is left as it is."""
    result = copy.deepcopy(crd)
    spec = result.get("spec") or {}
    if len(spec.get("versions") or []) < 2:
        return result
    spec["conversion"] = webhook_conversion(client_config)
    return result


async def ensure_crd_conversion(
    kube: KubeClient, client_config: dict[str, Any], names: Sequence[str] = WEBHOOK_CONVERTED_CRDS
) -> list[str]:
    """Point every named CRD's conversion at this webhook; the names not found (retried next round)."""
    missing: list[str] = []
    for name in names:
        path = CRDS.path(name=name)
        try:
            crd = await kube.get(path)
        except NotFound:
            missing.append(name)
            continue
        wanted = patched_crd(crd, client_config)
        if wanted == crd:
            continue
        try:
            await kube.replace(path, wanted)  # carries the resourceVersion read
        except Conflict:
            log.info("CRD %s changed while setting its conversion webhook; next round", name)
            continue
        log.info("CRD %s converts through %s", name, CONVERT_PATH)
    return missing
