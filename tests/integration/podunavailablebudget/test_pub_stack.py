"""PodUnavailableBudget on the real control plane: the worker's status matches what the API server's
pods say, the admission decision spends and refuses the budget through the API server (the status
PUT with resourceVersion), a recorded disruption is dropped when its pod goes or after kruise's
20 s, and the CloneSet's in-place rollout waits for the budget.

Expected numbers are worked from the API server's own pods (Running with Ready=True) and kruise's
rules (desiredAvailable = total - ceil(maxUnavailable)), never from the code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flotilla.runtime.kube import EVENTS, PODS, JsonObject
from tests.integration.cloneset.conftest import Stack, watching_pods
from tests.integration.cloneset.test_cloneset_stack import eventually, manifest
from workers.cloneset.lowering import CLONESETS
from workers.podunavailablebudget.admission import PubOperation
from workers.podunavailablebudget.admit import PODUNAVAILABLEBUDGETS, admit

PUB = "web-pub"


def budget(namespace: str, **spec: Any) -> JsonObject:
    return {
        "apiVersion": "policy.kruise.io/v1alpha1",
        "kind": "PodUnavailableBudget",
        "metadata": {"name": PUB, "namespace": namespace},
        "spec": spec,
    }


async def live_pods(stack: Stack) -> list[JsonObject]:
    listing = await stack.api.get(PODS.path(stack.namespace), {"labelSelector": "app=web"})
    return [p for p in listing.get("items", []) if not p["metadata"].get("deletionTimestamp")]


def ready(pod: JsonObject) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return pod.get("status", {}).get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
    )


async def pub_status(stack: Stack) -> JsonObject:
    return (await stack.api.get(PODUNAVAILABLEBUDGETS.path(stack.namespace, PUB))).get("status") or {}


async def status_matches_pods(stack: Stack, total: int, max_unavailable: int, **extra: object) -> bool:
    """The PUB's numbers are what the API server's pods give (none recorded as disrupted)."""
    pub = await stack.api.get(PODUNAVAILABLEBUDGETS.path(stack.namespace, PUB))
    status = pub.get("status") or {}
    available = sum(1 for p in await live_pods(stack) if ready(p))
    desired = total - max_unavailable
    expected = {
        "totalReplicas": total,
        "desiredAvailable": desired,
        "currentAvailable": available,
        "unavailableAllowed": max(available - desired, 0),
        "observedGeneration": pub["metadata"]["generation"],
        **extra,
    }
    return all(status.get(k) == v for k, v in expected.items())


async def events_on(stack: Stack, name: str, reason: str) -> list[JsonObject]:
    listing = await stack.api.get(
        EVENTS.path(stack.namespace), {"fieldSelector": f"involvedObject.name={name},reason={reason}"}
    )
    return list(listing.get("items", []))


async def test_budget_status_admission_expiry_and_in_place_rollout(pub_stack: Stack) -> None:
    """One stack for the whole story (< 2 min): 2 replicas, maxUnavailable 1 (desired 1, allowed 1)."""
    stack = pub_stack
    strategy = {"type": "InPlaceIfPossible", "maxUnavailable": 2}
    await stack.api.create(CLONESETS.path(stack.namespace), manifest(stack.namespace, 2, strategy=strategy))
    target = {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": "web"}
    await stack.api.create(
        PODUNAVAILABLEBUDGETS.path(stack.namespace),
        budget(stack.namespace, targetRef=target, maxUnavailable=1),
    )
    await eventually(
        lambda: status_matches_pods(stack, 2, 1, currentAvailable=2), 90, "PUB counts 2 ready pods"
    )

    async def annotated() -> bool:
        pods = await live_pods(stack)
        return all(p["metadata"].get("annotations", {}).get("kruise.io/related-pub") == PUB for p in pods)

    await eventually(annotated, 30, "every covered pod names its PUB")

    # the admission decision through the API server: the first disruption spends the budget ...
    first, second = sorted(await live_pods(stack), key=lambda p: str(p["metadata"]["name"]))
    allowed = await admit(stack.api, PubOperation.DELETE, first)
    assert (allowed.allowed, allowed.message) == (True, "")
    recorded = await pub_status(stack)
    assert list(recorded["disruptedPods"]) == [first["metadata"]["name"]]
    assert recorded["unavailableAllowed"] == 0
    # ... the next is refused with kruise's message and Event, and records nothing
    refused = await admit(stack.api, PubOperation.EVICT, second)
    assert (refused.allowed, refused.message) == (
        False,
        f'podunavailablebudget.policy.kruise.io "{PUB}" is forbidden: pub unavailable allowed is negative',
    )
    assert await events_on(stack, second["metadata"]["name"], "PubPreventPodDeletion")
    assert second["metadata"]["name"] not in (await pub_status(stack)).get("disruptedPods", {})

    # the admitted deletion happens; the CloneSet replaces the pod; the record goes with the pod
    await stack.api.delete(PODS.path(stack.namespace, first["metadata"]["name"]))

    async def replaced() -> bool:
        return "disruptedPods" not in await pub_status(stack) and await status_matches_pods(
            stack, 2, 1, currentAvailable=2
        )

    await eventually(replaced, 90, "back to 2 available, the record gone with its pod")

    # an admitted deletion that never happens is dropped after kruise's 20 s, with a NotDeleted Event
    started = datetime.now(UTC)
    assert (await admit(stack.api, PubOperation.DELETE, second)).allowed
    assert (await pub_status(stack))["unavailableAllowed"] == 0

    async def expired() -> bool:
        return "disruptedPods" not in await pub_status(stack) and await status_matches_pods(stack, 2, 1)

    await eventually(expired, 60, "the stale disruption expires")
    assert (datetime.now(UTC) - started).total_seconds() >= 19  # not before kruise's 20 s (whole seconds)
    [event] = await events_on(stack, second["metadata"]["name"], "NotDeleted")
    assert event["message"] == f"Pod was expected by PUB {stack.namespace}/{PUB} to be deleted but it wasn't"

    # an in-place rollout: the CloneSet alone would update both pods at once (maxUnavailable 2);
    # with PodUnavailableBudgetUpdateGate it asks the budget first, which lets one go at a time
    before = {p["metadata"]["uid"] for p in await live_pods(stack)}
    async with watching_pods(stack) as watch:
        await stack.api.patch(
            CLONESETS.path(stack.namespace, "web"),
            {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}}},
            "merge",
        )

        async def rolled_out() -> bool:
            pods = await live_pods(stack)
            return len(pods) == 2 and all(
                p["spec"]["containers"][0]["image"] == "nginx:2" and ready(p) for p in pods
            )

        await eventually(rolled_out, 90, "both pods updated in place")
    assert {p["metadata"]["uid"] for p in await live_pods(stack)} == before, "in place: the same pods"
    most_updating = max(
        sum(1 for p in live.values() if p["spec"]["containers"][0]["image"] == "nginx:2" and not ready(p))
        for live in watch.history()
    )
    assert most_updating == 1
    await eventually(lambda: status_matches_pods(stack, 2, 1, currentAvailable=2), 30, "budget restored")
