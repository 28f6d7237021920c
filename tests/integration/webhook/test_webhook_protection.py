"""Deletion protection through the real API server with ``flotilla webhook`` registered.

Each protected kind is deleted with ``kubectl`` and the refusal is the text a user reads:
``admission webhook "<kruise's webhook name>" denied the request: <kruise's message>`` (kruise
v1.9.1, ``pkg/webhook/util/deletionprotection``). Expected messages are written out by hand
from kruise's format strings, never taken from Flotilla's code.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
import yaml
from kubernetes import client as k8s

from flotilla.devcluster.env import DevEnvironment
from tests.integration.webhook.conftest import PROTECTION_LABEL, Webhook, create_namespace
from tests.support.polling import eventually

ALWAYS = f"forbidden by ResourcesProtectionDeletion for {PROTECTION_LABEL}=Always"


def denied(webhook_name: str, message: str) -> str:
    return f'admission webhook "{webhook_name}" denied the request: {message}'


def delete(dev_env: DevEnvironment, *target: str) -> subprocess.CompletedProcess[str]:
    return dev_env.kubectl("delete", *target, "--wait=false", check=False)


def label(dev_env: DevEnvironment, value: str | None, *target: str, check: bool = True) -> None:
    change = f"{PROTECTION_LABEL}={value}" if value else f"{PROTECTION_LABEL}-"
    dev_env.kubectl("label", *target, change, "--overwrite", check=check)


def _workload(api_version: str, kind: str, name: str, replicas: int) -> dict[str, object]:
    labels = {"app": name}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "main", "image": "nginx"}]}}
    spec: dict[str, object] = {
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "template": template,
    }
    if kind == "UnitedDeployment":
        clone_set = {"selector": {"matchLabels": labels}, "template": template}
        spec = {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"cloneSetTemplate": {"metadata": {"labels": labels}, "spec": clone_set}},
            "topology": {"subsets": [{"name": "a"}]},
        }
    if kind == "StatefulSet" and api_version == "apps/v1":
        spec["serviceName"] = name
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "labels": {PROTECTION_LABEL: "Always"}},
        "spec": spec,
    }


# (apiVersion, kind, resource for kubectl, kruise's webhook name)
WORKLOADS = [
    ("apps/v1", "Deployment", "deployments.apps", "vbuiltindeployment.kb.io"),
    ("apps/v1", "ReplicaSet", "replicasets.apps", "vbuiltinreplicaset.kb.io"),
    ("apps/v1", "StatefulSet", "statefulsets.apps", "vbuiltinstatefulset.kb.io"),
    ("apps.kruise.io/v1alpha1", "CloneSet", "clonesets.apps.kruise.io", "vcloneset.kb.io"),
    ("apps.kruise.io/v1beta1", "StatefulSet", "statefulsets.apps.kruise.io", "vstatefulset.kb.io"),
    (
        "apps.kruise.io/v1alpha1",
        "UnitedDeployment",
        "uniteddeployments.apps.kruise.io",
        "vuniteddeployment.kb.io",
    ),
]


@pytest.mark.parametrize(
    ("api_version", "kind", "resource", "webhook_name"), WORKLOADS, ids=[w[2] for w in WORKLOADS]
)
def test_workload_deletion_protection(
    admission_webhook: Webhook,
    dev_env: DevEnvironment,
    namespace: str,
    api_version: str,
    kind: str,
    resource: str,
    webhook_name: str,
) -> None:
    name = "protected"
    target = (resource, name, "-n", namespace)
    manifest = yaml.safe_dump(_workload(api_version, kind, name, replicas=2))
    dev_env.kubectl("apply", "-n", namespace, "-f", "-", input=manifest)

    refused = delete(dev_env, *target)
    assert refused.returncode != 0
    assert denied(webhook_name, ALWAYS) in refused.stderr

    label(dev_env, "Cascading", *target)
    refused = delete(dev_env, *target)
    assert (
        denied(
            webhook_name,
            f"forbidden by ResourcesProtectionDeletion for {PROTECTION_LABEL}=Cascading and replicas 2>0",
        )
        in refused.stderr
    )

    dev_env.kubectl("patch", *target, "--type=merge", "-p", '{"spec":{"replicas":0}}')
    deleted = delete(dev_env, *target)
    assert deleted.returncode == 0, deleted.stderr


def test_unlabelled_and_unknown_values_are_not_protected(
    admission_webhook: Webhook, dev_env: DevEnvironment, namespace: str
) -> None:
    dev_env.kubectl("create", "deployment", "plain", "-n", namespace, "--image=nginx", "--replicas=0")
    assert delete(dev_env, "deployment", "plain", "-n", namespace).returncode == 0
    dev_env.kubectl("create", "deployment", "other", "-n", namespace, "--image=nginx", "--replicas=3")
    label(dev_env, "Sometimes", "deployment", "other", "-n", namespace)
    assert delete(dev_env, "deployment", "other", "-n", namespace).returncode == 0


def test_service_and_ingress_are_protected_by_always_only(
    admission_webhook: Webhook, dev_env: DevEnvironment, namespace: str
) -> None:
    dev_env.kubectl("create", "service", "clusterip", "svc", "-n", namespace, "--tcp=80:80")
    label(dev_env, "Always", "service", "svc", "-n", namespace)
    assert denied("vservice.kb.io", ALWAYS) in delete(dev_env, "service", "svc", "-n", namespace).stderr
    label(dev_env, "Cascading", "service", "svc", "-n", namespace)
    assert delete(dev_env, "service", "svc", "-n", namespace).returncode == 0

    dev_env.kubectl("create", "ingress", "web", "-n", namespace, "--rule=example.com/=svc:80")
    label(dev_env, "Always", "ingress", "web", "-n", namespace)
    assert denied("vingress.kb.io", ALWAYS) in delete(dev_env, "ingress", "web", "-n", namespace).stderr
    label(dev_env, None, "ingress", "web", "-n", namespace)
    assert delete(dev_env, "ingress", "web", "-n", namespace).returncode == 0


@pytest.fixture
def protected_namespace(api_client: k8s.ApiClient, dev_env: DevEnvironment) -> Iterator[str]:
    core = k8s.CoreV1Api(api_client)
    name = f"t-protected-ns-{os.urandom(3).hex()}"
    create_namespace(core, name, {PROTECTION_LABEL: "Always"})
    eventually(lambda: core.list_namespaced_service_account(name).items, what="the default ServiceAccount")
    try:
        yield name
    finally:
        label(dev_env, None, "namespace", name, check=False)
        delete(dev_env, "namespace", name)


def test_namespace_deletion_protection(
    admission_webhook: Webhook, dev_env: DevEnvironment, api_client: k8s.ApiClient, protected_namespace: str
) -> None:
    core = k8s.CoreV1Api(api_client)
    ns = protected_namespace
    assert denied("vnamespace.kb.io", ALWAYS) in delete(dev_env, "namespace", ns).stderr

    label(dev_env, "Cascading", "namespace", ns)
    pod = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="active"),
        spec=k8s.V1PodSpec(
            containers=[k8s.V1Container(name="main", image="nginx")], node_name="no-such-node"
        ),
    )
    core.create_namespaced_pod(ns, pod)
    refused = delete(dev_env, "namespace", ns)
    cascading = f"forbidden by ResourcesProtectionDeletion for {PROTECTION_LABEL}=Cascading"
    assert denied("vnamespace.kb.io", f"{cascading} and active pods 1>0") in refused.stderr

    core.delete_namespaced_pod("active", ns, grace_period_seconds=0)
    eventually(lambda: not core.list_namespaced_pod(ns).items, what="the pod gone")
    volume = k8s.V1PersistentVolume(
        metadata=k8s.V1ObjectMeta(name=f"pv-{ns}"),
        spec=k8s.V1PersistentVolumeSpec(
            capacity={"storage": "1Gi"},
            access_modes=["ReadWriteOnce"],
            host_path=k8s.V1HostPathVolumeSource(path="/tmp/flotilla-pv"),
            storage_class_name="manual",
            claim_ref=k8s.V1ObjectReference(namespace=ns, name="data"),
        ),
    )
    core.create_persistent_volume(volume)
    try:
        claim = k8s.V1PersistentVolumeClaim(
            metadata=k8s.V1ObjectMeta(name="data"),
            spec=k8s.V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteOnce"],
                storage_class_name="manual",
                volume_name=f"pv-{ns}",
                resources=k8s.V1VolumeResourceRequirements(requests={"storage": "1Gi"}),
            ),
        )
        core.create_namespaced_persistent_volume_claim(ns, claim)
        eventually(
            lambda: core.read_namespaced_persistent_volume_claim("data", ns).status.phase == "Bound",
            what="the claim Bound by the PV controller",
        )
        refused = delete(dev_env, "namespace", ns)
        assert denied("vnamespace.kb.io", f'{cascading} and "Bound" status pvc 1>0') in refused.stderr
        core.delete_namespaced_persistent_volume_claim("data", ns)
        eventually(lambda: not core.list_namespaced_persistent_volume_claim(ns).items, what="the claim gone")
    finally:
        core.delete_persistent_volume(f"pv-{ns}")
    assert delete(dev_env, "namespace", ns).returncode == 0


def test_crd_deletion_protection(admission_webhook: Webhook, dev_env: DevEnvironment) -> None:
    group = f"t{os.urandom(3).hex()}.flotilla.dev"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}", "labels": {PROTECTION_LABEL: "Always"}},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    name = f"widgets.{group}"
    dev_env.kubectl("apply", "-f", "-", input=yaml.safe_dump(crd))
    dev_env.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=30s")
    try:
        assert denied("vcustomresourcedefinition.kb.io", ALWAYS) in delete(dev_env, "crd", name).stderr
        label(dev_env, "Cascading", "crd", name)
        widget = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "one", "namespace": "default"},
        }
        eventually(
            lambda: (
                dev_env.kubectl("apply", "-f", "-", input=yaml.safe_dump(widget), check=False).returncode == 0
            ),
            what="the Widget created",
        )
        refused = delete(dev_env, "crd", name)
        message = (
            f"forbidden by ResourcesProtectionDeletion for {PROTECTION_LABEL}=Cascading and active CRs 1>0"
        )
        assert denied("vcustomresourcedefinition.kb.io", message) in refused.stderr
        dev_env.kubectl("delete", f"widgets.{group}", "one", "-n", "default")
        assert delete(dev_env, "crd", name).returncode == 0
    finally:
        label(dev_env, None, "crd", name, check=False)  # gone already when the test passed
        delete(dev_env, "crd", name)
