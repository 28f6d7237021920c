"""The webhook's pure parts: AdmissionReview parsing and answers, deletion protection decisions
(kruise v1.9.1's messages, written out by hand from its format strings), the readiness-gate patch,
certificates (serving, renewal keeps the CA) and the dispatch of an unknown kind."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from typing import Any

import pytest

from flotilla.runtime.features import feature_gates
from webhook import certs
from webhook.dispatch import VALIDATE_PATH, AdmissionConfig, Facts, admit, route_table
from webhook.podreadiness import inject_readiness_gate
from webhook.protection import protect_crd, protect_namespace, protect_workload
from webhook.review import AdmissionRequest, ReviewError, parse_review, patched, review_response

ON = AdmissionConfig(feature_gates({"ResourcesDeletionProtection": True}))
OFF = AdmissionConfig.defaults()
KEY = "policy.kruise.io/delete-protection"


def _obj(label: str | None, replicas: int | None = None, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "x", "labels": {KEY: label} if label else {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {} if replicas is None else {"replicas": replicas}}


def _delete(kind: str, old: dict[str, Any], group: str = "apps", version: str = "v1") -> AdmissionRequest:
    return AdmissionRequest("u", group, version, kind, "DELETE", "ns", "x", old_object=old)


@pytest.mark.parametrize(
    ("label", "replicas", "deleting", "message"),
    [
        ("Always", 0, False, f"forbidden by ResourcesProtectionDeletion for {KEY}=Always"),
        (
            "Cascading",
            3,
            False,
            f"forbidden by ResourcesProtectionDeletion for {KEY}=Cascading and replicas 3>0",
        ),
        ("Cascading", 0, False, ""),
        ("Cascading", None, False, ""),
        ("Always", 3, True, ""),
        (None, 3, False, ""),
        ("always", 3, False, ""),
    ],
)
def test_workload_protection(label: str | None, replicas: int | None, deleting: bool, message: str) -> None:
    verdict = protect_workload(_delete("Deployment", _obj(label, replicas, deleting)), ON, Facts())
    assert (verdict.allowed, verdict.message) == (not message, message)
    if message:
        assert verdict.code == 403


def test_protection_is_off_without_the_gate() -> None:
    assert protect_workload(_delete("Deployment", _obj("Always", 1)), OFF, Facts()).allowed


def test_namespace_cascading_counts_pods_then_claims() -> None:
    request = _delete("Namespace", _obj("Cascading"), group="")
    cascading = f"forbidden by ResourcesProtectionDeletion for {KEY}=Cascading"
    assert protect_namespace(request, ON, Facts(active_pods=2)).message == f"{cascading} and active pods 2>0"
    verdict = protect_namespace(request, ON, Facts(active_pods=0, bound_claims=1))
    assert verdict.message == f'{cascading} and "Bound" status pvc 1>0'
    assert protect_namespace(request, ON, Facts(active_pods=0, bound_claims=0)).allowed


def test_crd_cascading_needs_its_gate() -> None:
    request = _delete("CustomResourceDefinition", _obj("Cascading"), group="apiextensions.k8s.io")
    verdict = protect_crd(request, ON, Facts())
    assert verdict.message == "feature-gate DeletionProtectionForCRDCascadingGate is not enabled"


def test_readiness_gate_patch() -> None:
    owner = {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "controller": True}
    pod = {"metadata": {"ownerReferences": [owner]}, "spec": {"containers": []}}
    request = AdmissionRequest("u", "", "v1", "Pod", "CREATE", "ns", object=pod)
    verdict = inject_readiness_gate(request, OFF, Facts())
    assert list(verdict.patch) == [
        {"op": "add", "path": "/spec/readinessGates", "value": [{"conditionType": "KruisePodReady"}]}
    ]
    plain = AdmissionRequest("u", "", "v1", "Pod", "CREATE", "ns", object={"spec": {}})
    assert inject_readiness_gate(plain, OFF, Facts()).patch == ()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"nope", "the body is not JSON"),
        (b"[]", "not an AdmissionReview object"),
        (
            b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1beta1"}',
            "expected kind AdmissionReview",
        ),
        (b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}', "has no request"),
    ],
)
def test_malformed_reviews_say_what_is_wrong(body: bytes, reason: str) -> None:
    with pytest.raises(ReviewError, match=reason):
        parse_review(body)


def test_a_refusal_and_a_patch_on_the_wire() -> None:
    review = {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u1", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                    "operation": "DELETE", "namespace": "ns", "name": "x", "oldObject": _obj("Always", 1)},
    }  # fmt: skip
    request = parse_review(json.dumps(review).encode())
    answer = review_response(request.uid, protect_workload(request, ON, Facts()))["response"]
    assert answer == {
        "uid": "u1",
        "allowed": False,
        "status": {"code": 403, "message": f"forbidden by ResourcesProtectionDeletion for {KEY}=Always"},
    }
    patch = [{"op": "add", "path": "/a", "value": 1}]
    answer = review_response("u2", patched(patch))["response"]
    assert answer["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(answer["patch"])) == patch


def test_an_unrouted_kind_is_refused_with_a_reason() -> None:
    request = AdmissionRequest("u", "example.com", "v1", "Gadget", "DELETE", "ns", "g")
    routes = route_table()[VALIDATE_PATH]
    verdict = asyncio.run(admit(routes, VALIDATE_PATH, request, ON, cluster=None))  # type: ignore[arg-type]
    assert (verdict.allowed, verdict.code) == (False, 400)
    assert "no /validate handler for kind Gadget of group example.com on DELETE" in verdict.message


def test_renewal_keeps_the_ca_and_a_certificate_serves_only_its_names_and_time() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    names = ("flotilla-webhook.ns.svc", "127.0.0.1")
    first = certs.new_bundle(names, now, validity=dt.timedelta(days=30), renew_before=dt.timedelta(days=10))
    assert certs.serves(first, names, now, now + dt.timedelta(days=10))
    assert not certs.serves(first, names, now, now + dt.timedelta(days=31)), "expired by then"
    assert not certs.serves(first, ("other.ns.svc",), now, now), "not its name"
    later = now + dt.timedelta(days=25)
    renewed = certs.new_bundle(
        names, later, validity=dt.timedelta(days=30), renew_before=dt.timedelta(days=10), reuse=first
    )
    assert renewed.ca_cert == first.ca_cert
    assert renewed.cert != first.cert
    assert certs.serves(renewed, names, later, later + dt.timedelta(days=10))


def test_with_kruise_pod_readiness_gate_on_only_kruise_workloads_pods_get_the_gate() -> None:
    # kruise gates every pod then and its pod-readiness controller marks each one KruisePodReady;
    # Flotilla has no such controller for pods of other owners, so a Deployment's pod that got the
    # gate would never turn Ready (kruise's PUB e2e Deployments waited 5 minutes for it).
    gate_on = AdmissionConfig(feature_gates({"KruisePodReadinessGate": True}))
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "controller": True}
    pod = {"metadata": {"ownerReferences": [owner]}, "spec": {"containers": []}}
    request = AdmissionRequest("u", "", "v1", "Pod", "CREATE", "ns", object=pod)
    assert inject_readiness_gate(request, gate_on, Facts()).patch == ()
    owner = {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "controller": True}
    kruise_pod = {"metadata": {"ownerReferences": [owner]}, "spec": {"containers": []}}
    kruise_request = AdmissionRequest("u", "", "v1", "Pod", "CREATE", "ns", object=kruise_pod)
    assert len(inject_readiness_gate(kruise_request, gate_on, Facts()).patch) == 1
