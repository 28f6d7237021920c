"""The webhook's ImageListPullJob routes (kruise v1.9.1 ``pkg/webhook/imagelistpulljob``): both
versions defaulted and validated on CREATE and UPDATE, refused with kruise's 403 while the
``KruiseDaemon`` or ``ImagePullJobGate`` gate is off (validating handler lines 46-51), else kruise's
text with its 400 (lines 57-71: ``admission.Errored(http.StatusBadRequest, err)``); pure."""

from __future__ import annotations

from typing import Any

import pytest

from flotilla.runtime.features import feature_gates
from webhook.dispatch import MUTATE_PATH, VALIDATE_PATH, AdmissionConfig, Facts, route_table
from webhook.kruisekinds import default_object, validate_object
from webhook.review import AdmissionRequest

GATED = AdmissionConfig(feature_gates({"ImagePullJobGate": True}))


def _request(version: str, images: list[str], operation: str = "CREATE", **spec: Any) -> AdmissionRequest:
    obj: dict[str, Any] = {
        "apiVersion": f"apps.kruise.io/{version}",
        "kind": "ImageListPullJob",
        "metadata": {"name": "list", "namespace": "ns"},
        "spec": {"images": images, **spec},
    }
    old = obj if operation == "UPDATE" else None
    return AdmissionRequest(
        "u",
        "apps.kruise.io",
        version,
        "ImageListPullJob",
        operation,
        "ns",
        "list",
        object=obj,
        old_object=old,
    )


def test_both_versions_and_operations_are_routed() -> None:
    routes = route_table()
    for path in (MUTATE_PATH, VALIDATE_PATH):
        for operation in ("CREATE", "UPDATE"):
            assert ("apps.kruise.io", "ImageListPullJob", operation) in routes[path]


@pytest.mark.parametrize(
    ("gates", "message"),
    [
        ({"KruiseDaemon": False, "ImagePullJobGate": True}, "feature-gate KruiseDaemon is not enabled"),
        ({}, "feature-gate ImagePullJobGate is not enabled"),
    ],
)
def test_refused_while_a_daemon_gate_is_off(gates: dict[str, bool], message: str) -> None:
    verdict = validate_object(
        _request("v1beta1", ["nginx:1"]), AdmissionConfig(feature_gates(gates)), Facts()
    )
    assert (verdict.allowed, verdict.code, verdict.message) == (False, 403, message)


@pytest.mark.parametrize("version", ["v1alpha1", "v1beta1"])
@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
def test_validated_with_kruises_text_and_defaulted(version: str, operation: str) -> None:
    refused = validate_object(_request(version, ["nginx:1", "nginx:1"], operation), GATED, Facts())
    assert (refused.allowed, refused.code, refused.message) == (
        False,
        400,
        "images cannot have duplicate values",
    )
    # the validating call sees the object the mutating call defaulted (kruise: the same)
    undefaulted = validate_object(_request(version, ["nginx:1"], operation), GATED, Facts())
    assert undefaulted.message == "unknown type of completionPolicy: "
    always = {"completionPolicy": {"type": "Always"}}
    assert validate_object(
        _request(version, ["nginx:1", "redis:7"], operation, **always), GATED, Facts()
    ).allowed
    verdict = default_object(_request(version, ["nginx:1"], operation), GATED, Facts())
    [patch] = verdict.patch
    assert patch["path"] == "/spec"
    assert patch["value"]["completionPolicy"] == {"type": "Always"}
    assert patch["value"]["pullPolicy"] == {"timeoutSeconds": 600, "backoffLimit": 3}
