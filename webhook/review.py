"""AdmissionReview v1 on the wire: parse a request, build a response (pure, no I/O).

:func:`parse_review` turns the API server's JSON body into an :class:`AdmissionRequest` or raises
:class:`ReviewError` with a message saying what is wrong (the server answers it with a 400 and
never crashes); :func:`review_response` wraps a :class:`Verdict` back into an AdmissionReview.
Handlers return verdicts through :func:`allowed`, :func:`denied`, :func:`forbidden` and
:func:`patched`, the counterparts of controller-runtime's ``admission.Allowed``, ``Errored``,
``Denied`` and ``PatchResponseFromRaw`` that kruise's handlers use (controller-runtime v0.20,
pkg/webhook/admission/response.go): ``Errored(code, err)`` answers the code and the error's text
and no reason; ``Denied(message)`` (``ValidationResponse(false, message)``) answers 403 with
reason ``Forbidden``, which the API server passes on to the client.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

JsonObject = dict[str, Any]

API_VERSION = "admission.k8s.io/v1"
OPERATIONS = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT"})


class ReviewError(ValueError):
    """The body is not an AdmissionReview v1 request this server can answer."""


@dataclass(frozen=True)
class AdmissionRequest:
    """The parts of ``AdmissionReview.request`` the handlers read."""

    uid: str
    group: str
    version: str
    kind: str
    operation: str
    namespace: str = ""
    name: str = ""
    sub_resource: str = ""
    username: str = ""
    #: ``request.object`` (None on DELETE) and ``request.oldObject`` (None on CREATE).
    object: JsonObject | None = None
    old_object: JsonObject | None = None
    dry_run: bool = False

    @property
    def key(self) -> str:
        """``kind namespace/name`` as logs and spans show it (the name may be empty on CREATE)."""
        obj = self.object or self.old_object or {}
        name = self.name or str((obj.get("metadata") or {}).get("generateName") or "")
        scoped = self.namespace and self.kind != "Namespace"  # a Namespace comes with namespace = its name
        return f"{self.kind} {self.namespace}/{name}" if scoped else f"{self.kind} {name}"


@dataclass(frozen=True)
class Verdict:
    """What the webhook answers: allowed or not, why, and a JSON patch for mutations."""

    allowed: bool
    code: int = 200
    message: str = ""
    #: ``metav1.Status.reason`` ("" : none, as ``admission.Errored`` sends).
    reason: str = ""
    patch: tuple[JsonObject, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def outcome(self) -> str:
        """``allowed``, ``patched`` or ``denied`` (a low-cardinality label for metrics and spans)."""
        if not self.allowed:
            return "denied"
        return "patched" if self.patch else "allowed"


def allowed(message: str = "") -> Verdict:
    return Verdict(allowed=True, message=message)


def denied(code: int, message: str) -> Verdict:
    """A refusal as kruise's ``admission.Errored(code, err)``: the code kruise's handler picks
    (400, 403, 422 or 500; see :mod:`webhook.kruisekinds`) and the message, no reason."""
    return Verdict(allowed=False, code=code, message=message)


#: ``metav1.StatusReasonForbidden``, the reason ``admission.Denied`` sends.
REASON_FORBIDDEN = "Forbidden"


def forbidden(message: str) -> Verdict:
    """A refusal as kruise's ``admission.Denied(message)`` / ``ValidationResponse(false, message)``:
    403 with reason ``Forbidden`` (kubectl then prints ``Error from server (Forbidden): ...``)."""
    return Verdict(allowed=False, code=403, message=message, reason=REASON_FORBIDDEN)


def patched(operations: Sequence[JsonObject]) -> Verdict:
    """Allowed with a JSON patch (RFC 6902); no operations is a plain ``allowed``."""
    return Verdict(allowed=True, patch=tuple(operations))


def _text(value: object, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReviewError(f"{where} must be a string, got {type(value).__name__}")
    return value


def _embedded(value: object, where: str) -> JsonObject | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ReviewError(f"{where} must be an object, got {type(value).__name__}")
    return value


def parse_review(body: bytes) -> AdmissionRequest:
    """The request of an AdmissionReview v1 body; :class:`ReviewError` says what is malformed."""
    try:
        review = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise ReviewError(f"the body is not JSON: {err}") from None
    if not isinstance(review, dict):
        raise ReviewError("the body is not an AdmissionReview object")
    if review.get("kind") != "AdmissionReview" or review.get("apiVersion") != API_VERSION:
        raise ReviewError(
            f"expected kind AdmissionReview, apiVersion {API_VERSION}; got kind "
            f"{review.get('kind')!r}, apiVersion {review.get('apiVersion')!r}"
        )
    request = review.get("request")
    if not isinstance(request, dict):
        raise ReviewError("AdmissionReview has no request")
    uid = _text(request.get("uid"), "request.uid")
    if not uid:
        raise ReviewError("request.uid is missing")
    kind = request.get("kind")
    if not isinstance(kind, dict) or not isinstance(kind.get("kind"), str) or not kind["kind"]:
        raise ReviewError("request.kind must be an object with group, version and kind")
    operation = _text(request.get("operation"), "request.operation")
    if operation not in OPERATIONS:
        raise ReviewError(f"request.operation {operation!r} is not one of {', '.join(sorted(OPERATIONS))}")
    user = request.get("userInfo")
    return AdmissionRequest(
        uid=uid,
        group=_text(kind.get("group"), "request.kind.group"),
        version=_text(kind.get("version"), "request.kind.version"),
        kind=kind["kind"],
        operation=operation,
        namespace=_text(request.get("namespace"), "request.namespace"),
        name=_text(request.get("name"), "request.name"),
        sub_resource=_text(request.get("subResource"), "request.subResource"),
        username=_text(user.get("username"), "request.userInfo.username") if isinstance(user, dict) else "",
        object=_embedded(request.get("object"), "request.object"),
        old_object=_embedded(request.get("oldObject"), "request.oldObject"),
        dry_run=bool(request.get("dryRun")),
    )


def review_uid(body: bytes) -> str:
    """The request uid of a body :func:`parse_review` refused, when it can still be found ('' if not):
    the API server only accepts a response carrying its request's uid."""
    try:
        review = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    request = review.get("request") if isinstance(review, dict) else None
    uid = request.get("uid") if isinstance(request, dict) else None
    return uid if isinstance(uid, str) else ""


def review_response(uid: str, verdict: Verdict) -> JsonObject:
    """The AdmissionReview v1 answering request ``uid`` with ``verdict``."""
    response: JsonObject = {"uid": uid, "allowed": verdict.allowed}
    if not verdict.allowed or verdict.message:
        # code + message, as controller-runtime's admission.Errored answers for kruise, and the
        # reason admission.Denied adds: the API server reports "admission webhook <name> denied
        # the request: <message>" with the code and the reason.
        status: JsonObject = {"code": verdict.code, "message": verdict.message}
        if verdict.reason:
            status["reason"] = verdict.reason
        response["status"] = status
    if verdict.patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(orjson.dumps(list(verdict.patch))).decode()
    if verdict.warnings:
        response["warnings"] = list(verdict.warnings)
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}
