"""Release and re-adoption on the real API server: a pod relabelled out of the selector is let go.

``observe`` finds such pods with one LIST per selector requirement (``workers.cloneset.strays``);
these tests check that the API server's selector semantics agree with those negations, for a
``matchLabels`` and a ``matchExpressions`` requirement.
"""

from __future__ import annotations

from flotilla.runtime.kube import PODS, JsonObject
from tests.integration.cloneset.conftest import Stack
from tests.integration.cloneset.test_cloneset_stack import eventually, status_is
from workers.cloneset.lowering import CLONESETS


def _manifest(namespace: str) -> JsonObject:
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "CloneSet",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}],
            },
            "template": {
                "metadata": {"labels": {"app": "web", "tier": "front"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1"}]},
            },
        },
    }


async def _live_pods(stack: Stack) -> list[JsonObject]:
    listing = await stack.api.get(
        PODS.path(stack.namespace), {"labelSelector": "apps.kruise.io/cloneset-instance-id"}
    )
    return [p for p in listing.get("items", []) if not p["metadata"].get("deletionTimestamp")]


def _controlled(pod: JsonObject) -> bool:
    refs = pod["metadata"].get("ownerReferences") or []
    return any(r.get("kind") == "CloneSet" and r.get("controller") for r in refs)


async def _relabel(stack: Stack, name: str, labels: dict[str, str | None]) -> None:
    await stack.api.patch(PODS.path(stack.namespace, name), {"metadata": {"labels": labels}}, "merge")


async def _released_and_replaced(stack: Stack, name: str) -> None:
    async def done() -> bool:
        pods = await _live_pods(stack)
        by_name = {p["metadata"]["name"]: p for p in pods}
        released = name in by_name and not _controlled(by_name[name])
        return released and sum(1 for p in pods if _controlled(p)) == 2

    await eventually(done, 60, f"{name} released and a replacement created")
    await eventually(lambda: status_is(stack, replicas=2, readyReplicas=2), 60, "2 ready owned pods")


async def test_pods_leaving_the_selector_are_released_and_replaced(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    await stack.api.create(CLONESETS.path(stack.namespace), _manifest(stack.namespace))
    await eventually(lambda: status_is(stack, replicas=2, readyReplicas=2), 90, "2 ready")
    first, second = sorted(p["metadata"]["name"] for p in await _live_pods(stack))

    await _relabel(stack, first, {"tier": "back"})  # fails the matchExpressions requirement
    await _released_and_replaced(stack, first)
    await _relabel(stack, second, {"app": None})  # fails the matchLabels requirement (key gone)
    await _released_and_replaced(stack, second)

    # back into the selector: adopted again, and the CloneSet scales in to its 2 replicas
    await _relabel(stack, first, {"tier": "front"})

    async def adopted_and_scaled_in() -> bool:
        owned = [p for p in await _live_pods(stack) if _controlled(p)]
        return len(owned) == 2

    await eventually(adopted_and_scaled_in, 60, "re-adopted pod counted, one pod scaled in")
    owned = [p for p in await _live_pods(stack) if _controlled(p)]
    assert all(p["metadata"]["labels"].get("tier") == "front" for p in owned)
