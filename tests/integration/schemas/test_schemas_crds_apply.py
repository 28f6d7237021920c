"""The generated CRDs on the real API server: examples apply and round-trip, invalid ones are refused
with the CEL message, kubectl shows kruise's columns, and the scale subresource works."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from schemas.crdgen import install_crds
from schemas.crdgen.generate import generated_files
from schemas.kruise.base import KruiseResource
from schemas.kruise.cloneset import CloneSet
from schemas.kruise.registry import resource_for

Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
VALID = sorted(EXAMPLES.glob("*.yaml"))
INVALID = sorted((EXAMPLES / "invalid").glob("*.yaml"))


@pytest.fixture(scope="module")
def crds(api_client: k8s.ApiClient) -> list[str]:
    return install_crds(api_client)


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def _kept(written: Any, stored: Any) -> bool:
    """Everything written is stored unchanged (the CRD's defaults may add fields, never change them)."""
    if isinstance(written, dict):
        return isinstance(stored, dict) and all(
            k in stored and _kept(v, stored[k]) for k, v in written.items()
        )
    if isinstance(written, list):
        return isinstance(stored, list) and len(stored) == len(written) and all(map(_kept, written, stored))
    return bool(written == stored)


def _get(api_client: k8s.ApiClient, model: type[KruiseResource], name: str, namespace: str | None) -> Any:
    """Read one object as raw JSON (the way workers read: no generated model classes)."""
    api = k8s.CustomObjectsApi(api_client)
    info = model.info
    if info.scope == "Cluster":
        resp = api.get_cluster_custom_object(
            info.group, info.versions[0], info.plural, name, _preload_content=False
        )
    else:
        resp = api.get_namespaced_custom_object(
            info.group, info.versions[0], namespace, info.plural, name, _preload_content=False
        )
    return json.loads(resp.data)


@pytest.fixture
def cluster_scoped_cleanup(kubectl: Kubectl) -> Iterator[list[tuple[str, str]]]:
    created: list[tuple[str, str]] = []
    yield created
    for kind, name in created:
        kubectl("delete", kind, name, "--ignore-not-found", "--wait=false")


def test_install_is_idempotent_and_installs_every_kind(api_client: k8s.ApiClient, crds: list[str]) -> None:
    assert len(crds) == len(generated_files())
    assert install_crds(api_client) == crds


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_example_applies_and_round_trips(
    path: Path,
    crds: list[str],
    namespace: str,
    kubectl: Kubectl,
    api_client: k8s.ApiClient,
    cluster_scoped_cleanup: list[tuple[str, str]],
) -> None:
    manifest = _load(path)
    model = resource_for(manifest["apiVersion"], manifest["kind"])
    resource = f"{model.info.plural}.{model.info.group}"
    ns: str | None = namespace
    if model.info.scope == "Cluster":
        manifest["metadata"]["name"] += f"-{secrets.token_hex(3)}"
        cluster_scoped_cleanup.append((resource, manifest["metadata"]["name"]))
        ns = None
    args = ["apply", "--server-side", "--field-manager=examples-test", "-f", "-"]
    kubectl(*args, *(["-n", ns] if ns else []), input=yaml.safe_dump(manifest))

    stored = _get(api_client, model, manifest["metadata"]["name"], ns)
    assert _kept(manifest["spec"], stored["spec"]), "the API server pruned or changed fields of the example"
    parsed = model.from_wire(stored)
    assert parsed.to_wire(exclude_unset=True) == stored
    assert parsed.metadata["name"] == manifest["metadata"]["name"]


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_example_is_refused_with_a_clear_message(
    path: Path, crds: list[str], namespace: str, kubectl: Kubectl
) -> None:
    manifest = _load(path)
    expected = manifest["metadata"]["annotations"]["flotilla.dev/expected-error"]
    scoped = resource_for(manifest["apiVersion"], manifest["kind"]).info.scope == "Namespaced"
    result = kubectl(
        "apply",
        "--server-side",
        "-f",
        "-",
        *(["-n", namespace] if scoped else []),
        input=path.read_text(),
        check=False,
    )
    assert result.returncode != 0, f"{path.name} was accepted"
    assert expected in result.stderr


def _apply_cloneset(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    manifest = _load(EXAMPLES / "cloneset-basic.yaml")
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest))
    return manifest


def test_kubectl_get_prints_kruise_columns(crds: list[str], namespace: str, kubectl: Kubectl) -> None:
    _apply_cloneset(kubectl, namespace)
    status = {
        "replicas": 3,
        "readyReplicas": 2,
        "updatedReplicas": 3,
        "updatedReadyReplicas": 1,
        "updatedAvailableReplicas": 0,
    }
    kubectl(
        "patch", "cloneset", "basic", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip
    out = kubectl("get", "clonesets", "-n", namespace).stdout.splitlines()
    assert out[0].split() == [
        "NAME",
        "DESIRED",
        "UPDATED",
        "UPDATED_READY",
        "UPDATED_AVAILABLE",
        "READY",
        "TOTAL",
        "AGE",
    ]
    row = out[1].split()
    assert row[:7] == ["basic", "3", "3", "1", "0", "2", "3"]
    wide = kubectl("get", "clone", "basic", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert "nginx:1.25" in wide[1]
    assert "basic" in kubectl("get", "kruise", "-n", namespace).stdout  # the category


def test_scale_subresource(
    crds: list[str], namespace: str, kubectl: Kubectl, api_client: k8s.ApiClient
) -> None:
    _apply_cloneset(kubectl, namespace)
    kubectl("scale", "cloneset/basic", "-n", namespace, "--replicas=5")
    cloneset = CloneSet.from_wire(_get(api_client, CloneSet, "basic", namespace))
    assert cloneset.spec.replicas == 5
    kubectl(
        "patch", "cloneset", "basic", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"replicas": 5, "labelSelector": "app=basic"}}),
    )  # fmt: skip
    scale = json.loads(
        kubectl(
            "get", "--raw", f"/apis/apps.kruise.io/v1alpha1/namespaces/{namespace}/clonesets/basic/scale"
        ).stdout
    )
    assert scale["spec"]["replicas"] == 5
    assert scale["status"] == {"replicas": 5, "selector": "app=basic"}


def test_status_is_a_subresource(
    crds: list[str], namespace: str, kubectl: Kubectl, api_client: k8s.ApiClient
) -> None:
    manifest = _apply_cloneset(kubectl, namespace)
    manifest["status"] = {"replicas": 99}
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest))
    assert CloneSet.from_wire(_get(api_client, CloneSet, "basic", namespace)).status.replicas == 0


def test_kubectl_explain_uses_the_field_docs(crds: list[str], kubectl: Kubectl) -> None:
    out = kubectl("explain", "cloneset.spec.updateStrategy.maxSurge").stdout
    assert "Not allowed with InPlaceOnly" in out
    out = kubectl("explain", "asts.spec.reserveOrdinals").stdout
    assert "ranges like '3-5'" in out


def test_imagepulljob_pull_secrets_are_immutable(
    crds: list[str], namespace: str, api_client: k8s.ApiClient
) -> None:
    # kruise v1.9.1 pkg/webhook/imagepulljob/validating: "spec.pullSecrets is immutable"
    api = k8s.CustomObjectsApi(api_client)
    body = {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "ImagePullJob",
        "metadata": {"name": "secrets"},
        "spec": {"image": "nginx:1.25", "pullSecrets": ["a"]},
    }
    api.create_namespaced_custom_object("apps.kruise.io", "v1beta1", namespace, "imagepulljobs", body)
    patch = {"spec": {"parallelism": 2}}
    api.patch_namespaced_custom_object(
        "apps.kruise.io", "v1beta1", namespace, "imagepulljobs", "secrets", patch
    )
    for change in ({"spec": {"pullSecrets": ["b"]}}, {"spec": {"pullSecrets": None}}):
        with pytest.raises(k8s.ApiException) as refused:
            api.patch_namespaced_custom_object(
                "apps.kruise.io", "v1beta1", namespace, "imagepulljobs", "secrets", change
            )
        assert refused.value.status == 422
        assert "spec.pullSecrets is immutable" in refused.value.body
