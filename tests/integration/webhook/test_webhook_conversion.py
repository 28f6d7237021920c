"""CRD conversion through the real API server with ``flotilla webhook --crd-conversion``.

One webhook (its own Service name and namespace, no admission configurations) points the
statefulsets/sidecarsets.apps.kruise.io CRDs at ``/convert``; each kind is created at one
version and read at the other and back. What each side drops is written out by hand from
kruise v1.9.1 (``apis/apps/v1beta1/statefulset_conversion.go``, ``sidecarset_conversion.go``):
v1alpha1 has no reserveOrdinals / lifecycle / scaleStrategy / PVC retention / ordinals; a
v1alpha1 SidecarSet ``namespace`` becomes a ``kubernetes.io/metadata.name`` namespaceSelector
and its custom-version label ``spec.customVersion``. The last test stops the webhook: reads at
v1alpha1 fail, reads at v1beta1 (the stored version) still work. The CRDs are set back to
``strategy: None`` at teardown so the rest of the session is untouched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from flotilla.devcluster.env import DevEnvironment
from tests.integration.webhook.conftest import Webhook, create_namespace, start_webhook, stop_webhook
from tests.integration.webhook.test_webhook_server import _post, _secret_field
from tests.support.polling import eventually

GROUP = "apps.kruise.io"
CONVERTED = {"statefulsets": "statefulsets.apps.kruise.io", "sidecarsets": "sidecarsets.apps.kruise.io"}
CUSTOM_VERSION_LABEL = "apps.kruise.io/sidecarset-custom-version"


def _set_conversion_none(ext: k8s.ApiextensionsV1Api, name: str) -> None:
    for _ in range(5):
        crd = ext.api_client.sanitize_for_serialization(ext.read_custom_resource_definition(name))
        crd["spec"]["conversion"] = {"strategy": "None"}
        try:
            ext.replace_custom_resource_definition(name, crd)
            return
        except k8s.ApiException as err:
            if err.status != 409:
                raise


def _conversion(ext: k8s.ApiextensionsV1Api, name: str) -> dict[str, Any]:
    crd = ext.api_client.sanitize_for_serialization(ext.read_custom_resource_definition(name))
    return dict(crd["spec"]["conversion"])


@pytest.fixture(scope="module")
def converting_webhook(
    dev_env: DevEnvironment,
    api_client: k8s.ApiClient,
    kruise_crds: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Webhook]:
    core, ext = k8s.CoreV1Api(api_client), k8s.ApiextensionsV1Api(api_client)
    suffix = os.urandom(3).hex()
    home, service = f"flotilla-convert-{suffix}", f"flotilla-convert-{suffix}"
    create_namespace(core, home)
    log = tmp_path_factory.mktemp("convert") / "webhook.log"
    webhook = start_webhook(dev_env, home, log, "--crd-conversion", service_name=service)
    url = f"https://127.0.0.1:{webhook.port}/convert"
    try:

        def registered() -> bool:
            assert webhook.proc.poll() is None, f"flotilla webhook exited:\n{webhook.log_text()}"
            for name in CONVERTED.values():
                conversion = _conversion(ext, name)
                client = (conversion.get("webhook") or {}).get("clientConfig") or {}
                if conversion["strategy"] != "Webhook" or client.get("url") != url:
                    return False
            return True

        eventually(registered, timeout=60, what=lambda: f"CRDs converting by {url}\n{webhook.log_text()}")
        yield webhook
    finally:
        for name in CONVERTED.values():
            _set_conversion_none(ext, name)
        stop_webhook(webhook)
        dev_env.kubectl("delete", "namespace", home, "--wait=false", "--ignore-not-found", check=False)


def _api(api_client: k8s.ApiClient) -> k8s.CustomObjectsApi:
    return k8s.CustomObjectsApi(api_client)


def _read(api_client: k8s.ApiClient, version: str, plural: str, namespace: str, name: str) -> dict[str, Any]:
    obj: Any = _api(api_client).get_namespaced_custom_object(GROUP, version, namespace, plural, name)
    assert obj["apiVersion"] == f"{GROUP}/{version}"
    return dict(obj)


def _first_read(
    api_client: k8s.ApiClient, version: str, plural: str, namespace: str, name: str
) -> dict[str, Any]:
    """The first read at a version: the API server may still be picking up the CRD's new strategy."""

    def attempt() -> dict[str, Any] | None:
        try:
            return _read(api_client, version, plural, namespace, name)
        except k8s.ApiException as err:
            if err.status == 500:
                return None
            raise

    found = eventually(attempt, timeout=20, what=f"{plural}/{name} readable at {version}")
    assert found is not None
    return found


def _template(app: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": "main", "image": "nginx"}]},
    }


def test_advanced_statefulset_round_trips_and_v1alpha1_drops_the_v1beta1_only_fields(
    converting_webhook: Webhook, api_client: k8s.ApiClient, namespace: str
) -> None:
    common = {
        "replicas": 0,
        "serviceName": "web",
        "selector": {"matchLabels": {"app": "web"}},
        "template": _template("web"),
        "podManagementPolicy": "Parallel",
        "revisionHistoryLimit": 4,
    }
    rolling = {"partition": 1, "maxUnavailable": 2, "podUpdatePolicy": "InPlaceIfPossible", "paused": True}
    alpha = {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "StatefulSet",
        "metadata": {"name": "alpha"},
        "spec": {**common, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": rolling}},
    }
    _api(api_client).create_namespaced_custom_object(GROUP, "v1alpha1", namespace, "statefulsets", alpha)
    up = _first_read(api_client, "v1beta1", "statefulsets", namespace, "alpha")
    for key, value in common.items():
        assert up["spec"][key] == value, key
    for key, value in rolling.items():
        assert up["spec"]["updateStrategy"]["rollingUpdate"][key] == value, key

    beta_only = {
        "reserveOrdinals": [1, 3],
        "ordinals": {"start": 2},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
        "scaleStrategy": {"maxUnavailable": 1},
        "lifecycle": {"preDelete": {"labelsHandler": {"hold": "true"}}},
    }
    beta = {
        "apiVersion": f"{GROUP}/v1beta1",
        "kind": "StatefulSet",
        "metadata": {"name": "beta"},
        "spec": {
            **common,
            **beta_only,
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": rolling},
        },
    }
    _api(api_client).create_namespaced_custom_object(GROUP, "v1beta1", namespace, "statefulsets", beta)
    down = _first_read(api_client, "v1alpha1", "statefulsets", namespace, "beta")
    assert not set(beta_only) & set(down["spec"]), "kruise's v1alpha1 has none of these"
    for key, value in common.items():
        assert down["spec"][key] == value, key
    assert down["spec"]["updateStrategy"]["rollingUpdate"]["partition"] == 1
    stored = _read(api_client, "v1beta1", "statefulsets", namespace, "beta")
    for key, value in beta_only.items():
        assert stored["spec"][key] == value, f"{key} is kept in the stored v1beta1"
    back = _read(api_client, "v1alpha1", "statefulsets", namespace, "alpha")
    assert back["spec"]["updateStrategy"]["rollingUpdate"]["podUpdatePolicy"] == "InPlaceIfPossible"


def test_sidecarset_namespace_and_custom_version_convert_as_kruise_converts_them(
    converting_webhook: Webhook, api_client: k8s.ApiClient
) -> None:
    name = f"convert-{os.urandom(3).hex()}"
    alpha = {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "SidecarSet",
        "metadata": {"name": name, "labels": {CUSTOM_VERSION_LABEL: "v2", "team": "a"}},
        "spec": {
            "namespace": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "containers": [{"name": "log", "image": "busybox"}],
        },
    }
    api = _api(api_client)
    api.create_cluster_custom_object(GROUP, "v1alpha1", "sidecarsets", alpha)
    try:
        up = _first_read_cluster(api_client, "v1beta1", name)
        assert "namespace" not in up["spec"]
        assert up["spec"]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "web"}}
        assert up["spec"]["customVersion"] == "v2"
        assert up["metadata"]["labels"] == {"team": "a"}

        down = _first_read_cluster(api_client, "v1alpha1", name)
        assert "namespace" not in down["spec"], "kruise: the namespace comes back as the selector"
        assert down["spec"]["namespaceSelector"] == up["spec"]["namespaceSelector"]
        assert "customVersion" not in down["spec"]
        assert down["metadata"]["labels"] == {"team": "a", CUSTOM_VERSION_LABEL: "v2"}
    finally:
        api.delete_cluster_custom_object(GROUP, "v1beta1", "sidecarsets", name)


def _first_read_cluster(api_client: k8s.ApiClient, version: str, name: str) -> dict[str, Any]:
    def attempt() -> dict[str, Any] | None:
        try:
            obj: Any = _api(api_client).get_cluster_custom_object(GROUP, version, "sidecarsets", name)
        except k8s.ApiException as err:
            if err.status == 500:
                return None
            raise
        assert obj["apiVersion"] == f"{GROUP}/{version}"
        return dict(obj)

    found = eventually(attempt, timeout=20, what=f"sidecarset {name} readable at {version}")
    assert found is not None
    return found


def test_a_malformed_review_gets_a_400_and_the_server_keeps_converting(
    converting_webhook: Webhook, api_client: k8s.ApiClient
) -> None:
    core = k8s.CoreV1Api(api_client)
    ca = _secret_field(
        core, converting_webhook.namespace, f"{converting_webhook.namespace}-certs", "ca-cert.pem"
    )
    status, body = _post(converting_webhook.port, ca, "/convert", b"{not json")
    assert status == 400
    assert body.decode().startswith("malformed ConversionReview: not JSON")
    review = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "request": {"uid": "u-1", "desiredAPIVersion": "apps.kruise.io/v1alpha1", "objects": "x"},
    }
    status, body = _post(converting_webhook.port, ca, "/convert", json.dumps(review).encode())
    assert status == 200
    assert json.loads(body)["response"] == {
        "uid": "u-1",
        "result": {"status": "Failure", "message": "request.objects must be a list"},
    }
    assert converting_webhook.proc.poll() is None


def test_with_the_webhook_down_only_the_stored_version_reads(
    converting_webhook: Webhook, api_client: k8s.ApiClient, namespace: str
) -> None:
    sts = {
        "apiVersion": f"{GROUP}/v1beta1",
        "kind": "StatefulSet",
        "metadata": {"name": "down"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "d"}}, "template": _template("d")},
    }
    _api(api_client).create_namespaced_custom_object(GROUP, "v1beta1", namespace, "statefulsets", sts)
    stop_webhook(converting_webhook)  # the module's last test: the fixture's teardown restores None
    with pytest.raises(k8s.ApiException) as refused:
        _read(api_client, "v1alpha1", "statefulsets", namespace, "down")
    assert refused.value.status == 500
    assert "conversion webhook for apps.kruise.io/v1beta1, Kind=StatefulSet failed" in str(refused.value.body)
    assert _read(api_client, "v1beta1", "statefulsets", namespace, "down")["spec"]["replicas"] == 0
