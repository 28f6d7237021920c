"""kruise's Advanced StatefulSet and AdvancedCronJob rules in Flotilla's CRDs, on the real API
server with no webhook registered: CEL refuses what kruise's webhook refuses, with kruise's text,
and accepts what kruise accepts.

Every case also goes through the shared Python rules (``schemas.kruise.rules``), which must agree.
Expected texts are kruise v1.9.1's, typed here: ``pkg/webhook/statefulset/validating/
statefulset_validation.go`` (``validateMaxUnavailableField``, ``validateOnDeleteStatefulSetStrategyType``,
``validateRollingUpdateStatefulSetStrategyType*``, ``validateRestartPolicy``,
``validateActiveDeadlineSeconds``) and ``pkg/webhook/advancedcronjob/validating/
advancedcronjob_create_update_handler.go`` (``validateAdvancedCronJobSpec*``, ``validateTimeZone``).
"""

from __future__ import annotations

import copy
import json
import secrets
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from schemas.crdgen import install_crds
from schemas.kruise import rules

GROUP = "apps.kruise.io"


@pytest.fixture(scope="module")
def crds(api_client: k8s.ApiClient) -> list[str]:
    return install_crds(api_client)


def _sts(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "r"}},
        "template": {
            "metadata": {"labels": {"app": "r"}},
            "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]},
        },
    }
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/v1beta1",
        "kind": "StatefulSet",
        "metadata": {"name": f"rules-{secrets.token_hex(3)}"},
        "spec": body,
    }


def _rolling(**fields: Any) -> dict[str, Any]:
    return {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": fields}}


def _template(**pod_spec: Any) -> dict[str, Any]:
    template: dict[str, Any] = copy.deepcopy(_sts()["spec"]["template"])
    template["spec"].update(pod_spec)
    return template


JOB = {
    "spec": {
        "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}}
    }
}
PULL = {"spec": {"images": ["nginx:1.25"]}}


def _acj(version: str = "v1beta1", template: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{version}",
        "kind": "AdvancedCronJob",
        "metadata": {"name": f"rules-{secrets.token_hex(3)}"},
        "spec": {
            "schedule": "*/5 * * * *",
            "template": {"jobTemplate": JOB} if template is None else template,
            **spec,
        },
    }


NEEDS_PARALLEL = "can only work with Parallel PodManagementPolicyType"
NO_TEMPLATE = (
    "spec must have one template, either JobTemplate or BroadcastJobTemplate or ImageListPullJobTemplate "
    "should be provided"
)
MANY_TEMPLATES = (
    "spec can have only one template, either JobTemplate or BroadcastJobTemplate or "
    "ImageListPullJobTemplate should be provided"
)
REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "rollingUpdate maxUnavailable 2 with OrderedReady": (_sts(**_rolling(maxUnavailable=2)), NEEDS_PARALLEL),
    "rollingUpdate maxUnavailable 50% with OrderedReady": (
        _sts(**_rolling(maxUnavailable="50%")),
        NEEDS_PARALLEL,
    ),
    "scaleStrategy maxUnavailable 3 with OrderedReady": (
        _sts(scaleStrategy={"maxUnavailable": 3}),
        NEEDS_PARALLEL,
    ),
    "rollingUpdate maxUnavailable 0 with Parallel": (
        _sts(podManagementPolicy="Parallel", **_rolling(maxUnavailable=0)),
        "should not be less than 1",
    ),
    "rollingUpdate maxUnavailable 0% with Parallel": (
        _sts(podManagementPolicy="Parallel", **_rolling(maxUnavailable="0%")),
        "should not be less than 1",
    ),
    "OnDelete with rollingUpdate": (
        _sts(updateStrategy={"type": "OnDelete", "rollingUpdate": {"partition": 1}}),
        "only allowed for updateStrategy 'RollingUpdate'",
    ),
    "unorderedUpdate with OrderedReady": (
        _sts(**_rolling(unorderedUpdate={"priorityStrategy": {"orderPriority": [{"orderedKey": "k"}]}})),
        "unorderedUpdate can only work with Parallel PodManagementPolicyType",
    ),
    "minReadySeconds 301": (_sts(**_rolling(minReadySeconds=301)), "must be no more than 300 seconds"),
    "restartPolicy Never": (_sts(template=_template(restartPolicy="Never")), 'supported values: "Always"'),
    "activeDeadlineSeconds": (
        _sts(template=_template(activeDeadlineSeconds=5)),
        "activeDeadlineSeconds in StatefulSet is not Supported",
    ),
    "ACJ without a template": (
        _acj(template={}),
        NO_TEMPLATE,
    ),
    "ACJ with two templates": (
        _acj(template={"jobTemplate": JOB, "imageListPullJobTemplate": PULL}, concurrencyPolicy="Replace"),
        MANY_TEMPLATES,
    ),
    "v1alpha1 ACJ without a template": (
        _acj("v1alpha1", template={}),
        NO_TEMPLATE,
    ),
    "ACJ empty schedule": (
        _acj(schedule=""),
        "schedule cannot be empty, please provide valid cron schedule.",
    ),
    "ACJ empty timeZone": (_acj(timeZone=""), "timeZone must be nil or non-empty string"),
    "ACJ Local timeZone": (
        _acj(timeZone="LOCAL"),
        "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
    ),
    "ACJ timeZone and CRON_TZ": (
        _acj(schedule="CRON_TZ=UTC */5 * * * *", timeZone="Europe/Paris"),
        "cannot use both timeZone field and TZ or CRON_TZ in schedule",
    ),
    "ACJ image list pull with Allow": (
        _acj(template={"imageListPullJobTemplate": PULL}, concurrencyPolicy="Allow"),
        "concurrencyPolicy should be Replace or Forbid, but current value is: Allow",
    ),
}

ACCEPTED: dict[str, dict[str, Any]] = {
    "defaults": _sts(),
    "Parallel with maxUnavailable 50%": _sts(
        podManagementPolicy="Parallel", **_rolling(maxUnavailable="50%")
    ),
    "OrderedReady with maxUnavailable 1": _sts(**_rolling(maxUnavailable=1, minReadySeconds=300)),
    "OnDelete alone": _sts(updateStrategy={"type": "OnDelete"}),
    "Parallel unordered": _sts(
        podManagementPolicy="Parallel",
        **_rolling(unorderedUpdate={"priorityStrategy": {"orderPriority": [{"orderedKey": "k"}]}}),
    ),
    "ACJ job": _acj(),
    "ACJ time zone": _acj(timeZone="Europe/Paris"),
    "ACJ image list pull with Forbid": _acj(
        template={"imageListPullJobTemplate": PULL}, concurrencyPolicy="Forbid"
    ),
    "v1alpha1 ACJ": _acj("v1alpha1"),
}


def _create(api_client: k8s.ApiClient, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    api = k8s.CustomObjectsApi(api_client)
    group, version = body["apiVersion"].split("/")
    plural = {"StatefulSet": "statefulsets", "AdvancedCronJob": "advancedcronjobs"}[body["kind"]]
    created = api.create_namespaced_custom_object(group, version, namespace, plural, body)
    assert isinstance(created, dict)
    return created


def test_refused_by_cel_and_by_the_shared_rules_with_kruises_text(
    crds: list[str], api_client: k8s.ApiClient, namespace: str
) -> None:
    for name, (body, text) in REFUSED.items():
        with pytest.raises(ApiException) as info:
            _create(api_client, namespace, body)
        assert info.value.status == 422, f"{name}: {info.value.body}"
        message = json.loads(str(info.value.body))["message"]
        assert text in message, f"{name}: {message}"
        kind = body["kind"]
        errors = rules.validate(kind, rules.default(kind, body))
        assert any(text in str(e) for e in errors), f"{name}: the shared rules say {errors}"


def test_accepted_by_cel_and_by_the_shared_rules(
    crds: list[str], api_client: k8s.ApiClient, namespace: str
) -> None:
    for name, body in ACCEPTED.items():
        stored = _create(api_client, namespace, body)
        assert stored["metadata"]["name"] == body["metadata"]["name"], name
        kind = body["kind"]
        assert rules.validate(kind, rules.default(kind, stored)) == [], (
            f"{name}: {rules.validate(kind, stored)}"
        )
