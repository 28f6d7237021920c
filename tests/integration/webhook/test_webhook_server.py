"""``flotilla webhook`` beyond deletion protection: the KruisePodReady readiness gate through the
API server, bad input answered (not crashed on), and its certificates: one Secret shared by every
replica (created once when several start together), served as stored, renewed before expiry with
the CA kept, and the CA in the webhook configurations' caBundle.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from kubernetes import client as k8s

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.webhook import WEBHOOK_NAME
from tests.integration.webhook.conftest import Webhook, create_namespace, start_webhook, stop_webhook
from tests.integration.webhook.sidecarset_injection import (  # noqa: F401  (collected here: shares the webhook)
    test_a_pinned_custom_version_is_injected_and_a_missing_revision_refused,
    test_a_pod_update_sent_to_the_webhook_is_admitted_unchanged_as_kruise_answers,
    test_patch_pod_metadata_is_checked_against_kruises_configuration_configmap,
    test_resources_policy_is_validated_and_computed_at_pod_create,
    test_sidecarsets_are_hashed_checked_and_injected_into_deployment_and_cloneset_pods,
)
from tests.support.polling import eventually

SECRET = f"{WEBHOOK_NAME}-certs"


def _secret_field(core: k8s.CoreV1Api, namespace: str, name: str, field: str) -> bytes:
    return base64.b64decode(core.read_namespaced_secret(name, namespace).data[field])


def _served_certificate(port: int) -> bytes:
    """The certificate the webhook presents in a TLS handshake (DER)."""
    return ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", port), timeout=5))


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


def _pod(name: str, owner: dict[str, object] | None, gates: list[str] | None = None) -> k8s.V1Pod:
    spec = k8s.V1PodSpec(
        containers=[k8s.V1Container(name="main", image="nginx")],
        node_name="no-such-node",
        readiness_gates=[k8s.V1PodReadinessGate(condition_type=g) for g in gates] if gates else None,
    )
    owners = [k8s.V1OwnerReference(**owner)] if owner else None  # type: ignore[arg-type]
    return k8s.V1Pod(metadata=k8s.V1ObjectMeta(name=name, owner_references=owners), spec=spec)


def test_pods_of_kruise_workloads_get_the_readiness_gate(
    admission_webhook: Webhook, api_client: k8s.ApiClient, namespace: str
) -> None:
    core = k8s.CoreV1Api(api_client)
    custom = k8s.CustomObjectsApi(api_client)
    cloneset = custom.create_namespaced_custom_object(
        "apps.kruise.io", "v1alpha1", namespace, "clonesets",
        {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "metadata": {"name": "cs"},
         "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "cs"}},
                  "template": {"metadata": {"labels": {"app": "cs"}},
                               "spec": {"containers": [{"name": "main", "image": "nginx"}]}}}},
    )  # fmt: skip
    kruise_owner = {
        "api_version": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": "cs",
        "uid": cloneset["metadata"]["uid"], "controller": True,
    }  # fmt: skip
    gated = core.create_namespaced_pod(namespace, _pod("owned", kruise_owner))
    assert [g.condition_type for g in gated.spec.readiness_gates] == ["KruisePodReady"]

    already = core.create_namespaced_pod(
        namespace, _pod("already", kruise_owner, ["KruisePodReady", "x/ready"])
    )
    assert [g.condition_type for g in already.spec.readiness_gates] == ["KruisePodReady", "x/ready"]

    other = core.create_namespaced_pod(
        namespace, _pod("other", kruise_owner | {"controller": False}, ["x/ready"])
    )
    assert [g.condition_type for g in other.spec.readiness_gates] == ["x/ready"], (
        "not the controller: no gate"
    )

    plain = core.create_namespaced_pod(namespace, _pod("plain", None))
    assert plain.spec.readiness_gates is None


def _post(port: int, ca: bytes, path: str, body: bytes) -> tuple[int, bytes]:
    context = ssl.create_default_context(cadata=ca.decode())
    request = urllib.request.Request(
        f"https://127.0.0.1:{port}{path}", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_bad_input_gets_a_clear_answer_and_the_server_keeps_serving(
    admission_webhook: Webhook, api_client: k8s.ApiClient
) -> None:
    core = k8s.CoreV1Api(api_client)
    ca = _secret_field(core, admission_webhook.namespace, SECRET, "ca-cert.pem")
    port = admission_webhook.port

    status, body = _post(port, ca, "/validate", b"{not json")
    assert status == 400
    assert body.decode().startswith("malformed AdmissionReview: the body is not JSON")

    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u-1"}}
    status, body = _post(port, ca, "/validate", json.dumps(review).encode())
    response = json.loads(body)["response"]
    assert (status, response["uid"], response["allowed"]) == (200, "u-1", False)
    assert response["status"]["code"] == 400
    assert "request.kind must be an object" in response["status"]["message"]

    review["request"] = {
        "uid": "u-2", "operation": "DELETE", "name": "g", "oldObject": {"metadata": {"name": "g"}},
        "kind": {"group": "example.com", "version": "v1", "kind": "Gadget"},
    }  # fmt: skip
    status, body = _post(port, ca, "/validate", json.dumps(review).encode())
    response = json.loads(body)["response"]
    assert (response["uid"], response["allowed"], response["status"]["code"]) == ("u-2", False, 400)
    assert (
        "no /validate handler for kind Gadget of group example.com on DELETE" in response["status"]["message"]
    )

    review["request"] = {
        "uid": "u-3", "operation": "DELETE", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "oldObject": {"metadata": {"labels": ["not", "a", "map"]}},
    }  # fmt: skip
    status, body = _post(port, ca, "/validate", json.dumps(review).encode())
    response = json.loads(body)["response"]
    assert (response["allowed"], response["status"]["code"]) == (False, 400)
    assert "metadata.labels must be a map of strings" in response["status"]["message"]

    with urllib.request.urlopen(f"http://127.0.0.1:{admission_webhook.http_port}/readyz", timeout=5) as ready:
        assert ready.status == 200
    assert admission_webhook.proc.poll() is None


def test_configurations_trust_the_ca_of_the_secret_and_another_replica_reuses_it(
    admission_webhook: Webhook, dev_env: DevEnvironment, api_client: k8s.ApiClient, tmp_path: Path
) -> None:
    core = k8s.CoreV1Api(api_client)
    ns = admission_webhook.namespace
    ca = _secret_field(core, ns, SECRET, "ca-cert.pem")
    cert = _secret_field(core, ns, SECRET, "tls.crt")
    assert _secret_field(core, ns, SECRET, "cert.pem") == cert, "kruise's key names, both"
    served = _served_certificate(admission_webhook.port)
    assert served == _der(cert)
    x509.load_der_x509_certificate(served).verify_directly_issued_by(x509.load_pem_x509_certificate(ca))
    registration = k8s.AdmissionregistrationV1Api(api_client)
    for configuration in (
        registration.read_mutating_webhook_configuration(WEBHOOK_NAME),
        registration.read_validating_webhook_configuration(WEBHOOK_NAME),
    ):
        for hook in configuration.webhooks:
            assert base64.b64decode(hook.client_config.ca_bundle) == ca, hook.name
            assert hook.client_config.url.startswith(f"https://127.0.0.1:{admission_webhook.port}/")

    # A second replica (its own port, and it keeps configurations of another name, so the API
    # server keeps calling the first) serves the very certificate of the Secret: reused, not renewed.
    second = start_webhook(dev_env, ns, tmp_path / "second.log", "--configuration-name", "other")
    try:
        eventually(lambda: _served(second.port) == _der(cert), timeout=90, what=lambda: second.log_text())
    finally:
        stop_webhook(second)
    assert _secret_field(core, ns, SECRET, "tls.crt") == cert


def _served(port: int) -> bytes:
    try:
        return _served_certificate(port)
    except OSError:
        return b""


@pytest.fixture
def fresh_namespace(api_client: k8s.ApiClient, dev_env: DevEnvironment) -> Iterator[str]:
    name = f"t-webhook-certs-{os.urandom(3).hex()}"
    create_namespace(k8s.CoreV1Api(api_client), name)
    yield name
    dev_env.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_replicas_starting_together_create_one_secret_and_renew_before_expiry(
    dev_env: DevEnvironment, api_client: k8s.ApiClient, fresh_namespace: str, tmp_path: Path
) -> None:
    core = k8s.CoreV1Api(api_client)
    ns, secret = fresh_namespace, "rot-certs"
    # Certificates live 40 s and are renewed when less than 25 s remain: each lasts ~15 s.
    args = (
        "--secret-name",
        secret,
        "--cert-validity",
        "40s",
        "--renew-before",
        "25s",
        "--resync-period",
        "1s",
    )
    replicas = [
        start_webhook(dev_env, ns, tmp_path / f"r{i}.log", *args, service_name="rot") for i in range(3)
    ]
    try:
        logs = lambda: "\n".join(r.log_text()[-2000:] for r in replicas)  # noqa: E731
        first = eventually(
            lambda: all(_served(r.port) for r in replicas) and _secret_field(core, ns, secret, "tls.crt"),
            timeout=120,
            what=logs,
        )
        created = sum(r.log_text().count("created the webhook certificate Secret") for r in replicas)
        assert created == 1, logs()
        stored = _secret_field(core, ns, secret, "tls.crt")
        eventually(lambda: {_served(r.port) for r in replicas} == {_der(stored)}, timeout=30, what=logs)
        ca = _secret_field(core, ns, secret, "ca-cert.pem")
        started = time.monotonic()
        renewed = eventually(
            lambda: (c := _secret_field(core, ns, secret, "tls.crt")) != first and c, timeout=60, what=logs
        )
        assert time.monotonic() - started < 40, "renewed before the old certificate expired"
        assert _secret_field(core, ns, secret, "ca-cert.pem") == ca, "the CA outlives the serving certificate"
        eventually(lambda: {_served(r.port) for r in replicas} == {_der(renewed)} or
                   {_served(r.port) for r in replicas} == {_der(_secret_field(core, ns, secret, "tls.crt"))},
                   timeout=30, what=logs)  # fmt: skip
    finally:
        for replica in replicas:
            stop_webhook(replica)


def _cloneset(name: str, spec_extra: dict[str, object]) -> dict[str, object]:
    labels = {"app": name}
    spec = {
        "replicas": 0,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "main", "image": "nginx"}]},
        },
        **spec_extra,
    }
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "CloneSet",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_clonesets_get_kruises_defaults_and_validation(
    admission_webhook: Webhook, api_client: k8s.ApiClient, namespace: str
) -> None:
    custom = k8s.CustomObjectsApi(api_client)
    created = custom.create_namespaced_custom_object(
        "apps.kruise.io", "v1alpha1", namespace, "clonesets", _cloneset("defaulted", {})
    )
    # kruise's SetDefaultsCloneSet and the pod defaults it applies to the template (by hand:
    # an untagged image pulls Always; Kubernetes' container and pod defaults).
    spec = created["spec"]
    assert spec["updateStrategy"]["type"] == "ReCreate"
    assert spec["revisionHistoryLimit"] == 10
    container = spec["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "Always"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"

    invalid = _cloneset("invalid", {"scaleStrategy": {"podsToDelete": ["nope"]}})
    with pytest.raises(k8s.ApiException) as refused:
        custom.create_namespaced_custom_object("apps.kruise.io", "v1alpha1", namespace, "clonesets", invalid)
    assert refused.value.status == 422
    message = json.loads(refused.value.body)["message"]
    assert message == (
        'admission webhook "vclonesetspec.kb.io" denied the request: spec.scaleStrategy.podsToDelete: '
        'Invalid value: "nope": find pod nope failed: pods "nope" not found'
    )


def test_container_launch_priority_is_injected_through_the_api_server(
    admission_webhook: Webhook, api_client: k8s.ApiClient, namespace: str
) -> None:
    """kruise's containerLaunchPriorityInitialization behind the API server: an Ordered pod known
    by generateName comes back named, each container with its barrier env in spec order; a
    priority that is not an integer is refused with kruise's message."""
    core = k8s.CoreV1Api(api_client)
    ordered = {"apps.kruise.io/container-launch-priority": "Ordered"}
    pod = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(generate_name="prio-", annotations=ordered),
        spec=k8s.V1PodSpec(
            node_name="no-such-node",
            containers=[k8s.V1Container(name=n, image="nginx") for n in ("first", "second")],
        ),
    )
    created = api_client.sanitize_for_serialization(core.create_namespaced_pod(namespace, pod))
    name = created["metadata"]["name"]
    assert name.startswith("prio-")
    assert len(name) == len("prio-") + 5
    assert [c["env"] for c in created["spec"]["containers"]] == [
        [
            {
                "name": "KRUISE_CONTAINER_BARRIER",
                "valueFrom": {"configMapKeyRef": {"name": f"{name}-barrier", "key": key}},
            }
        ]
        for key in ("p_0", "p_-1")
    ]
    bad = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="bad"),
        spec=k8s.V1PodSpec(
            node_name="no-such-node",
            containers=[
                k8s.V1Container(
                    name="a",
                    image="nginx",
                    env=[k8s.V1EnvVar(name="KRUISE_CONTAINER_PRIORITY", value="high")],
                ),
                k8s.V1Container(name="b", image="nginx"),
            ],
        ),
    )
    with pytest.raises(k8s.ApiException) as refused:
        core.create_namespaced_pod(namespace, bad)
    assert refused.value.status == 500
    message = json.loads(refused.value.body)["message"]
    assert message.endswith('denied the request: strconv.Atoi: parsing "high": invalid syntax'), message
