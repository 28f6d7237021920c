"""AdvancedCronJob's rules: kruise's defaults (``SetDefaultsAdvancedCronJob``) and validation
(``pkg/webhook/advancedcronjob/validating``), for ``apps.kruise.io`` v1beta1 and v1alpha1 alike.

Defaults: concurrencyPolicy Allow (Replace with an imageListPullJobTemplate), paused false, history
limits 3 successful / 1 failed, the imageListPullJobTemplate's completion/pull policies (only when its
completionPolicy type is empty, as kruise), and the core/v1 pod defaults of the job or broadcast-job
template when the template is new or changed. Validation, with kruise's messages: the object name;
the schedule (non-empty, five fields or a descriptor, no TZ with timeZone); exactly one template;
an imageListPullJobTemplate's selector, images and completion policy; non-negative
startingDeadlineSeconds and history limits; timeZone an IANA zone; on an update only kruise's listed
fields may change. The schedule's field-level errors (``robfig/cron``'s texts, e.g. "end of range
(61) above maximum (59)") are reported as ``croniter`` words them; the core pod template validation
is left to the API server (it validates every pod created). Pure; dispatched by ``rules``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from schemas.kruise.rules import meta
from schemas.kruise.rules.broadcastjob import template_changed
from schemas.kruise.rules.errors import FieldError, GoValue, forbidden, go_quote, invalid
from schemas.kruise.rules.podspec import default_pod_template, pruned_empty

NAME_MSG = "AdvancedCronJob name must consist of alphanumeric characters or '-'"
NAME_FMT = r"^[a-zA-Z0-9\-]+$"
NAME_MAX_LEN = 63
MAX_ACTIVE_DEADLINE_SECONDS = 3600 * 24
EMPTY_SCHEDULE = "schedule cannot be empty, please provide valid cron schedule."
TZ_AND_TIME_ZONE = "cannot use both timeZone field and TZ or CRON_TZ in schedule"
NO_TEMPLATE = (
    "spec must have one template, either JobTemplate or BroadcastJobTemplate or ImageListPullJobTemplate "
    "should be provided"
)
MANY_TEMPLATES = (
    "spec can have only one template, either JobTemplate or BroadcastJobTemplate or ImageListPullJobTemplate "
    "should be provided"
)
IMAGE_LIST_PULL_CONCURRENCY = "concurrencyPolicy should be Replace or Forbid, but current value is: {policy}"
EMPTY_TIME_ZONE = "timeZone must be nil or non-empty string"
LOCAL_TIME_ZONE = "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
SPEC_UPDATE_FORBIDDEN = (
    "updates to advancedcronjob spec for fields other than 'imageListPullJobTemplate', 'schedule', "
    "'concurrencyPolicy', 'successfulJobsHistoryLimit', 'failedJobsHistoryLimit', 'startingDeadlineSeconds', "
    "'timeZone' and 'paused' are forbidden"
)
MUTABLE_SPEC_FIELDS = frozenset(
    {
        "schedule",
        "concurrencyPolicy",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
        "startingDeadlineSeconds",
        "paused",
        "timeZone",
    }
)
_DESCRIPTORS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})

JsonDict = dict[str, Any]


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def default_advancedcronjob(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> JsonDict:
    out: JsonDict = copy.deepcopy(dict(obj))
    spec: JsonDict = out.setdefault("spec", {})
    template: JsonDict = spec.setdefault("template", {})
    inject = template_changed(obj, old)
    for key in ("jobTemplate", "broadcastJobTemplate"):
        job = template.get(key)
        if inject and isinstance(job, dict) and isinstance(_dict(job.get("spec")).get("template"), Mapping):
            job["spec"]["template"] = default_pod_template(job["spec"]["template"])
    pull = template.get("imageListPullJobTemplate")
    if isinstance(pull, dict):
        pull_spec: JsonDict = pull.setdefault("spec", {})
        completion: JsonDict = pull_spec.setdefault("completionPolicy", {})
        if not completion.get("type"):
            completion["type"] = "Always"
            policy: JsonDict = pull_spec.get("pullPolicy") or {}
            pull_spec["pullPolicy"] = policy
            policy.setdefault("timeoutSeconds", 600)
            policy.setdefault("backoffLimit", 3)
            if not pull_spec.get("imagePullPolicy"):
                pull_spec["imagePullPolicy"] = "IfNotPresent"
    if not spec.get("concurrencyPolicy"):
        spec["concurrencyPolicy"] = "Replace" if isinstance(pull, dict) else "Allow"
    if spec.get("paused") is None:
        spec["paused"] = False
    if spec.get("successfulJobsHistoryLimit") is None:
        spec["successfulJobsHistoryLimit"] = 3
    if spec.get("failedJobsHistoryLimit") is None:
        spec["failedJobsHistoryLimit"] = 1
    return out


def schedule_error(schedule: str) -> str | None:
    """Why ``cron.ParseStandard`` refuses ``schedule`` (None when it parses)."""
    if not schedule:
        return "empty spec string"
    text = schedule
    if text.startswith(("TZ=", "CRON_TZ=")):
        zone, _, text = text.partition(" ")
        name = zone.split("=", 1)[1]
        if (problem := time_zone_error(name)) is not None:
            return f"provided bad location {name}: {problem}"
        text = text.strip()
    if text.startswith("@"):
        if text in _DESCRIPTORS or text.startswith("@every "):
            return None
        return f"unrecognized descriptor: {text}"
    fields = text.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    if not croniter.is_valid(" ".join(fields)):
        return f"invalid cron schedule: {' '.join(fields)}"
    return None


def time_zone_error(name: str) -> str | None:
    """``time.LoadLocation``'s error."""
    if name in ("", "UTC", "Local"):
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name}"
    return None


def _go_string_pointer(value: str) -> GoValue:
    """A ``*string`` bad value: ``field.Error`` dereferences it and prints ``%q``."""
    return GoValue(go_quote(value))


def _image_list_pull_errors(template: Mapping[str, Any], concurrency: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if concurrency not in ("Replace", "Forbid"):
        detail = IMAGE_LIST_PULL_CONCURRENCY.format(policy=concurrency)
        errors.append(invalid("spec.spec.concurrencyPolicy", concurrency, detail))
    path = "spec.template.imageListPullJobTemplate.spec"
    spec = _dict(template.get("spec"))
    images = [str(i) for i in spec.get("images") or ()]
    selector = spec.get("selector")
    if isinstance(selector, Mapping):
        names = selector.get("names")
        if (selector.get("matchLabels") is not None or selector.get("matchExpressions") is not None) and (
            names is not None
        ):
            shown = GoValue("&v1beta1.ImagePullJobNodeSelector{...}")
            return [
                *errors,
                invalid(
                    f"{path}.selector",
                    shown,
                    "can not set both names and labelSelector in this spec.selector",
                ),
            ]
        if isinstance(names, list) and len(set(names)) != len(names):
            return [
                *errors,
                invalid(
                    f"{path}.selector.names", [str(n) for n in names], "duplicated name in selector names"
                ),
            ]
    if spec.get("podSelector") is not None and selector is not None:
        return [
            *errors,
            invalid(
                path,
                GoValue("v1beta1.ImageListPullJobSpec{...}"),
                "can not set both selector and podSelector",
            ),
        ]
    if not images:
        return [*errors, invalid(f"{path}.images", GoValue("[]string(nil)"), "image can not be empty")]
    if len(images) > 255:
        return [*errors, invalid(f"{path}.images", images, "the maximum number of images cannot > 255")]
    if len(set(images)) != len(images):
        return [*errors, invalid(f"{path}.images", images, "images cannot have duplicate values")]
    completion = _dict(spec.get("completionPolicy"))
    kind = str(completion.get("type") or "")
    deadline = completion.get("activeDeadlineSeconds")
    if kind != "Always":
        detail = f"completionPolicy should be Always, but current value is: {kind}"
        return [*errors, invalid(f"{path}.completionPolicy.type", kind, detail)]
    if isinstance(deadline, int) and deadline > MAX_ACTIVE_DEADLINE_SECONDS:
        detail = (
            f"activeDeadlineSeconds must be less than {MAX_ACTIVE_DEADLINE_SECONDS}, "
            f"current value is: {deadline}"
        )
        return [*errors, invalid(f"{path}.completionPolicy.activeDeadlineSeconds", deadline, detail)]
    timeout = _dict(spec.get("pullPolicy")).get("timeoutSeconds")
    if isinstance(deadline, int) and isinstance(timeout, int) and timeout > deadline:
        detail = (
            "completionPolicy.activeDeadlineSeconds must be greater than "
            f"pullPolicy.timeoutSeconds({timeout})"
        )
        return [*errors, invalid(f"{path}.completionPolicy.activeDeadlineSeconds", deadline, detail)]
    if completion.get("ttlSecondsAfterFinished") is not None:
        value = completion["ttlSecondsAfterFinished"]
        detail = "ttlSecondsAfterFinished is not supported in advancedCronJob"
        return [*errors, invalid(f"{path}.completionPolicy.ttlSecondsAfterFinished", value, detail)]
    return errors


def _spec_errors(spec: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    schedule = str(spec.get("schedule") or "")
    if not schedule:
        errors.append(invalid("spec.schedule", schedule, EMPTY_SCHEDULE))
    if (problem := schedule_error(schedule)) is not None:
        errors.append(invalid("spec.schedule", schedule, problem))
    if "TZ" in schedule and spec.get("timeZone") is not None:
        errors.append(invalid("spec.schedule", schedule, TZ_AND_TIME_ZONE))
    template = _dict(spec.get("template"))
    count = sum(1 for key in ("jobTemplate", "broadcastJobTemplate") if template.get(key) is not None)
    if template.get("imageListPullJobTemplate") is not None:
        count += 1
        concurrency = str(spec.get("concurrencyPolicy") or "")
        errors.extend(_image_list_pull_errors(_dict(template["imageListPullJobTemplate"]), concurrency))
    if count == 0:
        errors.append(forbidden("spec.template", NO_TEMPLATE))
    elif count > 1:
        errors.append(forbidden("spec.template", MANY_TEMPLATES))
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        value = spec.get(key)
        if isinstance(value, int):
            errors.extend(meta.nonnegative(value, f"spec.{key}"))
    zone = spec.get("timeZone")
    if zone is not None:
        zone = str(zone)
        if zone == "":
            errors.append(invalid("spec.timeZone", _go_string_pointer(zone), EMPTY_TIME_ZONE))
        else:
            if zone.lower() == "local":
                errors.append(invalid("spec.timeZone", _go_string_pointer(zone), LOCAL_TIME_ZONE))
            if (problem := time_zone_error(zone)) is not None:
                errors.append(invalid("spec.timeZone", _go_string_pointer(zone), problem))
    return errors


def validate_advancedcronjob(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[FieldError]:
    """kruise's ``validateAdvancedCronJob`` (create) or ``validateAdvancedCronJobUpdate`` (update)."""
    spec = _dict(obj.get("spec"))
    if old is None:
        name = _dict(obj.get("metadata")).get("name")
        return [*meta.object_name_errors(name, NAME_MSG, NAME_FMT, NAME_MAX_LEN), *_spec_errors(spec)]
    errors = _spec_errors(spec)
    old_spec = _dict(old.get("spec"))

    def fixed(values: Mapping[str, Any], keep_pull: bool) -> object:
        out = {k: v for k, v in values.items() if k not in MUTABLE_SPEC_FIELDS}
        template = dict(_dict(out.get("template")))
        if keep_pull:
            template.pop("imageListPullJobTemplate", None)
        out["template"] = template
        return pruned_empty(out)

    keep_pull = _dict(old_spec.get("template")).get("imageListPullJobTemplate") is not None
    if fixed(spec, keep_pull) != fixed(old_spec, keep_pull):
        errors.append(forbidden("spec", SPEC_UPDATE_FORBIDDEN))
    return errors
