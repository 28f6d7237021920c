"""kruise's defaults and validation of Advanced StatefulSet, BroadcastJob, AdvancedCronJob and
PodUnavailableBudget, through the real API server with ``flotilla webhook`` registered.

Per kind: one valid object is created and kruise's defaults are read back (values from kruise's
``apis/apps/defaults/v1beta1.go``, by hand), and one invalid object is refused with the text a user
reads (kruise's message, from its validating handlers; the API server prefixes
``admission webhook "<name>" denied the request: ``). One webhook process serves the module.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

import pytest
from kubernetes import client as k8s

from tests.integration.webhook.conftest import Webhook
from tests.support.polling import eventually

POD = {"containers": [{"name": "main", "image": "nginx"}]}


def _obj(api_version: str, kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, "spec": spec}


def _admissions(webhook: Webhook, path: str, kind: str, operation: str) -> float:
    """AdmissionReviews the webhook answered for ``path``, ``kind`` and ``operation``, any outcome."""
    with urllib.request.urlopen(f"http://127.0.0.1:{webhook.http_port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    labels = (f'path="{path}"', f'kind="{kind}"', f'operation="{operation}"')
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("flotilla_webhook_admissions_total{") and all(x in line for x in labels)
    )


def _refused(create: Any, body: dict[str, Any], code: int) -> str:
    """The API server's message for a refused create, after checking it answered with ``code``,
    the HTTP code kruise's handler refuses with (tests/unit/webhook/test_webhook_refusal_codes.py
    cites each handler's line)."""
    with pytest.raises(k8s.ApiException) as refused:
        create(body)
    assert refused.value.status == code, refused.value.body
    return str(json.loads(refused.value.body or "{}")["message"])


def test_kruise_kinds_are_defaulted_and_validated(
    admission_webhook: Webhook, api_client: k8s.ApiClient, namespace: str
) -> None:
    custom = k8s.CustomObjectsApi(api_client)

    def create(group: str, version: str, plural: str) -> Any:
        return lambda body: custom.create_namespaced_custom_object(group, version, namespace, plural, body)

    # Advanced StatefulSet (SetDefaultsStatefulSet; statefulset_validation.go:300)
    asts = create("apps.kruise.io", "v1beta1", "statefulsets")
    labels = {"app": "web"}
    spec = {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": POD}}
    stored = asts(_obj("apps.kruise.io/v1beta1", "StatefulSet", "web", {**spec, "replicas": 0}))["spec"]
    assert stored["podManagementPolicy"] == "OrderedReady"
    assert stored["updateStrategy"]["rollingUpdate"]["podUpdatePolicy"] == "ReCreate"
    assert stored["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    # a rule CEL cannot check (the template is schemaless); the cross-field ones CEL refuses first
    # (tests/integration/schemas/test_schemas_asts_acj_rules.py). statefulset_validation.go:270
    bad = {
        **spec,
        "replicas": 0,
        "updateStrategy": {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible"}},
    }
    assert _refused(asts, _obj("apps.kruise.io/v1beta1", "StatefulSet", "bad", bad), 422) == (
        'admission webhook "vstatefulsetspec.kb.io" denied the request: '
        "spec.template.spec.readinessGates: Invalid value: []v1.PodReadinessGate(nil): "
        "must contains InPlaceUpdateReady when podUpdatePolicy is InPlaceIfPossible"
    )

    # BroadcastJob (SetDefaultsBroadcastJob; broadcastjob_create_update_handler.go:104)
    bcj = create("apps.kruise.io", "v1beta1", "broadcastjobs")
    never = {"template": {"spec": {**POD, "restartPolicy": "Never"}}, "paused": True}
    stored = bcj(_obj("apps.kruise.io/v1beta1", "BroadcastJob", "bcj", never))["spec"]
    assert stored["parallelism"] == 2147483647
    assert stored["completionPolicy"] == {"type": "Always"}
    assert stored["failurePolicy"]["type"] == "FailFast"
    always = {"template": {"spec": POD}, "paused": True}
    assert _refused(bcj, _obj("apps.kruise.io/v1beta1", "BroadcastJob", "bad", always), 500) == (
        'admission webhook "vbroadcastjobspec.kb.io" denied the request: spec.template.spec.restartPolicy: '
        'Invalid value: "Always": pod restartPolicy can only be Never or OnFailure'
    )

    # AdvancedCronJob (SetDefaultsAdvancedCronJob; time.LoadLocation via validateTimeZone)
    acj = create("apps.kruise.io", "v1beta1", "advancedcronjobs")
    template = {"broadcastJobTemplate": {"spec": {"template": {"spec": {**POD, "restartPolicy": "Never"}}}}}
    cron = {"schedule": "0 0 1 1 *", "paused": True, "template": template}
    stored = acj(_obj("apps.kruise.io/v1beta1", "AdvancedCronJob", "cron", cron))["spec"]
    assert stored["concurrencyPolicy"] == "Allow"
    assert (stored["successfulJobsHistoryLimit"], stored["failedJobsHistoryLimit"]) == (3, 1)
    mars = {**cron, "timeZone": "Mars/Base"}
    assert _refused(acj, _obj("apps.kruise.io/v1beta1", "AdvancedCronJob", "bad", mars), 422) == (
        'admission webhook "vadvancedcronjobspec.kb.io" denied the request: '
        'spec.timeZone: Invalid value: "Mars/Base": unknown time zone Mars/Base'
    )

    # PodUnavailableBudget (no defaults; pub_create_update_handler.go:93). Its selector/targetRef and
    # budget rules are CEL in the CRD with kruise's texts (pub_create_update_handler.go:135): the API
    # server refuses those before the webhook is asked.
    pubs = create("policy.kruise.io", "v1alpha1", "podunavailablebudgets")
    budget = {"selector": {"matchLabels": labels}, "maxUnavailable": 1}
    assert pubs(_obj("policy.kruise.io/v1alpha1", "PodUnavailableBudget", "pub", budget))["spec"] == budget
    # kruise's conflict check (validatePubConflict): a second PUB over the same pods is refused.
    assert _refused(pubs, _obj("policy.kruise.io/v1alpha1", "PodUnavailableBudget", "twin", budget), 400) == (
        'admission webhook "vpodunavailablebudgetspec.kb.io" denied the request: '
        "spec.selector: Invalid value: "
        'v1.LabelSelector{MatchLabels:map[string]string{"app":"web"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: "
        "pub.spec.selector is in conflict with other PodUnavailableBudget pub"
    )
    other = {**budget, "selector": {"matchLabels": {"app": "other"}}}
    operations = _obj("policy.kruise.io/v1alpha1", "PodUnavailableBudget", "bad", other)
    operations["metadata"]["annotations"] = {"kruise.io/pub-protect-operations": "DELETE,KILL"}
    assert _refused(pubs, operations, 400) == (
        'admission webhook "vpodunavailablebudgetspec.kb.io" denied the request: '
        "metadata: Internal error: annotation[kruise.io/pub-protect-operations] is invalid"
    )
    both = {**budget, "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}
    # refused by the CRD's CEL rule before the webhook is asked: the API server's 422 (kruise's CRD
    # has no such rule; its webhook answers this with 400)
    message = _refused(pubs, _obj("policy.kruise.io/v1alpha1", "PodUnavailableBudget", "both", both), 422)
    assert message.endswith(": selector and targetRef are mutually exclusive"), message


def test_daemon_kinds_are_defaulted_checked_and_filled(
    admission_webhook: Webhook, api_client: k8s.ApiClient, namespace: str
) -> None:
    """ImagePullJob, NodeImage and ContainerRecreateRequest (kruise's texts from
    pkg/webhook/{imagepulljob,nodeimage}/validating and containerrecreaterequest/mutating)."""
    custom = k8s.CustomObjectsApi(api_client)
    core = k8s.CoreV1Api(api_client)

    # ImagePullJob (SetDefaultsImagePullJob: the v1alpha1 create adds the protection finalizer)
    def ipj(body: dict[str, Any]) -> Any:
        return custom.create_namespaced_custom_object(
            "apps.kruise.io", "v1alpha1", namespace, "imagepulljobs", body
        )

    stored = ipj(_obj("apps.kruise.io/v1alpha1", "ImagePullJob", "pull", {"image": "nginx:1.25"}))
    assert stored["spec"]["pullPolicy"] == {"timeoutSeconds": 600, "backoffLimit": 3}
    assert stored["spec"]["completionPolicy"]["type"] == "Always"
    assert "apps.kruise.io/deletion-protection" in stored["metadata"]["finalizers"]
    custom.patch_namespaced_custom_object(
        "apps.kruise.io", "v1alpha1", namespace, "imagepulljobs", "pull", {"metadata": {"finalizers": None}}
    )
    bad = _obj("apps.kruise.io/v1alpha1", "ImagePullJob", "bad", {"image": "Nginx:1"})
    assert _refused(ipj, bad, 400) == (
        'admission webhook "vimagepulljobspec.kb.io" denied the request: '
        "invalid image Nginx:1: invalid reference format: repository name must be lowercase"
    )

    # NodeImage (SetDefaultsNodeImage fills createdAt and the pull policy; ttl stays required)
    def node_image(body: dict[str, Any]) -> Any:
        return custom.create_cluster_custom_object("apps.kruise.io", "v1beta1", "nodeimages", body)

    name = f"ni-{namespace}"
    tags: dict[str, Any] = {
        "nginx": {"tags": [{"tag": "b", "pullPolicy": {"ttlSecondsAfterFinished": 60}}, {"tag": "a"}]}
    }
    assert _refused(node_image, _obj("apps.kruise.io/v1beta1", "NodeImage", name, {"images": tags}), 400) == (
        'admission webhook "vnodeimagespec.kb.io" denied the request: '
        "pullPolicy.ttlSecondsAfterFinished for nginx/a must set"
    )
    tags["nginx"]["tags"][1]["pullPolicy"] = {"ttlSecondsAfterFinished": 60}
    stored = node_image(_obj("apps.kruise.io/v1beta1", "NodeImage", name, {"images": tags}))
    try:
        kept = stored["spec"]["images"]["nginx"]["tags"]
        assert [t["tag"] for t in kept] == ["a", "b"]
        assert all(t["createdAt"] and t["pullPolicy"]["backoffLimit"] == 3 for t in kept)
    finally:
        custom.delete_cluster_custom_object("apps.kruise.io", "v1beta1", "nodeimages", name)

    # ContainerRecreateRequest: checked against its pod, then the pod's details filled in.
    def crr(body: dict[str, Any]) -> Any:
        return custom.create_namespaced_custom_object(
            "apps.kruise.io", "v1alpha1", namespace, "containerrecreaterequests", body
        )

    request = {"podName": "ghost", "containers": [{"name": "main"}]}
    assert _refused(crr, _obj("apps.kruise.io/v1alpha1", "ContainerRecreateRequest", "r0", request), 400) == (
        'admission webhook "mcontainerrecreaterequest.kb.io" denied the request: no found Pod named ghost'
    )
    # the pod's Node must exist (kruise reads it); a virtual-kubelet Node's label is copied. A bare
    # Node object: kwok manages only annotated nodes, and it is deleted at the end.
    node = f"crr-vk-{namespace}"
    core.create_node({"metadata": {"name": node, "labels": {"type": "virtual-kubelet"}}})
    try:
        _check_crr_against_pod_and_node(crr, custom, core, namespace, node, request)
    finally:
        core.delete_node(node)


@pytest.mark.parametrize("version", ["v1alpha1", "v1beta1"])
def test_image_list_pull_jobs_are_defaulted_and_validated(
    admission_webhook: Webhook, api_client: k8s.ApiClient, namespace: str, version: str
) -> None:
    """ImageListPullJob, both served versions: kruise's ``SetDefaultsImageListPullJob`` /
    ``...V1beta1`` (apis/apps/defaults/v1alpha1.go:373, v1beta1.go:187: completionPolicy Always,
    pullPolicy 600 s and 3 tries) read back, and its validating handler's texts
    (pkg/webhook/imagelistpulljob/validating/imagelistpulljob_create_update_handler.go:100-121:
    duplicate images, then each image through ``NormalizeImageRef``). Flotilla's CRD carries the
    same defaults (one rule set), so the API server fills them before the webhook is asked and its
    defaulting route answers without a patch (counted below: the route was called); its patch for
    kruise's own CRD, which has no defaults, is in tests/unit/webhook/test_webhook_imagelistpulljob.py.
    No worker runs here, so no ImagePullJob is made from the stored job."""
    custom = k8s.CustomObjectsApi(api_client)
    defaulting_calls = _admissions(admission_webhook, "/mutate", "ImageListPullJob", "CREATE")

    def create(body: dict[str, Any]) -> Any:
        return custom.create_namespaced_custom_object(
            "apps.kruise.io", version, namespace, "imagelistpulljobs", body
        )

    api_version = f"apps.kruise.io/{version}"
    stored = create(
        _obj(api_version, "ImageListPullJob", f"list-{version}", {"images": ["nginx:1.25", "redis:7"]})
    )
    assert stored["spec"]["images"] == ["nginx:1.25", "redis:7"]
    assert stored["spec"]["completionPolicy"] == {"type": "Always"}
    assert stored["spec"]["pullPolicy"] == {"timeoutSeconds": 600, "backoffLimit": 3}
    assert _admissions(admission_webhook, "/mutate", "ImageListPullJob", "CREATE") > defaulting_calls
    prefix = 'admission webhook "vimagelistpulljobspec.kb.io" denied the request: '
    twice = _obj(
        api_version, "ImageListPullJob", f"twice-{version}", {"images": ["nginx:1.25", "nginx:1.25"]}
    )
    assert _refused(create, twice, 400) == prefix + "images cannot have duplicate values"
    upper = _obj(api_version, "ImageListPullJob", f"upper-{version}", {"images": ["nginx:1.25", "Nginx:1"]})
    assert _refused(create, upper, 400) == (
        prefix + "invalid image Nginx:1: invalid reference format: repository name must be lowercase"
    )


def _check_crr_against_pod_and_node(
    crr: Any,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    node: str,
    request: dict[str, Any],
) -> None:
    status = {"phase": "Running", "containerStatuses": [
        {"name": "main", "image": "nginx", "imageID": "", "ready": True, "restartCount": 1,
         "containerID": "containerd://abc", "state": {"running": {}}},
    ]}  # fmt: skip
    gone = f"crr-gone-{namespace}"
    orphan: dict[str, Any] = {"metadata": {"name": "orphan"}, "spec": {**POD, "nodeName": gone}}
    core.create_namespaced_pod(namespace, orphan)
    core.patch_namespaced_pod_status("orphan", namespace, {"status": status})
    lost = {**request, "podName": "orphan"}
    assert _refused(crr, _obj("apps.kruise.io/v1alpha1", "ContainerRecreateRequest", "r-1", lost), 400) == (
        'admission webhook "mcontainerrecreaterequest.kb.io" denied the request: '
        f'failed to get Node {gone}: nodes "{gone}" not found'
    )
    target: dict[str, Any] = {
        "metadata": {"name": "target"},
        "spec": {**POD, "nodeName": node, "terminationGracePeriodSeconds": 7},
    }
    pod_uid = core.create_namespaced_pod(namespace, target).metadata.uid  # type: ignore[arg-type, union-attr]
    core.patch_namespaced_pod_status("target", namespace, {"status": status})
    wrong = {"podName": "target", "containers": [{"name": "main", "ports": []}]}
    assert _refused(crr, _obj("apps.kruise.io/v1alpha1", "ContainerRecreateRequest", "r1", wrong), 400) == (
        'admission webhook "mcontainerrecreaterequest.kb.io" denied the request: '
        "preStop, ports, statusContext in container are ready-only fields"
    )
    stored = crr(
        _obj("apps.kruise.io/v1alpha1", "ContainerRecreateRequest", "r2", {**request, "podName": "target"})
    )
    assert stored["metadata"]["labels"] == {
        "crr.apps.kruise.io/active": "true",
        "crr.apps.kruise.io/node-name": node,
        "crr.apps.kruise.io/pod-uid": pod_uid,
        "type": "virtual-kubelet",
    }
    assert stored["spec"]["strategy"] == {"failurePolicy": "Fail", "terminationGracePeriodSeconds": 7}
    assert stored["spec"]["containers"][0]["statusContext"] == {
        "containerID": "containerd://abc",
        "restartCount": 1,
    }
    stored["spec"]["activeDeadlineSeconds"] = 60
    with pytest.raises(k8s.ApiException) as refused:
        custom.replace_namespaced_custom_object(
            "apps.kruise.io", "v1alpha1", namespace, "containerrecreaterequests", "r2", stored
        )
    assert json.loads(refused.value.body or "{}")["message"] == (
        'admission webhook "mcontainerrecreaterequest.kb.io" denied the request: '
        "spec of ContainerRecreateRequest is immutable"
    )
    assert refused.value.status == 403  # crr_mutating_handler.go:72, Errored(http.StatusForbidden, ...)


def test_a_sidecarset_created_after_the_webhook_started_is_injected_from_its_cache(
    admission_webhook: Webhook, api_client: k8s.ApiClient, namespace: str
) -> None:
    """The webhook keeps SidecarSets by list+watch (webhook/sidecarsetcache.py): /readyz reports
    the cache synced, and a SidecarSet created now reaches pod CREATE through the watch (the log
    shows the one initial list, no second one)."""
    ready = urllib.request.urlopen(f"http://127.0.0.1:{admission_webhook.http_port}/readyz", timeout=5)
    assert json.loads(ready.read())["sidecarsets"] == {"ready": True, "reason": "ok"}
    custom, core = k8s.CustomObjectsApi(api_client), k8s.CoreV1Api(api_client)
    label = f"cache-{os.urandom(3).hex()}"
    sidecarset = {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "SidecarSet",
        "metadata": {"name": f"sidecarset-{label}"},
        "spec": {
            "selector": {"matchLabels": {"sidecar-test": label}},
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "containers": [{"name": "logger", "image": "busybox:1.36"}],
        },
    }
    custom.create_cluster_custom_object("apps.kruise.io", "v1beta1", "sidecarsets", sidecarset)
    try:
        pod: dict[str, Any] = {
            "metadata": {"name": "with-sidecar", "labels": {"sidecar-test": label}},
            "spec": POD,
        }

        def injected() -> list[str]:
            created = core.create_namespaced_pod(namespace, pod, dry_run="All")  # type: ignore[arg-type]
            names = [c.name for c in created.spec.containers]  # type: ignore[union-attr]
            return names if names == ["logger", "main"] else []

        eventually(injected, timeout=10, interval=0.2, what="the new SidecarSet injected at pod CREATE")
        full_log = admission_webhook.log.read_text(errors="replace")
        assert full_log.count("SidecarSet cache listed") == 1, admission_webhook.log_text()
    finally:
        custom.delete_cluster_custom_object("apps.kruise.io", "v1beta1", "sidecarsets", f"sidecarset-{label}")
