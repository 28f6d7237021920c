"""``/convert``'s answer to a ConversionReview and the CRD conversion it registers (pure parts).

Expected reviews are written out by hand from the ConversionReview v1 API
(``apiextensions.k8s.io/v1``) and kruise's conversion rules, not from Flotilla's functions.
"""

from __future__ import annotations

import base64

import orjson
import pytest

from webhook.conversion import (
    MalformedConversion,
    answer_review,
    conversion_client_config,
    patched_crd,
)


def _body(objects: object, desired: object = "apps.kruise.io/v1beta1", uid: str = "u-1") -> bytes:
    request = {"uid": uid, "desiredAPIVersion": desired, "objects": objects}
    return orjson.dumps(
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview", "request": request}
    )


def test_a_sidecarset_is_converted_up_as_kruise_converts_it() -> None:
    v1alpha1 = {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "SidecarSet",
        "metadata": {"name": "s", "labels": {"apps.kruise.io/sidecarset-custom-version": "v2"}},
        "spec": {"namespace": "web", "containers": []},
    }
    outcome = answer_review(_body([v1alpha1]))
    assert outcome.response == {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "response": {
            "uid": "u-1",
            "result": {"status": "Success"},
            "convertedObjects": [
                {
                    "apiVersion": "apps.kruise.io/v1beta1",
                    "kind": "SidecarSet",
                    "metadata": {"name": "s"},
                    "spec": {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "web"}},
                        "containers": [],
                        "customVersion": "v2",
                    },
                }
            ],
        },
    }
    assert (outcome.kind, outcome.count, outcome.failure) == ("SidecarSet", 1, "")


def test_an_object_kruise_cannot_convert_fails_the_review_with_its_message() -> None:
    cronjob = {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "AdvancedCronJob",
        "metadata": {"name": "c", "namespace": "ns"},
        "spec": {"template": {"imageListPullJobTemplate": {"spec": {}}}},
    }
    outcome = answer_review(_body([cronjob], "apps.kruise.io/v1alpha1"))
    message = "AdvancedCronJob ns/c: imageListPullJobTemplate is not supported in v1alpha1"
    assert outcome.response["response"] == {"uid": "u-1", "result": {"status": "Failure", "message": message}}


@pytest.mark.parametrize(
    ("objects", "desired", "message"),
    [
        (
            [{"kind": "SidecarSet"}],
            "v1beta1",
            "request.desiredAPIVersion must be group/version, got 'v1beta1'",
        ),
        ([{"kind": "SidecarSet"}], None, "request.desiredAPIVersion must be group/version, got None"),
        ("nope", "apps.kruise.io/v1beta1", "request.objects must be a list"),
        ([3], "apps.kruise.io/v1beta1", "request.objects[0] is not an object"),
        (
            [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}],
            "apps/v1beta1",
            "Deployment d: cannot convert Deployment to apps/v1beta1: not group apps.kruise.io",
        ),
    ],
)
def test_a_bad_request_gets_a_failure_result(objects: object, desired: object, message: str) -> None:
    response = answer_review(_body(objects, desired)).response
    assert response["response"]["result"] == {"status": "Failure", "message": message}
    assert "convertedObjects" not in response["response"]


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"request": {}}', b'{"request": {"uid": 7}}', b'{"kind": "ConversionReview"}'],
)
def test_a_body_without_a_request_uid_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedConversion):
        answer_review(body)


def _crd(versions: int) -> dict[str, object]:
    names = ["v1beta1", "v1alpha1"][:versions]
    return {
        "metadata": {"name": "statefulsets.apps.kruise.io", "resourceVersion": "5"},
        "spec": {"versions": [{"name": n} for n in names], "conversion": {"strategy": "None"}},
    }


def test_the_crd_converts_through_the_service_or_the_loopback_url() -> None:
    ca = b"-----BEGIN CERTIFICATE-----\n"
    encoded = base64.b64encode(ca).decode()
    by_service = conversion_client_config(ca, None, "flotilla-system", "flotilla-webhook")
    assert patched_crd(_crd(2), by_service)["spec"]["conversion"] == {
        "strategy": "Webhook",
        "webhook": {
            "clientConfig": {
                "caBundle": encoded,
                "service": {
                    "namespace": "flotilla-system",
                    "name": "flotilla-webhook",
                    "port": 443,
                    "path": "/convert",
                },
            },
            "conversionReviewVersions": ["v1"],
        },
    }
    by_url = conversion_client_config(ca, "https://127.0.0.1:9443/", "ns", "svc")
    assert by_url == {"caBundle": encoded, "url": "https://127.0.0.1:9443/convert"}
    assert patched_crd(_crd(1), by_url) == _crd(1)
