"""ImagePullJob's, ImageListPullJob's and NodeImage's rules: kruise's defaults
(``SetDefaultsImagePullJob*``, ``SetDefaultsImageListPullJob*``, ``SetDefaultsNodeImage*``) and
validation (``pkg/webhook/{imagepulljob,imagelistpulljob,nodeimage}/validating``), for
``apps.kruise.io`` v1beta1 and v1alpha1 alike.

ImagePullJob defaults: completionPolicy type Always, pullPolicy timeoutSeconds 600 and
backoffLimit 3, imagePullPolicy IfNotPresent, and on a v1alpha1 create the
``apps.kruise.io/deletion-protection`` finalizer (kruise's v1beta1 defaulting ignores that flag).
Validation: ``spec.pullSecrets`` immutable, selector names vs labels, selector vs podSelector, the
image (docker's ``ParseNormalizedNamed``: :mod:`schemas.kruise.rules.imageref`), parallelism,
completionPolicy. ImageListPullJob defaults the completion and pull policies only; validation: the
same selector checks, ``images`` non-empty, distinct, at most 255, each a reference,
completionPolicy. NodeImage defaults every tag's ``createdAt`` (now) and pull policy (600 s, 3)
and sorts the tags; validation: at most 256 images, tags non-empty and distinct,
createdAt/pullPolicy/ttl set, version >= 0.

kruise answers these with ``fmt.Errorf`` texts and stops at the first: each validation returns at
most one :class:`PlainError` carrying kruise's text. Pure but for NodeImage's ``createdAt``
(the admission time, as kruise's ``metav1.Now()``); dispatched by ``rules``.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from typing import Any

from schemas.kruise.rules import meta
from schemas.kruise.rules.errors import ErrorType, FieldError, PlainError, go_quote
from schemas.kruise.rules.imageref import image_reference_error as image_reference_error

JsonDict = dict[str, Any]

PROTECTION_FINALIZER = "apps.kruise.io/deletion-protection"
DEFAULT_TIMEOUT_SECONDS = 600
DEFAULT_BACKOFF_LIMIT = 3
MAX_IMAGES_PER_NODE = 256


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _plain(path: str, text: str) -> list[FieldError]:
    return [PlainError(ErrorType.INVALID, path, text)]


def _version(obj: Mapping[str, Any]) -> str:
    return str(obj.get("apiVersion") or "").rpartition("/")[2]


# --- ImagePullJob ----------------------------------------------------------------------------------
def _defaulted_pull_spec(obj: Mapping[str, Any]) -> tuple[JsonDict, JsonDict]:
    """A copy of ``obj`` and its spec, with the defaults both pull-job kinds share: completionPolicy
    type Always, pullPolicy timeoutSeconds 600 and backoffLimit 3."""
    out: JsonDict = copy.deepcopy(dict(obj))
    spec: JsonDict = out.setdefault("spec", {})
    completion = spec.get("completionPolicy")
    if not isinstance(completion, dict):
        completion = spec["completionPolicy"] = {}
    if not completion.get("type"):
        completion["type"] = "Always"
    pull = spec.get("pullPolicy")
    if not isinstance(pull, dict):
        pull = spec["pullPolicy"] = {}
    pull.setdefault("timeoutSeconds", DEFAULT_TIMEOUT_SECONDS)
    pull.setdefault("backoffLimit", DEFAULT_BACKOFF_LIMIT)
    return out, spec


def default_imagepulljob(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> JsonDict:
    out, spec = _defaulted_pull_spec(obj)
    if not spec.get("imagePullPolicy"):
        spec["imagePullPolicy"] = "IfNotPresent"
    if old is None and _version(obj) == "v1alpha1":
        metadata: JsonDict = out.setdefault("metadata", {})
        finalizers = metadata.get("finalizers")
        if not isinstance(finalizers, list):
            finalizers = metadata["finalizers"] = []
        if PROTECTION_FINALIZER not in finalizers:
            finalizers.append(PROTECTION_FINALIZER)
    return out


_PARSE_INT = "parallelism must be a valid integer: strconv.ParseInt: parsing "
DEADLINE_BELOW_TIMEOUT = (
    "completionPolicy.activeDeadlineSeconds must be greater than pullPolicy.timeoutSeconds(default 600)"
)
NEVER_WITH_DEADLINE = (
    "activeDeadlineSeconds and ttlSecondsAfterFinished can only work with Always CompletionPolicyType"
)


def _parallelism_error(parallelism: object) -> str | None:
    if isinstance(parallelism, str):
        if parallelism.endswith("%"):
            return "parallelism does not support percentage value"
        try:
            value = int(parallelism, 10)
        except ValueError:
            return f"{_PARSE_INT}{go_quote(parallelism)}: invalid syntax"
        if not -(2**31) <= value < 2**31:
            return f"{_PARSE_INT}{go_quote(parallelism)}: value out of range"
        return "parallelism must be non-negative" if value < 0 else None
    if isinstance(parallelism, int) and parallelism < 0:
        return "parallelism must be non-negative"
    return None


def _selector_errors(spec: Mapping[str, Any]) -> list[FieldError]:
    """The selector checks ImagePullJob and ImageListPullJob share (names vs labels, selector vs
    podSelector, kruise's selector texts)."""
    selector = spec.get("selector")
    if isinstance(selector, Mapping):
        if selector.get("matchLabels") is not None or selector.get("matchExpressions") is not None:
            if selector.get("names") is not None:
                return _plain(
                    "spec.selector", "can not set both names and labelSelector in this spec.selector"
                )
            if (problem := meta.selector_as_selector_error(selector)) is not None:
                return _plain("spec.selector", f"invalid selector: {problem}")
        names = selector.get("names")
        if isinstance(names, list) and len(set(names)) != len(names):
            return _plain("spec.selector.names", "duplicated name in selector names")
    pod_selector = spec.get("podSelector")
    if isinstance(pod_selector, Mapping):
        if isinstance(selector, Mapping):
            return _plain("spec.podSelector", "can not set both selector and podSelector")
        if (problem := meta.selector_as_selector_error(pod_selector)) is not None:
            return _plain("spec.podSelector", f"invalid podSelector: {problem}")
    return []


def validate_imagepulljob(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[FieldError]:
    """kruise's ``validate``/``validateV1beta1`` (the same for both versions), after the
    ``spec.pullSecrets is immutable`` check on an update."""
    spec = _dict(obj.get("spec"))
    if old is not None and spec.get("pullSecrets") != _dict(old.get("spec")).get("pullSecrets"):
        return _plain("spec.pullSecrets", "spec.pullSecrets is immutable")
    if problems := _selector_errors(spec):
        return problems
    image = str(spec.get("image") or "")
    if not image:
        return _plain("spec.image", "image can not be empty")
    if (problem := image_reference_error(image)) is not None:
        return _plain("spec.image", f"invalid image {image}: {problem}")
    if (problem := _parallelism_error(spec.get("parallelism"))) is not None:
        return _plain("spec.parallelism", problem)
    timeout = _dict(spec.get("pullPolicy")).get("timeoutSeconds")
    timeout = DEFAULT_TIMEOUT_SECONDS if timeout is None else timeout
    completion = _dict(spec.get("completionPolicy"))
    deadline = completion.get("activeDeadlineSeconds")
    if (
        completion.get("type") == "Always"
        and isinstance(deadline, int)
        and isinstance(timeout, int)
        and timeout > deadline
    ):
        return _plain("spec.completionPolicy.activeDeadlineSeconds", DEADLINE_BELOW_TIMEOUT)
    return _never_errors(completion)


def _never_errors(completion: Mapping[str, Any]) -> list[FieldError]:
    """``completionPolicy``: Always, or Never without a deadline or TTL."""
    kind = completion.get("type") or ""
    if kind == "Never":
        if completion.get("activeDeadlineSeconds") is not None or (
            completion.get("ttlSecondsAfterFinished") is not None
        ):
            return _plain("spec.completionPolicy", NEVER_WITH_DEADLINE)
    elif kind != "Always":
        return _plain("spec.completionPolicy.type", f"unknown type of completionPolicy: {kind}")
    return []


# --- ImageListPullJob ------------------------------------------------------------------------------
MAX_IMAGES_PER_LIST = 255


def default_imagelistpulljob(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> JsonDict:
    """``SetDefaultsImageListPullJob*``: completionPolicy type Always, pullPolicy 600 s / 3 (no
    imagePullPolicy and no finalizer: the ImagePullJobs it makes get those from their own defaults)."""
    return _defaulted_pull_spec(obj)[0]


def validate_imagelistpulljob(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[FieldError]:
    """kruise's ``pkg/webhook/imagelistpulljob/validating`` (the same for both versions, create and
    update): selectors, images non-empty, distinct, at most 255, each a docker reference, then the
    completion policy. No parallelism or deadline-vs-timeout check (kruise has none here)."""
    spec = _dict(obj.get("spec"))
    if problems := _selector_errors(spec):
        return problems
    images = spec.get("images")
    images = [str(i) for i in images] if isinstance(images, list) else []
    if not images:
        return _plain("spec.images", "image can not be empty")
    if len(set(images)) != len(images):
        return _plain("spec.images", "images cannot have duplicate values")
    if len(images) > MAX_IMAGES_PER_LIST:
        return _plain("spec.images", f"the maximum number of images cannot > {MAX_IMAGES_PER_LIST}")
    for image in images:
        if (problem := image_reference_error(image)) is not None:
            return _plain("spec.images", f"invalid image {image}: {problem}")
    return _never_errors(_dict(spec.get("completionPolicy")))


# --- NodeImage -------------------------------------------------------------------------------------
def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sorted_tags(entry: object) -> None:
    if isinstance(entry, dict) and isinstance(entry.get("tags"), list):
        entry["tags"].sort(key=lambda tag: str(_dict(tag).get("tag") or ""))


def default_nodeimage(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> JsonDict:
    out: JsonDict = copy.deepcopy(dict(obj))
    now = _now()
    images = _dict(out.get("spec")).get("images")
    for image in images.values() if isinstance(images, dict) else ():
        for tag in _dict(image).get("tags") or []:
            if not isinstance(tag, dict):
                continue
            if tag.get("createdAt") is None:
                tag["createdAt"] = now
            policy = tag.get("pullPolicy")
            if not isinstance(policy, dict):
                policy = tag["pullPolicy"] = {}
            policy.setdefault("timeoutSeconds", DEFAULT_TIMEOUT_SECONDS)
            policy.setdefault("backoffLimit", DEFAULT_BACKOFF_LIMIT)
        _sorted_tags(image)
    statuses = _dict(out.get("status")).get("imageStatuses")
    for status in statuses.values() if isinstance(statuses, dict) else ():
        _sorted_tags(status)
    return out


def validate_nodeimage(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[FieldError]:
    """kruise's ``validate``/``validateV1beta1`` (the same for both versions and operations)."""
    images = _dict(_dict(obj.get("spec")).get("images"))
    if len(images) > MAX_IMAGES_PER_NODE:
        return _plain(
            "spec.images", f"spec images length {len(images)} can not be more than {MAX_IMAGES_PER_NODE}"
        )
    for name, image in images.items():
        if not name:
            return _plain("spec.images", "image name can not be empty")
        seen: set[str] = set()
        for tag_spec in _dict(image).get("tags") or []:
            tag_spec = _dict(tag_spec)
            tag = str(tag_spec.get("tag") or "")
            path = f"spec.images[{name}].tags"
            if not tag:
                return _plain(path, f"tag for image {name} can not be empty")
            if tag in seen:
                return _plain(path, f"duplicated tag {tag} for image {name}")
            seen.add(tag)
            full = f"{name}/{tag}"
            if tag_spec.get("createdAt") is None:
                return _plain(path, f"createAt field for {full} can not be empty")
            version = tag_spec.get("version")
            if isinstance(version, int) and version < 0:
                return _plain(path, f"version for {full} can not be less than 0")
            policy = tag_spec.get("pullPolicy")
            if not isinstance(policy, Mapping):
                return _plain(path, f"pullPolicy field for {full} must set")
            if policy.get("ttlSecondsAfterFinished") is None:
                return _plain(path, f"pullPolicy.ttlSecondsAfterFinished for {full} must set")
    return []
