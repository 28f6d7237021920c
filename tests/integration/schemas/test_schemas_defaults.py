"""kruise's defaults on the real API server: a minimal object of each kind, created and read back,
carries the values kruise's defaulting webhook stores.

Expected values are copied from kruise v1.9.1's source (the file is named at each case), not from
Flotilla's models; only the unconditional defaults OpenAPI can hold are checked here (the
conditional ones wait for the admission webhook, see docs/schemas.md).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from kubernetes import client as k8s

from schemas.crdgen import install_crds

KRUISE = "apps.kruise.io"
POD_TEMPLATE = {
    "metadata": {"labels": {"app": "d"}},
    "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]},
}
SELECTOR = {"matchLabels": {"app": "d"}}


@pytest.fixture(scope="module")
def crds(api_client: k8s.ApiClient) -> list[str]:
    return install_crds(api_client)


def _create_and_read(
    api_client: k8s.ApiClient,
    group: str,
    version: str,
    plural: str,
    kind: str,
    spec: dict[str, Any],
    namespace: str | None,
) -> dict[str, Any]:
    """Create ``spec`` as a new object and return what the API server stores (raw JSON)."""
    api = k8s.CustomObjectsApi(api_client)
    name = f"defaults-{secrets.token_hex(3)}"
    body = {"apiVersion": f"{group}/{version}", "kind": kind, "metadata": {"name": name}, "spec": spec}
    raw: Any
    if namespace is None:
        api.create_cluster_custom_object(group, version, plural, body)
        try:
            raw = api.get_cluster_custom_object(group, version, plural, name, _preload_content=False)
        finally:
            api.delete_cluster_custom_object(group, version, plural, name)
    else:
        api.create_namespaced_custom_object(group, version, namespace, plural, body)
        raw = api.get_namespaced_custom_object(
            group, version, namespace, plural, name, _preload_content=False
        )
    stored: dict[str, Any] = json.loads(raw.data)["spec"]
    return stored


def test_cloneset_minimal_reads_back_kruise_defaults(
    crds: list[str], api_client: k8s.ApiClient, namespace: str
) -> None:
    spec = _create_and_read(
        api_client, KRUISE, "v1alpha1", "clonesets", "CloneSet",
        {"selector": SELECTOR, "template": POD_TEMPLATE}, namespace,
    )  # fmt: skip
    # kruise apis/apps/defaults/v1alpha1.go SetDefaultsCloneSet; DefaultCloneSetMaxUnavailable = "20%"
    # (apis/apps/v1alpha1/cloneset_types.go); the e2e reads type and 20% back
    # (test/e2e/apps/v1alpha1/cloneset.go).
    assert spec["replicas"] == 1
    assert spec["revisionHistoryLimit"] == 10
    assert spec["updateStrategy"] == {
        "type": "ReCreate",
        "partition": 0,
        "maxUnavailable": "20%",
        "maxSurge": 0,
    }
    assert "minReadySeconds" not in spec
    assert "scaleStrategy" not in spec


def test_cloneset_user_values_are_kept(crds: list[str], api_client: k8s.ApiClient, namespace: str) -> None:
    strategy = {"type": "InPlaceIfPossible", "maxUnavailable": 2, "paused": True}
    spec = _create_and_read(
        api_client, KRUISE, "v1alpha1", "clonesets", "CloneSet",
        {"replicas": 0, "selector": SELECTOR, "template": POD_TEMPLATE, "updateStrategy": strategy},
        namespace,
    )  # fmt: skip
    assert spec["replicas"] == 0
    assert spec["updateStrategy"] == {**strategy, "partition": 0, "maxSurge": 0}


@pytest.mark.parametrize("version", ["v1beta1", "v1alpha1"])
def test_advanced_statefulset_defaults(
    version: str, crds: list[str], api_client: k8s.ApiClient, namespace: str
) -> None:
    spec = _create_and_read(
        api_client, KRUISE, version, "statefulsets", "StatefulSet",
        {"selector": SELECTOR, "template": POD_TEMPLATE, "updateStrategy": {"rollingUpdate": {}}},
        namespace,
    )  # fmt: skip
    # kruise apis/apps/defaults/v1beta1.go SetDefaultsStatefulSet
    assert spec["replicas"] == 1
    assert spec["revisionHistoryLimit"] == 10
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {
            "partition": 0,
            "maxUnavailable": 1,
            "podUpdatePolicy": "ReCreate",
            "minReadySeconds": 0,
        },
    }


@pytest.mark.parametrize("version", ["v1beta1", "v1alpha1"])
def test_sidecarset_defaults(version: str, crds: list[str], api_client: k8s.ApiClient) -> None:
    spec = _create_and_read(
        api_client, KRUISE, version, "sidecarsets", "SidecarSet",
        {
            "selector": SELECTOR,
            "containers": [{"name": "sidecar", "image": "busybox"}],
            "initContainers": [{"name": "init", "image": "busybox"}],
            "patchPodMetadata": [{"annotations": {"a": "b"}}],
            "injectionStrategy": {"revision": {"revisionName": "r1"}},
        },
        None,
    )  # fmt: skip
    # kruise apis/apps/defaults/v1beta1.go SetDefaultsSidecarSetV1beta1 (v1alpha1.go has the same
    # rules): setSidecarSetUpdateStrategy,
    # setDefaultSidecarContainer (containers BeforeAppContainer, initContainers AfterAppContainer),
    # SetDefaultInjectRevision, SetDefaultRevisionHistoryLimit
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "maxUnavailable": 1, "partition": 0}
    sidecar, init = spec["containers"][0], spec["initContainers"][0]
    assert sidecar["podInjectPolicy"] == "BeforeAppContainer"
    assert init["podInjectPolicy"] == "AfterAppContainer"
    for container in (sidecar, init):
        assert container["upgradeStrategy"] == {"upgradeType": "ColdUpgrade"}
        assert container["shareVolumePolicy"] == {"type": "disabled"}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["patchPodMetadata"] == [{"annotations": {"a": "b"}, "patchPolicy": "Retain"}]
    assert spec["injectionStrategy"] == {"revision": {"revisionName": "r1", "policy": "Always"}}


def test_uniteddeployment_defaults(crds: list[str], api_client: k8s.ApiClient, namespace: str) -> None:
    clone_template = {"selector": SELECTOR, "template": POD_TEMPLATE}
    spec = _create_and_read(
        api_client, KRUISE, "v1alpha1", "uniteddeployments", "UnitedDeployment",
        {
            "selector": SELECTOR,
            "template": {"cloneSetTemplate": {"metadata": {"labels": {"app": "d"}}, "spec": clone_template}},
            "topology": {"subsets": [{"name": "a"}]},
        },
        namespace,
    )  # fmt: skip
    # kruise apis/apps/defaults/v1alpha1.go SetDefaultsUnitedDeployment: history 10, Manual with
    # manualUpdate {}, spec.replicas not defaulted; the template is defaulted by the CloneSet's own
    # webhook when the subset CloneSet is created, not inside the UnitedDeployment.
    assert spec["revisionHistoryLimit"] == 10
    assert spec["updateStrategy"] == {"type": "Manual", "manualUpdate": {}}
    assert "replicas" not in spec
    assert spec["template"]["cloneSetTemplate"]["spec"] == clone_template


@pytest.mark.parametrize("version", ["v1beta1", "v1alpha1"])
def test_broadcastjob_defaults(
    version: str, crds: list[str], api_client: k8s.ApiClient, namespace: str
) -> None:
    template = {"spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}}
    spec = _create_and_read(
        api_client, KRUISE, version, "broadcastjobs", "BroadcastJob", {"template": template}, namespace
    )
    # kruise apis/apps/defaults/v1beta1.go SetDefaultsBroadcastJob: parallelism 1<<31 - 1
    assert spec["completionPolicy"] == {"type": "Always"}
    assert spec["parallelism"] == 2147483647
    assert spec["failurePolicy"] == {"type": "FailFast"}


@pytest.mark.parametrize("version", ["v1beta1", "v1alpha1"])
def test_advancedcronjob_defaults(
    version: str, crds: list[str], api_client: k8s.ApiClient, namespace: str
) -> None:
    job = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    spec = _create_and_read(
        api_client, KRUISE, version, "advancedcronjobs", "AdvancedCronJob",
        {"schedule": "*/5 * * * *", "template": {"jobTemplate": job}}, namespace,
    )  # fmt: skip
    # kruise apis/apps/defaults/v1beta1.go SetDefaultsAdvancedCronJob (no imageListPullJobTemplate:
    # Allow); at v1beta1 the policy depends on the template kind, so the admission webhook sets it
    if version == "v1alpha1":
        assert spec["concurrencyPolicy"] == "Allow"
    assert spec["paused"] is False
    assert spec["successfulJobsHistoryLimit"] == 3
    assert spec["failedJobsHistoryLimit"] == 1


@pytest.mark.parametrize("version", ["v1beta1", "v1alpha1"])
def test_imagepulljob_defaults(
    version: str, crds: list[str], api_client: k8s.ApiClient, namespace: str
) -> None:
    spec = _create_and_read(
        api_client, KRUISE, version, "imagepulljobs", "ImagePullJob", {"image": "nginx:1.25"}, namespace
    )
    # kruise apis/apps/defaults/v1alpha1.go SetDefaultsImagePullJob (parallelism is not defaulted)
    assert spec["completionPolicy"] == {"type": "Always"}
    assert spec["pullPolicy"] == {"timeoutSeconds": 600, "backoffLimit": 3}
    assert spec["imagePullPolicy"] == "IfNotPresent"
    assert "parallelism" not in spec


@pytest.mark.parametrize("version", ["v1beta1", "v1alpha1"])
def test_nodeimage_tag_defaults(version: str, crds: list[str], api_client: k8s.ApiClient) -> None:
    spec = _create_and_read(
        api_client, KRUISE, version, "nodeimages", "NodeImage",
        {"images": {"nginx": {"tags": [{"tag": "1.25"}]}}}, None,
    )  # fmt: skip
    # kruise apis/apps/defaults/v1alpha1.go SetDefaultsNodeImage, SetDefaultsImageTagPullPolicy
    assert spec["images"]["nginx"]["tags"][0]["pullPolicy"] == {"timeoutSeconds": 600, "backoffLimit": 3}


def test_containerrecreaterequest_defaults(
    crds: list[str], api_client: k8s.ApiClient, namespace: str
) -> None:
    spec = _create_and_read(
        api_client, KRUISE, "v1alpha1", "containerrecreaterequests", "ContainerRecreateRequest",
        {"podName": "p", "containers": [{"name": "main"}]}, namespace,
    )  # fmt: skip
    # kruise pkg/webhook/containerrecreaterequest/mutating/crr_mutating_handler.go: strategy {} and
    # failurePolicy Fail (the pod-derived defaults need the webhook)
    assert spec["strategy"] == {"failurePolicy": "Fail"}


def test_podunavailablebudget_has_no_defaults(
    crds: list[str], api_client: k8s.ApiClient, namespace: str
) -> None:
    written = {"selector": SELECTOR, "maxUnavailable": 1}
    spec = _create_and_read(
        api_client, "policy.kruise.io", "v1alpha1", "podunavailablebudgets", "PodUnavailableBudget",
        written, namespace,
    )  # fmt: skip
    # kruise has no mutating webhook for PodUnavailableBudget
    assert spec == written


def test_advancedcronjob_image_list_pull_template_is_v1beta1_only(
    crds: list[str], api_client: k8s.ApiClient, namespace: str
) -> None:
    template = {"imageListPullJobTemplate": {"spec": {"images": ["nginx:1.25"]}}}
    body = {"schedule": "0 * * * *", "template": template}
    spec = _create_and_read(
        api_client, KRUISE, "v1beta1", "advancedcronjobs", "AdvancedCronJob", body, namespace
    )
    assert spec["template"] == template, "kept, and not defaulted inside the template"
    with pytest.raises(k8s.ApiException) as refused:
        _create_and_read(
            api_client, KRUISE, "v1alpha1", "advancedcronjobs", "AdvancedCronJob", body, namespace
        )
    assert refused.value.status == 422
