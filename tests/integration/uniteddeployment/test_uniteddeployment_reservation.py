"""``scheduleStrategy: Adaptive`` with ``reserveUnschedulablePods`` on the real control plane.

Two subsets of a CloneSet template, 2 replicas: ``zone-a`` needs zone a *and* a node label no
node has yet (its pods stay Pending, ``PodScheduled=False`` / ``Unschedulable``, as on a zone
whose nodes are full or tainted), ``zone-b`` runs in zone b. After ``rescheduleCriticalSeconds``
the worker labels zone-a's pods reserved (``apps.kruise.io/united-deployment-reserved-pod:
"true"``), keeps them, and runs 2 temporary pods in zone-b; the status counts them as kruise
does (``reservedPods``, ``replicas`` without them, the ``Schedulable`` condition, the
``labelSelector`` the scale subresource gives an HPA). Then one zone-a node gets the label: the
reserved pods start, leave the reservation after ``unschedulableDuration`` Ready, and only then
are the temporary pods deleted. A pod watch checks no working replica was lost on the way: from
the moment the temporary pods run, Ready pods outside the reservation never drop below 2.
Expected steps are kruise's e2e spec "adaptive united deployment with unschedulable pods
reserved" (test/e2e/apps/v1alpha1/uniteddeployment.go:256) on two subsets.
"""

from __future__ import annotations

import secrets
from typing import Any

from flotilla.runtime.kube import PODS, JsonObject
from tests.integration.uniteddeployment.test_uniteddeployment_stack import (
    NODES,
    SUBSET,
    UDS,
    ZONE,
    _pod_template,
    _ready,
)
from tests.support.polling import eventually_async
from tests.support.workerstack import Stack, watching_pods

RESERVED = "apps.kruise.io/united-deployment-reserved-pod"


def _manifest(namespace: str, key: str) -> dict[str, Any]:
    def term(zone: str, *extra: dict[str, Any]) -> dict[str, Any]:
        return {"matchExpressions": [{"key": ZONE, "operator": "In", "values": [zone]}, *extra]}

    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "UnitedDeployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "cloneSetTemplate": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "selector": {"matchLabels": {"app": "web"}},
                        "template": _pod_template("nginx:1.25"),
                    },
                }
            },
            "topology": {
                "subsets": [
                    {
                        "name": "zone-a",
                        "nodeSelectorTerm": term("a", {"key": key, "operator": "In", "values": ["on"]}),
                    },
                    {"name": "zone-b", "nodeSelectorTerm": term("b")},
                ],
                "scheduleStrategy": {
                    "type": "Adaptive",
                    "adaptive": {
                        "reserveUnschedulablePods": True,
                        "rescheduleCriticalSeconds": 3,
                        "unschedulableDuration": 1,
                    },
                },
            },
        },
    }


async def _pods(stack: Stack) -> dict[str, list[JsonObject]]:
    listing = await stack.api.get(PODS.path(stack.namespace), {"labelSelector": "app=web"})
    out: dict[str, list[JsonObject]] = {"zone-a": [], "zone-b": []}
    for pod in listing.get("items", []):
        if not pod["metadata"].get("deletionTimestamp"):
            out.setdefault(pod["metadata"]["labels"].get(SUBSET, ""), []).append(pod)
    return out


def _shape(pods: dict[str, list[JsonObject]]) -> dict[str, tuple[int, int, int]]:
    """Per subset: (pods, reserved, Ready)."""
    return {
        subset: (
            len(items),
            sum(p["metadata"]["labels"].get(RESERVED) == "true" for p in items),
            sum(_ready(p) for p in items),
        )
        for subset, items in sorted(pods.items())
    }


def _working(live: dict[str, JsonObject]) -> int:
    return sum(
        1
        for p in live.values()
        if _ready(p)
        and p["metadata"]["labels"].get(RESERVED) != "true"
        and not p["metadata"].get("deletionTimestamp")
    )


async def test_unschedulable_pods_are_reserved_and_replaced_until_they_start(ud_stack: Stack) -> None:
    stack = ud_stack
    key = f"flotilla.dev/reserve-{secrets.token_hex(4)}"
    nodes = (await stack.api.get(NODES.path(""), {"labelSelector": f"{ZONE}=a"}))["items"]
    assert nodes, "the control plane has kwok nodes in zone a"
    node = nodes[0]["metadata"]["name"]
    try:
        async with watching_pods(stack) as watch:
            await stack.api.create(UDS.path(stack.namespace), _manifest(stack.namespace, key))

            async def shape_is(want: dict[str, tuple[int, int, int]]) -> dict[str, tuple[int, int, int]]:
                got = _shape(await _pods(stack))
                return got if got == want else {}

            # zone-a's 2 pods Pending and reserved, 2 temporary pods Ready in zone-b
            await eventually_async(
                lambda: shape_is({"zone-a": (2, 2, 0), "zone-b": (2, 0, 2)}),
                within=60,
                what=lambda: f"zone-a 2 reserved, zone-b 2 temporary Ready\n{stack.log_text()[-3000:]}",
            )
            pending = (await _pods(stack))["zone-a"]
            assert all(
                p["status"].get("phase") == "Pending" and not p["spec"].get("nodeName") for p in pending
            )
            temporary = {p["metadata"]["name"] for p in (await _pods(stack))["zone-b"]}

            async def status_is(**want: object) -> dict[str, Any]:
                status: dict[str, Any] = (await stack.api.get(UDS.path(stack.namespace, "web"))).get(
                    "status"
                ) or {}
                return status if all(status.get(k) == v for k, v in want.items()) else {}

            status = await eventually_async(
                lambda: status_is(reservedPods=2, replicas=2, readyReplicas=2),
                within=30,
                what="status: 2 reserved, 2 working",
            )
            assert status["subsetReplicas"] == {"zone-a": 2, "zone-b": 2}
            assert status["labelSelector"] == f"app=web,{RESERVED}=false"
            entries = {s["name"]: s for s in status["subsetStatuses"]}
            assert entries["zone-a"]["reservedPods"] == 2
            assert entries["zone-b"]["reservedPods"] == 0
            schedulable = {
                name: next(c for c in entry["conditions"] if c["type"] == "Schedulable")
                for name, entry in entries.items()
            }
            assert (schedulable["zone-a"]["status"], schedulable["zone-a"]["message"]) == (
                "False",
                "reserved pods found",
            )
            assert schedulable["zone-b"]["status"] == "True"
            scale = await stack.api.get(UDS.path(stack.namespace, "web", "scale"))
            assert scale["status"]["selector"] == f"app=web,{RESERVED}=false"
            mark = len(watch.events)

            # the zone recovers: the reserved pods start, then the temporary ones go
            await stack.api.patch(NODES.path("", node), {"metadata": {"labels": {key: "on"}}}, "merge")
            await eventually_async(
                lambda: shape_is({"zone-a": (2, 0, 2), "zone-b": (0, 0, 0)}),
                within=60,
                what=lambda: f"zone-a 2 Ready unreserved, no temporary pod\n{stack.log_text()[-3000:]}",
            )
            await eventually_async(
                lambda: status_is(
                    reservedPods=0, replicas=2, readyReplicas=2, subsetReplicas={"zone-a": 2, "zone-b": 0}
                ),
                within=30,
                what="status: 2 working in zone-a, none reserved",
            )
        histories = list(watch.history())[mark + 1 :]
        assert min(_working(live) for live in histories) >= 2, (
            "a working replica was lost before its stand-in"
        )
        created = {e[1]["metadata"]["uid"] for e in watch.events if e[0] == "ADDED"}
        assert len(created) == 4, "2 kept pods + 2 temporary ones, nothing else created"
        assert temporary.isdisjoint(p["metadata"]["name"] for p in (await _pods(stack))["zone-a"])
        status = await status_is()
        zone_a = next(s for s in status["subsetStatuses"] if s["name"] == "zone-a")
        assert next(c for c in zone_a["conditions"] if c["type"] == "Schedulable")["status"] == "True"
    finally:
        await stack.api.patch(NODES.path("", node), {"metadata": {"labels": {key: None}}}, "merge")
