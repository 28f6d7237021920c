"""PodUnavailableBudget through the API server with ``flotilla webhook`` registered: a pod whose
budget is spent cannot be deleted or evicted (kruise's message, by hand from kruise's
``errors.NewForbidden`` text), and once the budget allows it the deletion goes through and is
recorded in the PUB's ``disruptedPods``. The PUB status is written by the test (no worker runs),
so the expected values are the test's own."""

from __future__ import annotations

import json

import pytest
from kubernetes import client as k8s

from flotilla.devcluster.env import DevEnvironment
from tests.integration.webhook.conftest import Webhook
from tests.support.polling import eventually

REFUSED = 'podunavailablebudget.policy.kruise.io "budget" is forbidden: pub unavailable allowed is negative'


def _status(allowed: int) -> dict[str, object]:
    return {"status": {"desiredAvailable": 1, "currentAvailable": 1, "totalReplicas": 1,
                       "unavailableAllowed": allowed, "observedGeneration": 1}}  # fmt: skip


def test_a_spent_budget_refuses_delete_and_eviction(
    admission_webhook: Webhook, dev_env: DevEnvironment, api_client: k8s.ApiClient, namespace: str
) -> None:
    core, custom = k8s.CoreV1Api(api_client), k8s.CustomObjectsApi(api_client)
    group, version, plural = "policy.kruise.io", "v1alpha1", "podunavailablebudgets"
    custom.create_namespaced_custom_object(group, version, namespace, plural, {
        "apiVersion": f"{group}/{version}", "kind": "PodUnavailableBudget", "metadata": {"name": "budget"},
        "spec": {"selector": {"matchLabels": {"app": "guarded"}}, "maxUnavailable": 0},
    })  # fmt: skip
    custom.patch_namespaced_custom_object_status(group, version, namespace, plural, "budget", _status(0))
    pod = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(
            name="guarded", labels={"app": "guarded"}, annotations={"kruise.io/related-pub": "budget"}
        ),
        spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="main", image="nginx")]),
    )
    core.create_namespaced_pod(namespace, pod)

    def ready() -> bool:
        conditions = core.read_namespaced_pod("guarded", namespace).status.conditions or []
        return any(c.type == "Ready" and c.status == "True" for c in conditions)

    eventually(ready, timeout=60, what="the pod Ready on a kwok node")
    refused = dev_env.kubectl("delete", "pod", "guarded", "-n", namespace, "--wait=false", check=False)
    assert f'admission webhook "vpod.kb.io" denied the request: {REFUSED}' in refused.stderr
    eviction = k8s.V1Eviction(metadata=k8s.V1ObjectMeta(name="guarded", namespace=namespace))
    with pytest.raises(k8s.ApiException) as evicted:
        core.create_namespaced_pod_eviction("guarded", namespace, eviction)
    message = json.loads(evicted.value.body)["message"]
    assert message == f'admission webhook "vpodeviction.kb.io" denied the request: {REFUSED}'
    # kruise's ValidationResponse(false, reason): 403 with reason Forbidden, which the API server
    # passes on (kubectl: "Error from server (Forbidden)")
    assert (evicted.value.status, json.loads(evicted.value.body)["reason"]) == (403, "Forbidden")
    assert "Error from server (Forbidden): admission webhook" in refused.stderr, refused.stderr

    custom.patch_namespaced_custom_object_status(group, version, namespace, plural, "budget", _status(1))
    deleted = dev_env.kubectl("delete", "pod", "guarded", "-n", namespace, "--wait=false", check=False)
    assert deleted.returncode == 0, deleted.stderr
    status = custom.get_namespaced_custom_object_status(group, version, namespace, plural, "budget")["status"]
    assert status["unavailableAllowed"] == 0
    assert "guarded" in status["disruptedPods"]
