"""kruise's CloneSet rules in Flotilla's CRD, on the real API server: CEL refuses what kruise's webhook
refuses, with kruise's text, and accepts what kruise accepts; the scale subresource finds the
defaulted ``spec.replicas``.

Every case also goes through the shared Python rules (``schemas.kruise.rules``), which must agree:
the CRD, the webhook and the worker hold one rule set. Expected texts are kruise v1.9.1's
(``pkg/webhook/cloneset/validating/validation.go``, apps/pub ``FieldsValidation``), typed here.
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

GROUP, VERSION, PLURAL = "apps.kruise.io", "v1alpha1", "clonesets"


@pytest.fixture(scope="module")
def crds(api_client: k8s.ApiClient) -> list[str]:
    return install_crds(api_client)


def _cloneset(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "r"}},
        "template": {
            "metadata": {"labels": {"app": "r", "tier": "web"}},
            "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]},
        },
    }
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CloneSet",
        "metadata": {"name": f"rules-{secrets.token_hex(3)}"},
        "spec": body,
    }


def _template(**pod_spec: Any) -> dict[str, Any]:
    template: dict[str, Any] = copy.deepcopy(_cloneset()["spec"]["template"])
    template["spec"].update(pod_spec)
    return template


def _strategy(**fields: Any) -> dict[str, Any]:
    return {"updateStrategy": fields}


REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "negative replicas": (_cloneset(replicas=-1), "must be greater than or equal to 0"),
    "maxUnavailable 0 and maxSurge 0": (
        _cloneset(**_strategy(maxUnavailable=0, maxSurge=0)),
        "maxUnavailable and maxSurge should not both be less than 1",
    ),
    "maxUnavailable 0% and no maxSurge": (
        _cloneset(**_strategy(maxUnavailable="0%")),
        "maxUnavailable and maxSurge should not both be less than 1",
    ),
    "maxSurge not a percentage": (
        _cloneset(**_strategy(maxSurge="5")),
        "failed GetScaledValueFromIntOrPercent for maxSurge: invalid type: string is not a percentage",
    ),
    "partition a malformed percentage": (
        _cloneset(**_strategy(partition="x%")),
        "failed GetScaledValueFromIntOrPercent for partition: "
        'strconv.ParseFloat: parsing "x": invalid syntax',
    ),
    "negative partition": (
        _cloneset(**_strategy(partition="-150%")),
        "must be greater than or equal to 0",
    ),
    "InPlaceOnly with maxSurge": (
        _cloneset(**_strategy(type="InPlaceOnly", maxSurge="50%")),
        "can not use maxSurge with strategy type InPlaceOnly",
    ),
    "selector labels not on the template": (
        _cloneset(selector={"matchLabels": {"app": "other"}}),
        "`selector` does not match template `labels`",
    ),
    "selector expression not matching": (
        _cloneset(
            selector={
                "matchLabels": {"app": "r"},
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}],
            }
        ),
        "`selector` does not match template `labels`",
    ),
    "restartPolicy Never": (
        _cloneset(template=_template(restartPolicy="Never")),
        'supported values: "Always"',
    ),
    "activeDeadlineSeconds": (
        _cloneset(template=_template(activeDeadlineSeconds=30)),
        "activeDeadlineSeconds in cloneset is not Supported",
    ),
    "progressDeadlineSeconds not above minReadySeconds": (
        _cloneset(progressDeadlineSeconds=10, minReadySeconds=10),
        "must be greater than minReadySeconds",
    ),
    "both priority kinds": (
        _cloneset(
            **_strategy(
                priorityStrategy={
                    "orderPriority": [{"orderedKey": "rank"}],
                    "weightPriority": [{"weight": 10, "matchSelector": {"matchLabels": {"a": "b"}}}],
                }
            )
        ),
        "only one of weightPriority and orderPriority can be used",
    ),
}

ACCEPTED: dict[str, dict[str, Any]] = {
    # kruise's validation_test.go success case: a percentage above 100%
    "maxUnavailable 120%": _cloneset(**_strategy(maxUnavailable="120%")),
    "maxUnavailable 0 with maxSurge 1": _cloneset(**_strategy(maxUnavailable=0, maxSurge=1)),
    "nothing unavailable at 0 replicas": _cloneset(replicas=0, **_strategy(maxUnavailable=0)),
    "decimal percentage": _cloneset(**_strategy(maxUnavailable="12.5%")),
    "InPlaceOnly with maxSurge 0%": _cloneset(**_strategy(type="InPlaceOnly", maxSurge="0%")),
    "selector expressions matching": _cloneset(
        selector={
            "matchLabels": {"app": "r"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["web", "api"]},
                {"key": "zone", "operator": "DoesNotExist"},
                {"key": "app", "operator": "Exists"},
            ],
        }
    ),
}


def _create(api_client: k8s.ApiClient, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    api = k8s.CustomObjectsApi(api_client)
    created = api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    assert isinstance(created, dict)
    return created


def _refusal(call: Any) -> str:
    with pytest.raises(ApiException) as info:
        call()
    assert info.value.status == 422, info.value.body
    message = json.loads(str(info.value.body))["message"]
    assert isinstance(message, str)
    return message


def test_refused_by_cel_and_by_the_shared_rules_with_kruises_text(
    crds: list[str], api_client: k8s.ApiClient, namespace: str
) -> None:
    for name, (body, text) in REFUSED.items():
        message = _refusal(lambda body=body: _create(api_client, namespace, body))
        assert text in message, f"{name}: {message}"
        errors = rules.validate("CloneSet", rules.default("CloneSet", body))
        assert any(text in e.detail for e in errors), f"{name}: the shared rules say {errors}"


def test_accepted_by_cel_and_by_the_shared_rules(
    crds: list[str], api_client: k8s.ApiClient, namespace: str
) -> None:
    for name, body in ACCEPTED.items():
        stored = _create(api_client, namespace, body)
        assert stored["metadata"]["name"] == body["metadata"]["name"], name
        assert rules.validate("CloneSet", stored) == [], name


def test_selector_is_immutable_and_the_template_is_not(
    crds: list[str], api_client: k8s.ApiClient, namespace: str
) -> None:
    api = k8s.CustomObjectsApi(api_client)
    body = _cloneset()
    name = body["metadata"]["name"]
    stored = _create(api_client, namespace, body)

    changed = copy.deepcopy(stored)
    changed["spec"]["selector"] = {"matchLabels": {"tier": "web"}}
    message = _refusal(
        lambda: api.replace_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, changed)
    )
    forbidden = (
        "updates to cloneset spec for fields other than 'replicas', 'template', 'lifecycle', "
        "'scaleStrategy', 'updateStrategy', 'minReadySeconds', 'progressDeadlineSeconds', "
        "'volumeClaimTemplates' and 'revisionHistoryLimit' are forbidden"
    )
    assert forbidden in message
    assert [str(e) for e in rules.validate("CloneSet", changed, stored)] == [f"spec: Forbidden: {forbidden}"]

    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.26"}]}},
            "replicas": 3,
        }
    }
    api.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch)


def test_scale_subresource_reads_the_defaulted_replicas(
    crds: list[str], api_client: k8s.ApiClient, namespace: str
) -> None:
    body = _cloneset()
    del body["spec"]["replicas"]
    _create(api_client, namespace, body)
    api = k8s.CustomObjectsApi(api_client)
    scale = api.get_namespaced_custom_object_scale(
        GROUP, VERSION, namespace, PLURAL, body["metadata"]["name"]
    )
    # SetDefaultsCloneSet: replicas 1
    assert isinstance(scale, dict)
    assert scale["spec"]["replicas"] == 1
