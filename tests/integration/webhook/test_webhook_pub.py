"""PodUnavailableBudget through the real API server with the webhook registered (vpod.kb.io,
vpodeviction.kb.io): a pod DELETE spends the budget (its status, read back from the API server,
records the pod), then an eviction and a DELETE of another pod are refused with kruise's message.

The PUB's status is written by the test (desiredAvailable 1, unavailableAllowed 1, by hand, as the
PUB worker would for 2 ready pods and maxUnavailable 1): the decision under test is the webhook's.
"""

from __future__ import annotations

import pytest

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.errors import KubeError
from flotilla.runtime.kube import PODS, JsonObject, KubeClient
from tests.integration.webhook.conftest import Webhook
from tests.support.polling import eventually_async
from workers.podunavailablebudget.admit import PODUNAVAILABLEBUDGETS

PUB = "guard"
REFUSAL = f'podunavailablebudget.policy.kruise.io "{PUB}" is forbidden: pub unavailable allowed is negative'


def pod(namespace: str, name: str) -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": "guarded"},
            "annotations": {"kruise.io/related-pub": PUB},
        },
        "spec": {"containers": [{"name": "app", "image": "nginx:1"}]},
    }


async def running_and_ready(api: KubeClient, namespace: str) -> bool:
    listing = await api.get(PODS.path(namespace), {"labelSelector": "app=guarded"})
    items = listing.get("items") or []
    return len(items) == 2 and all(
        p.get("status", {}).get("phase") == "Running"
        and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in p["status"].get("conditions") or []
        )
        for p in items
    )


async def refusal(call: object) -> str:
    try:
        await call  # type: ignore[misc]
    except KubeError as err:
        return str(err)
    pytest.fail("the webhook admitted what the budget forbids")


async def test_budget_spent_then_refused(
    admission_webhook: Webhook, dev_env: DevEnvironment, namespace: str
) -> None:
    async with KubeClient.from_environment(dev_env.kubeconfig) as api:
        for name in ("a", "b"):
            await api.create(PODS.path(namespace), pod(namespace, name))
        await eventually_async(
            lambda: running_and_ready(api, namespace), within=90, interval=0.5, what="2 ready pods"
        )
        created = await api.create(
            PODUNAVAILABLEBUDGETS.path(namespace),
            {
                "apiVersion": "policy.kruise.io/v1alpha1",
                "kind": "PodUnavailableBudget",
                "metadata": {"name": PUB, "namespace": namespace},
                "spec": {"selector": {"matchLabels": {"app": "guarded"}}, "maxUnavailable": 1},
            },
        )
        status = {"desiredAvailable": 1, "unavailableAllowed": 1, "currentAvailable": 2, "totalReplicas": 2}
        await api.replace(PODUNAVAILABLEBUDGETS.path(namespace, PUB, "status"), {**created, "status": status})

        await api.delete(PODS.path(namespace, "a"))  # allowed: the budget had one
        recorded = (await api.get(PODUNAVAILABLEBUDGETS.path(namespace, PUB)))["status"]
        assert list(recorded["disruptedPods"]) == ["a"]
        assert recorded["unavailableAllowed"] == 0

        eviction = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": "b", "namespace": namespace},
        }
        evicted = await refusal(api.create(PODS.path(namespace, "b", "eviction"), eviction))
        assert f'admission webhook "vpodeviction.kb.io" denied the request: {REFUSAL}' in evicted
        deleted = await refusal(api.delete(PODS.path(namespace, "b")))
        assert f'admission webhook "vpod.kb.io" denied the request: {REFUSAL}' in deleted
        assert (await api.get(PODS.path(namespace, "b")))["metadata"].get("deletionTimestamp") is None
        events = await api.get(
            f"/api/v1/namespaces/{namespace}/events",
            {"fieldSelector": "involvedObject.name=b,reason=PubPreventPodDeletion"},
        )
        assert events.get("items"), "kruise's Warning Event on the refused pod"
