"""SidecarSet through the real API server with the webhook registered (the chart's registrations).

A SidecarSet created as kruise's own unit test creates it (``TestMutatingSidecarSetFn``) gets
kruise's defaults and the two hashes that test expects; a second SidecarSet injecting the same
container on an overlapping selector is refused with kruise's message; the pods of a Deployment
(kube-controller-manager) and of a CloneSet (the Flotilla worker) get the sidecar before the app
container, ``IS_INJECTED`` and kruise's annotations; a pod UPDATE sent to the webhook lands as
sent, as kruise answers it. The SidecarSets are cluster-scoped: they
select only this test's namespace and a label no other test uses, and are deleted at the end.

Collected in test_webhook_server.py (imported there), so it shares that module's webhook process
instead of starting one more (~40 s of make test).
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.webhook import WEBHOOK_NAME
from tests.integration.webhook.conftest import Webhook
from tests.support.polling import eventually, eventually_async
from tests.support.workerstack import worker_stack

GROUP, VERSION, PLURAL = "apps.kruise.io", "v1beta1", "sidecarsets"
#: kruise v1.9.1 pkg/webhook/sidecarset/mutating/sidecarset_mutating_test.go, for container dns-f
#: image dns:1.0 defaulted.
KRUISE_HASH = "6wbd76bd7984x24fb4f44fv9222cw9v9bcf85x766744wddd4zwx927zzz2zb684"
KRUISE_HASH_WITHOUT_IMAGE = "82684vwf9d4cb4wz4vffx4ddfbb47ww4z4wwxdbwb8w2zbb7zvf4524cdd49bv94"


def _sidecarset(name: str, namespace: str, label: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SidecarSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"sidecar-test": label}},
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "containers": [{"name": "dns-f", "image": "dns:1.0"}],
        },
    }


def _template(label: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web", "sidecar-test": label}},
        "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]},
    }


def _injected(pods: list[Any]) -> list[Any]:
    return [
        p
        for p in pods
        if [c.name for c in p.spec.containers] == ["dns-f", "main"]
        and (p.metadata.annotations or {}).get("kruise.io/sidecarset-injected-list")
    ]


async def test_sidecarsets_are_hashed_checked_and_injected_into_deployment_and_cloneset_pods(
    admission_webhook: Webhook,
    api_client: k8s.ApiClient,
    dev_env: DevEnvironment,
    jetstream: JetStreamContext,
    namespace: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    custom, core, apps = (
        k8s.CustomObjectsApi(api_client),
        k8s.CoreV1Api(api_client),
        k8s.AppsV1Api(api_client),
    )
    label = f"sc-{os.urandom(3).hex()}"
    name = f"sidecarset-{label}"
    try:
        created: Any = custom.create_cluster_custom_object(
            GROUP, VERSION, PLURAL, _sidecarset(name, namespace, label)
        )
        annotations = created["metadata"]["annotations"]
        assert annotations["kruise.io/sidecarset-hash"] == KRUISE_HASH
        assert annotations["kruise.io/sidecarset-hash-without-image"] == KRUISE_HASH_WITHOUT_IMAGE
        container = created["spec"]["containers"][0]
        assert (container["podInjectPolicy"], container["imagePullPolicy"]) == (
            "BeforeAppContainer",
            "IfNotPresent",
        )

        with pytest.raises(k8s.ApiException) as refused:
            custom.create_cluster_custom_object(
                GROUP, VERSION, PLURAL, _sidecarset(f"{name}-2", namespace, label)
            )
        assert refused.value.status == 500, "kruise answers SidecarSet field errors with 500"
        assert json.loads(str(refused.value.body))["message"] == (
            'admission webhook "vsidecarset.kb.io" denied the request: spec.containers: '
            f'Invalid value: "dns-f": container dns-f already exist in {name}'
        )

        deployment: Any = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"sidecar-test": label}},
                "template": _template(label),
            },
        }
        apps.create_namespaced_deployment(namespace, deployment)
        cloneset = {
            "apiVersion": "apps.kruise.io/v1alpha1",
            "kind": "CloneSet",
            "metadata": {"name": "clone"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"sidecar-test": label, "owner": "cloneset"}},
                "template": {
                    **_template(label),
                    "metadata": {"labels": {"sidecar-test": label, "owner": "cloneset"}},
                },
            },
        }
        custom.create_namespaced_custom_object("apps.kruise.io", "v1alpha1", namespace, "clonesets", cloneset)

        async with worker_stack(
            "cloneset",
            dev_env=dev_env,
            jetstream=jetstream,
            namespace=namespace,
            tmp_path=tmp_path,
            request=request,
        ):

            def four_injected() -> list[Any]:
                pods = core.list_namespaced_pod(namespace, label_selector=f"sidecar-test={label}").items
                done = _injected(pods)
                return done if len(done) == 4 and len(pods) == 4 else []

            pods = await eventually_async(
                four_injected, within=90, interval=0.5, what="4 pods with the sidecar"
            )
        owners = sorted(p.metadata.owner_references[0].kind for p in pods)
        assert owners == ["CloneSet", "CloneSet", "ReplicaSet", "ReplicaSet"]
        for pod in pods:
            sidecar = pod.spec.containers[0]
            assert (sidecar.image, [(e.name, e.value) for e in sidecar.env]) == (
                "dns:1.0",
                [("IS_INJECTED", "true")],
            )
            annotations = pod.metadata.annotations
            assert annotations["kruise.io/sidecarset-injected-list"] == name
            spec = json.loads(annotations["kruise.io/sidecarset-hash"])[name]
            assert (spec["hash"], spec["sidecarSetName"], spec["sidecarList"]) == (
                KRUISE_HASH,
                name,
                ["dns-f"],
            )
            without = json.loads(annotations["kruise.io/sidecarset-hash-without-image"])[name]
            assert without["hash"] == KRUISE_HASH_WITHOUT_IMAGE
    finally:
        for each in (name, f"{name}-2"):
            try:
                custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, each)
            except k8s.ApiException as err:
                if err.status != 404:
                    raise


def _revision(name: str, set_name: str, version: str, image: str) -> dict[str, Any]:
    """A ControllerRevision as kruise's ``NewRevision`` writes one for a SidecarSet
    (pkg/control/sidecarcontrol/history_control.go:66-128: the labels, the hash annotations, the
    ``$patch: replace`` spec of ``copySidecarSetSpecRevision``)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": name,
            "labels": {
                "kruise.io/sidecarset-name": set_name,
                "apps.kruise.io/sidecarset-custom-version": version,
            },
            "annotations": {
                "kruise.io/sidecarset-hash": "hash-of-v1",
                "kruise.io/sidecarset-hash-without-image": "hash-without-image-of-v1",
            },
        },
        "revision": 1,
        "data": {
            "spec": {
                "$patch": "replace",
                "containers": [
                    {
                        "name": "pinned",
                        "image": image,
                        "podInjectPolicy": "BeforeAppContainer",
                        "shareVolumePolicy": {"type": "disabled"},
                        "upgradeStrategy": {"upgradeType": "ColdUpgrade"},
                    }
                ],
                "volumes": None,
                "initContainers": None,
                "imagePullSecrets": None,
                "patchPodMetadata": None,
            }
        },
    }


def _refusal(err: k8s.ApiException) -> str:
    return str(json.loads(str(err.body))["message"])


def test_a_pinned_custom_version_is_injected_and_a_missing_revision_refused(
    admission_webhook: Webhook, api_client: k8s.ApiClient, namespace: str
) -> None:
    """``injectionStrategy.revision`` (kruise pkg/webhook/pod/mutating/sidecarset.go:181-250): the
    webhook reads the ControllerRevision kruise's way (here written by hand in the webhook's own
    namespace, where the SidecarSet worker keeps them) and injects its recorded sidecar, with its
    hash and name in the pod's annotation; a SidecarSet pinning a revision that does not exist is
    refused with kruise's message (sidecarset_create_update_handler.go:201-204)."""
    custom, core, apps = (
        k8s.CustomObjectsApi(api_client),
        k8s.CoreV1Api(api_client),
        k8s.AppsV1Api(api_client),
    )
    label = f"pin-{os.urandom(3).hex()}"
    name = f"sidecarset-{label}"
    apps.create_namespaced_controller_revision(
        admission_webhook.namespace,
        _revision(f"{name}-v1", name, "v1", "busybox:1.35"),  # type: ignore[arg-type]
    )
    pinned: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SidecarSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"sidecar-test": label}},
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "containers": [{"name": "pinned", "image": "busybox:1.36"}],
            "injectionStrategy": {"revision": {"customVersion": "v1", "policy": "Always"}},
        },
    }
    missing = {
        **pinned,
        "metadata": {"name": f"{name}-missing"},
        "spec": {**pinned["spec"], "injectionStrategy": {"revision": {"revisionName": f"{name}-v9"}}},
    }
    try:
        custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, pinned)
        with pytest.raises(k8s.ApiException) as refused:
            custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, missing)
        assert _refusal(refused.value) == (
            'admission webhook "vsidecarset.kb.io" denied the request: revision: Invalid value: "null": '
            f'Cannot find specific ControllerRevision, err: controllerrevisions.apps "{name}-v9" not found'
        )
        pod: dict[str, Any] = {
            "metadata": {"name": "pinned", "labels": {"sidecar-test": label}},
            "spec": {"containers": [{"name": "main", "image": "nginx"}]},
        }

        def injected() -> Any:
            created: Any = core.create_namespaced_pod(namespace, pod, dry_run="All")  # type: ignore[arg-type]
            return created if [c.name for c in created.spec.containers] == ["pinned", "main"] else None

        created = eventually(injected, timeout=10, interval=0.2, what="the pinned SidecarSet injected")
        assert created.spec.containers[0].image == "busybox:1.35", "the revision's image, not the latest"
        recorded = json.loads(created.metadata.annotations["kruise.io/sidecarset-hash"])[name]
        assert (recorded["hash"], recorded["controllerRevision"]) == ("hash-of-v1", f"{name}-v1")
    finally:
        for each in (name, f"{name}-missing"):
            with contextlib.suppress(k8s.ApiException):
                custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, each)
        apps.delete_namespaced_controller_revision(f"{name}-v1", admission_webhook.namespace)


def test_patch_pod_metadata_is_checked_against_kruises_configuration_configmap(
    admission_webhook: Webhook, api_client: k8s.ApiClient, namespace: str
) -> None:
    """kruise's ``ValidateSidecarSetPatchMetadataWhitelist`` (pkg/control/sidecarcontrol/util.go:546-594)
    over the ``kruise-configuration`` ConfigMap the webhook keeps by watch (here in its own
    namespace, ``--kruise-configuration``): none, refused; the whitelist written, a matching key
    is admitted and another refused with kruise's messages."""
    custom, core = k8s.CustomObjectsApi(api_client), k8s.CoreV1Api(api_client)
    label = f"meta-{os.urandom(3).hex()}"

    def sidecarset(key: str) -> dict[str, Any]:
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SidecarSet",
            "metadata": {"name": f"sidecarset-{label}"},
            "spec": {
                "selector": {"matchLabels": {"sidecar-test": label}},
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "containers": [{"name": "agent", "image": "busybox:1.36"}],
                "patchPodMetadata": [{"annotations": {key: "on"}, "patchPolicy": "Overwrite"}],
            },
        }

    def create(key: str) -> str:
        try:
            custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, sidecarset(key), dry_run="All")
        except k8s.ApiException as err:
            return _refusal(err)
        return "admitted"

    prefix = (
        'admission webhook "vsidecarset.kb.io" denied the request: spec.patchPodMetadata: Required value: '
    )
    assert create("example.com/agent") == prefix + "SidecarSet patch metadata whitelist not found"
    whitelist = {"rules": [{"allowedAnnotationKeyExprs": [r"^example\.com/"]}]}
    configmap = {
        "metadata": {"name": "kruise-configuration"},
        "data": {"SidecarSet_PatchPodMetadata_WhiteList": json.dumps(whitelist)},
    }
    core.create_namespaced_config_map(admission_webhook.namespace, configmap)  # type: ignore[arg-type]
    try:
        eventually(
            lambda: create("example.com/agent") == "admitted",
            timeout=10,
            interval=0.2,
            what="the whitelist read from the ConfigMap's watch",
        )
        assert create("other.io/agent") == (
            prefix + "sidecarSet patch metadata annotation(other.io/agent) is not allowed"
        )
    finally:
        core.delete_namespaced_config_map("kruise-configuration", admission_webhook.namespace)


def test_resources_policy_is_validated_and_computed_at_pod_create(
    admission_webhook: Webhook, api_client: k8s.ApiClient, namespace: str
) -> None:
    """``resourcesPolicy`` (kruise 1.9): refused together with ``resources`` (kruise's message,
    sidecarset_create_update_handler.go:517-521); otherwise the sidecar's resources are computed
    from the pod's containers at CREATE (sidecarset_resources.go: sum of the app containers'
    limits 200m + 400m, x 50% = 300m; requests 100Mi + 200Mi, x 20% = 60Mi)."""
    custom, core = k8s.CustomObjectsApi(api_client), k8s.CoreV1Api(api_client)
    label = f"res-{os.urandom(3).hex()}"
    name = f"sidecarset-{label}"
    policy = {
        "targetContainersMode": "sum",
        "targetContainersNameRegex": "^app",
        "resourcesExpr": {"limits": {"cpu": "cpu*50%"}, "requests": {"memory": "memory*20%"}},
    }
    sidecarset: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SidecarSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"sidecar-test": label}},
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "containers": [
                {
                    "name": "sized",
                    "image": "busybox:1.36",
                    "resourcesPolicy": policy,
                    "resources": {"limits": {"cpu": "1"}},
                }
            ],
        },
    }
    with pytest.raises(k8s.ApiException) as refused:
        custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, sidecarset)
    message = _refusal(refused.value)
    assert message.startswith(
        'admission webhook "vsidecarset.kb.io" denied the request: spec[0].resourcesPolicy: Invalid value: '
    ), message
    assert message.endswith(": resourcesPolicy and resources cannot be configured together"), message
    del sidecarset["spec"]["containers"][0]["resources"]
    custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, sidecarset)
    try:

        def app(name: str, cpu: str, memory: str) -> dict[str, Any]:
            return {
                "name": name,
                "image": "nginx",
                "resources": {"limits": {"cpu": cpu}, "requests": {"memory": memory}},
            }

        pod: dict[str, Any] = {
            "metadata": {"name": "sized", "labels": {"sidecar-test": label}},
            "spec": {"containers": [app("app1", "200m", "100Mi"), app("app2", "400m", "200Mi")]},
        }

        def injected() -> Any:
            created: Any = core.create_namespaced_pod(namespace, pod, dry_run="All")  # type: ignore[arg-type]
            return created if created.spec.containers[0].name == "sized" else None

        created = eventually(injected, timeout=10, interval=0.2, what="the sized sidecar injected")
        resources = created.spec.containers[0].resources
        # (the API server defaults the cpu request to the limit after the webhook's patch)
        assert (resources.limits, resources.requests["memory"]) == ({"cpu": "300m"}, "60Mi")
    finally:
        custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)


def _mutated_pod_updates(webhook: Webhook) -> float:
    """Pod UPDATEs the webhook admitted on /mutate (its ``flotilla_webhook_admissions_total``)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{webhook.http_port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    labels = ('path="/mutate"', 'kind="Pod"', 'operation="UPDATE"', 'outcome="allowed"')
    for line in text.splitlines():
        if line.startswith("flotilla_webhook_admissions_total{") and all(x in line for x in labels):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_pod_update_sent_to_the_webhook_is_admitted_unchanged_as_kruise_answers(
    admission_webhook: Webhook, api_client: k8s.ApiClient, dev_env: DevEnvironment, namespace: str
) -> None:
    """kruise registers ``mpod.kb.io`` for CREATE only, as the chart does; its handler answers an
    UPDATE too, and leaves the pod as sent (pkg/webhook/pod/mutating/sidecarset.go:111-116: the
    SidecarControl's ``IsPodAvailabilityChanged`` is false). Here a copy of the chart's pod
    registration for UPDATE (failing closed, this namespace only) sends pod updates to the
    webhook: a pod injected at CREATE, whose SidecarSet has a new image since, is relabelled and
    then has its sidecar upgraded in place (as the SidecarSet worker does); each update lands as
    sent: no re-injection, the sidecar neither reset nor re-stamped. Before this route the webhook
    refused every pod UPDATE ("no /mutate handler for kind Pod ... on UPDATE")."""
    custom, core = k8s.CustomObjectsApi(api_client), k8s.CoreV1Api(api_client)
    label = f"upd-{os.urandom(3).hex()}"
    name = f"sidecarset-{label}"
    registered = json.loads(
        dev_env.kubectl("get", "mutatingwebhookconfiguration", WEBHOOK_NAME, "-o", "json").stdout
    )
    pod_hook = next(hook for hook in registered["webhooks"] if hook["name"] == "mpod.kb.io")
    rule = {**pod_hook["rules"][0], "operations": ["UPDATE"]}
    on_update = {
        **{k: v for k, v in pod_hook.items() if k != "objectSelector"},
        "name": "mpod-update.flotilla.test",
        "failurePolicy": "Fail",
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "rules": [rule],
    }
    configuration = f"pod-update-{label}"
    dev_env.kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "MutatingWebhookConfiguration",
                "metadata": {"name": configuration},
                "webhooks": [on_update],
            }
        ),
    )
    sidecarset = _sidecarset(name, namespace, label)
    sidecarset["spec"]["containers"][0]["image"] = "busybox:1.35"
    custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, sidecarset)
    pod: dict[str, Any] = {
        "metadata": {"name": "web-0", "labels": {"sidecar-test": label}},
        "spec": {"containers": [{"name": "main", "image": "nginx"}], "nodeName": "no-such-node"},
    }

    def dry_created_sidecar() -> str:  # a pod named other than web-0, which exists after a while
        probe = {**pod, "metadata": {**pod["metadata"], "name": "probe"}}
        created: Any = core.create_namespaced_pod(namespace, probe, dry_run="All")  # type: ignore[arg-type]
        return str(created.spec.containers[0].image) if created.spec.containers[0].name == "dns-f" else ""

    try:
        eventually(lambda: dry_created_sidecar() == "busybox:1.35", timeout=10, interval=0.2, what="injected")
        created: Any = core.create_namespaced_pod(namespace, pod)  # type: ignore[arg-type]
        assert [c.name for c in created.spec.containers] == ["dns-f", "main"]
        injected_annotations = dict(created.metadata.annotations)
        newer = {**sidecarset["spec"]["containers"][0], "image": "busybox:1.36"}
        custom.patch_cluster_custom_object(GROUP, VERSION, PLURAL, name, {"spec": {"containers": [newer]}})
        eventually(  # the webhook's SidecarSet cache has the new image (a CREATE now injects it)
            lambda: dry_created_sidecar() == "busybox:1.36", timeout=10, interval=0.2, what="new image"
        )

        def update_reached_the_webhook() -> bool:
            before = _mutated_pod_updates(admission_webhook)
            probe = {"metadata": {"labels": {"probe": "x"}}}
            core.patch_namespaced_pod("web-0", namespace, probe, dry_run="All")
            return _mutated_pod_updates(admission_webhook) > before

        eventually(
            update_reached_the_webhook,
            timeout=15,
            interval=0.3,
            what=lambda: f"the API server calling the UPDATE registration\n{admission_webhook.log_text()}",
        )
        relabelled: Any = core.patch_namespaced_pod(
            "web-0", namespace, {"metadata": {"labels": {"tier": "front"}}}
        )
        assert relabelled.metadata.labels == {"sidecar-test": label, "tier": "front"}
        assert [(c.name, c.image) for c in relabelled.spec.containers] == [
            ("dns-f", "busybox:1.35"),
            ("main", "nginx"),
        ], "not re-injected with the SidecarSet's new image"
        assert relabelled.metadata.annotations == injected_annotations
        upgraded: Any = core.patch_namespaced_pod(
            "web-0", namespace, {"spec": {"containers": [{"name": "dns-f", "image": "busybox:1.36"}]}}
        )
        assert [(c.name, c.image) for c in upgraded.spec.containers] == [
            ("dns-f", "busybox:1.36"),
            ("main", "nginx"),
        ], "an in-place sidecar upgrade lands as sent"
        assert upgraded.metadata.annotations == injected_annotations
    finally:
        dev_env.kubectl(
            "delete", "mutatingwebhookconfiguration", configuration, "--ignore-not-found", check=False
        )
        with contextlib.suppress(k8s.ApiException):
            custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
