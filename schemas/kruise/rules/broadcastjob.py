"""BroadcastJob's rules: kruise's defaults (``SetDefaultsBroadcastJob``) and validation
(``pkg/webhook/broadcastjob/validating``), for ``apps.kruise.io`` v1beta1 and v1alpha1 alike.

Defaults: completionPolicy type Always, parallelism 2147483647, failurePolicy type FailFast, and the
core/v1 pod defaults of the template when it is new or changed (so a template without
``restartPolicy`` gets ``Always`` and is then refused, exactly as kruise does). Validation: the
object name, completionPolicy ``Never`` without ``ttlSecondsAfterFinished``/``activeDeadlineSeconds``,
the pod ``restartPolicy`` Never or OnFailure, and no preset ``broadcastjob-name`` /
``broadcastjob-controller-uid`` pod labels, with kruise's messages. Not checked here: the core pod
template validation (the API server applies it to every pod created). kruise answers a refusal
with HTTP 500 (its handler returns the aggregate as an error); Flotilla answers 422 with the same
text. Pure; dispatched by ``rules``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from schemas.kruise.rules import meta
from schemas.kruise.rules.errors import FieldError, invalid, string_map
from schemas.kruise.rules.podspec import default_pod_template, pruned_empty

MAX_PARALLELISM = 2**31 - 1
NAME_MSG = "BroadcastJob name must consist of alphanumeric characters or '-'"
NAME_FMT = r"^[a-zA-Z0-9\-]+$"
NAME_MAX_LEN = 63
JOB_NAME_LABEL = "broadcastjob-name"
CONTROLLER_UID_LABEL = "broadcastjob-controller-uid"
TTL_NEEDS_ALWAYS = "ttlSecondsAfterFinished can just work with Always CompletionPolicyType"
DEADLINE_NEEDS_ALWAYS = "activeDeadlineSeconds can just work with Always CompletionPolicyType"
RESTART_POLICY = "pod restartPolicy can only be Never or OnFailure"
PRESET_LABELS = f'"{JOB_NAME_LABEL}" and "{CONTROLLER_UID_LABEL}" are not allowed to preset in pod labels'

JsonDict = dict[str, Any]


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def template_changed(obj: Mapping[str, Any], old: Mapping[str, Any] | None, key: str = "template") -> bool:
    """kruise's ``injectTemplateDefaults``: on a create, or when the update changes the template."""
    if old is None:
        return True
    return pruned_empty(_dict(old.get("spec")).get(key)) != pruned_empty(_dict(obj.get("spec")).get(key))


def default_broadcastjob(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> JsonDict:
    out: JsonDict = copy.deepcopy(dict(obj))
    spec: JsonDict = out.setdefault("spec", {})
    if template_changed(obj, old) and isinstance(spec.get("template"), Mapping):
        spec["template"] = default_pod_template(spec["template"])
    completion = spec.get("completionPolicy")
    if not isinstance(completion, dict):
        completion = spec["completionPolicy"] = {}
    if not completion.get("type"):
        completion["type"] = "Always"
    if spec.get("parallelism") is None:
        spec["parallelism"] = MAX_PARALLELISM
    failure = spec.get("failurePolicy")
    if not isinstance(failure, dict):
        failure = spec["failurePolicy"] = {}
    if not failure.get("type"):
        failure["type"] = "FailFast"
    return out


def validate_broadcastjob(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[FieldError]:
    """kruise's ``validateBroadcastJob`` (the same on create and update)."""
    errors = meta.object_name_errors(_dict(obj.get("metadata")).get("name"), NAME_MSG, NAME_FMT, NAME_MAX_LEN)
    spec = _dict(obj.get("spec"))
    completion = _dict(spec.get("completionPolicy"))
    if completion.get("type") == "Never":
        path = "spec.completionPolicy"
        if completion.get("ttlSecondsAfterFinished") is not None:
            value = completion["ttlSecondsAfterFinished"]
            errors.append(invalid(f"{path}.ttlSecondsAfterFinished", value, TTL_NEEDS_ALWAYS))
        if completion.get("activeDeadlineSeconds") is not None:
            value = completion["activeDeadlineSeconds"]
            errors.append(invalid(f"{path}.activeDeadlineSeconds", value, DEADLINE_NEEDS_ALWAYS))
    template = _dict(spec.get("template"))
    restart = str(_dict(template.get("spec")).get("restartPolicy") or "")
    if restart not in ("OnFailure", "Never"):
        errors.append(invalid("spec.template.spec.restartPolicy", restart, RESTART_POLICY))
    labels = _dict(template.get("metadata")).get("labels")
    if isinstance(labels, Mapping) and (labels.get(JOB_NAME_LABEL) or labels.get(CONTROLLER_UID_LABEL)):
        errors.append(invalid("spec.template.metadata.labels", string_map(labels), PRESET_LABELS))
    return errors
