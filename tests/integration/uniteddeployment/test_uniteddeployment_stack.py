"""UnitedDeployments on the real control plane: kwok nodes in zones a/b/c, the uniteddeployment
worker, the cloneset worker (subset CloneSets), the statefulset worker (subset Advanced
StatefulSets), kube-controller-manager (subset Deployments and apps/v1 StatefulSets).

Three subsets (fixed 1, 50 %, the rest) land in their zones, zone-b's pods carrying its
``patch`` and zone-c's its ``tolerations``; scaling through the scale subresource re-splits the
replicas; a template change held by a partition updates only the
pods above it in that subset; a removed subset's CloneSet and pods go; a template kind change
replaces the CloneSets with Deployments; deleting the UnitedDeployment lets the garbage collector
remove its Deployments and their pods. Then ``reserveUnschedulablePods``, the two StatefulSet
template kinds, ``minReplicas`` / ``maxReplicas`` and plain ``Adaptive`` (below).
"""

from __future__ import annotations

import secrets
from typing import Any

from flotilla.runtime.kube import PODS, JsonObject, Resource
from tests.support.polling import eventually_async
from tests.support.workerstack import Stack, watching_pods

UDS = Resource("apps.kruise.io", "v1alpha1", "uniteddeployments", "UnitedDeployment")
CLONESETS = Resource("apps.kruise.io", "v1alpha1", "clonesets", "CloneSet")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
EVENTS = Resource("", "v1", "events", "Event")
ZONE = "topology.kubernetes.io/zone"
SUBSET = "apps.kruise.io/subset-name"
REVISION = "apps.kruise.io/controller-revision-hash"
TOLERATION = {"key": "flotilla.dev/ud-test", "operator": "Exists", "effect": "NoSchedule"}


def _zone(zone: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": ZONE, "operator": "In", "values": [zone]}]}


def _pod_template(image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {
            "containers": [{"name": "main", "image": image}],
            "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
        },
    }


def manifest(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "UnitedDeployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 6,
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
                    {"name": "zone-a", "nodeSelectorTerm": _zone("a"), "replicas": 1},
                    {
                        "name": "zone-b",
                        "nodeSelectorTerm": _zone("b"),
                        "replicas": "50%",
                        "patch": {"metadata": {"labels": {"patched": "zone-b"}}},
                    },
                    {"name": "zone-c", "nodeSelectorTerm": _zone("c"), "tolerations": [TOLERATION]},
                ]
            },
        },
    }


async def _live(stack: Stack, resource: Resource) -> list[JsonObject]:
    listing = await stack.api.get(resource.path(stack.namespace), {"labelSelector": "app=web"})
    return [o for o in listing.get("items", []) if not o["metadata"].get("deletionTimestamp")]


def _ready(pod: JsonObject) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def _zones(stack: Stack) -> dict[str, str]:
    listing = await stack.api.get(NODES.path(""))
    return {n["metadata"]["name"]: n["metadata"].get("labels", {}).get(ZONE, "") for n in listing["items"]}


async def _spread(stack: Stack) -> dict[str, list[str]]:
    """Ready pods by subset: the zone of each one's node."""
    zones = await _zones(stack)
    out: dict[str, list[str]] = {}
    for pod in await _live(stack, PODS):
        if _ready(pod):
            subset = pod["metadata"]["labels"].get(SUBSET, "")
            out.setdefault(subset, []).append(zones.get(pod["spec"].get("nodeName", ""), "?"))
    return {k: sorted(v) for k, v in out.items()}


async def _ud(stack: Stack) -> JsonObject:
    return await stack.api.get(UDS.path(stack.namespace, "web"))


async def test_subsets_spread_scale_partition_remove_and_replace(ud_stack: Stack) -> None:
    stack = ud_stack
    await stack.api.create(UDS.path(stack.namespace), manifest(stack.namespace))

    async def spread_is(expected: dict[str, list[str]]) -> bool:
        return await _spread(stack) == expected

    await eventually_async(
        lambda: spread_is({"zone-a": ["a"], "zone-b": ["b"] * 3, "zone-c": ["c"] * 2}),
        within=90,
        what="6 ready pods 1/3/2 in zones a/b/c",
    )
    sets = {s["metadata"]["labels"][SUBSET]: s for s in await _live(stack, CLONESETS)}
    assert sorted(s["metadata"]["name"][: len("web-zone-a-")] for s in sets.values()) == [
        "web-zone-a-",
        "web-zone-b-",
        "web-zone-c-",
    ]
    assert all(s["metadata"]["ownerReferences"][0]["kind"] == "UnitedDeployment" for s in sets.values())
    pods = await _live(stack, PODS)
    by_subset = {p["metadata"]["labels"][SUBSET]: p for p in pods}
    assert {p["metadata"]["labels"][SUBSET] for p in pods if p["metadata"]["labels"].get("patched")} == {
        "zone-b"
    }
    assert TOLERATION in by_subset["zone-c"]["spec"]["tolerations"]
    assert TOLERATION not in by_subset["zone-a"]["spec"]["tolerations"]
    events = (await stack.api.get(EVENTS.path(stack.namespace)))["items"]
    assert ("SuccessfulUpdateSubset", "Create 3 Subset (CloneSet)") in {
        (e.get("reason"), e.get("message"))
        for e in events
        if e["involvedObject"]["kind"] == "UnitedDeployment"
    }

    async def status_is(**want: object) -> dict[str, Any]:
        status: dict[str, Any] = (await _ud(stack)).get("status") or {}
        return status if all(status.get(k) == v for k, v in want.items()) else {}

    status = await eventually_async(
        lambda: status_is(replicas=6, readyReplicas=6, updatedReadyReplicas=6),
        within=30,
        what="UD status 6/6",
    )
    assert status["subsetReplicas"] == {"zone-a": 1, "zone-b": 3, "zone-c": 2}
    assert status["labelSelector"] == "app=web"
    first_revision = status["currentRevision"]

    # scale through the scale subresource (what an HPA does): 10 = 1 + 5 + 4
    await stack.api.patch(UDS.path(stack.namespace, "web", "scale"), {"spec": {"replicas": 10}}, "merge")
    await eventually_async(
        lambda: spread_is({"zone-a": ["a"], "zone-b": ["b"] * 5, "zone-c": ["c"] * 4}),
        within=60,
        what="10 ready pods 1/5/4",
    )
    scale = await stack.api.get(UDS.path(stack.namespace, "web", "scale"))
    await eventually_async(lambda: status_is(replicas=10), within=30, what="status.replicas 10")
    scale = await stack.api.get(UDS.path(stack.namespace, "web", "scale"))
    assert scale["status"]["replicas"] == 10

    # a new image, zone-b held at partition 3: 2 of its 5 pods updated, every other subset fully
    await stack.api.patch(
        UDS.path(stack.namespace, "web"),
        {
            "spec": {
                "updateStrategy": {"manualUpdate": {"partitions": {"zone-b": 3}}},
                "template": {"cloneSetTemplate": {"spec": {"template": _pod_template("nginx:1.26")}}},
            }
        },
        "merge",
    )
    status = await eventually_async(
        lambda: status_is(updatedReadyReplicas=7, readyReplicas=10),
        within=90,
        what="7 of 10 updated and ready",
    )
    new_revision = status["updateStatus"]["updatedRevision"]
    assert new_revision != first_revision
    assert status["currentRevision"] == first_revision  # not every pod is updated yet
    assert status["updateStatus"]["currentPartitions"] == {"zone-a": 0, "zone-b": 3, "zone-c": 0}
    updated_b = [
        p
        for p in await _live(stack, PODS)
        if p["metadata"]["labels"].get(SUBSET) == "zone-b"
        and p["metadata"]["labels"].get(REVISION) == new_revision
    ]
    assert len(updated_b) == 2
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["UnitedDeploymentUpdated"] == "False"

    # zone-a leaves the topology: its CloneSet and pod go; 10 = 5 (50 %) + 5
    ud = await _ud(stack)
    subsets = [s for s in ud["spec"]["topology"]["subsets"] if s["name"] != "zone-a"]
    await stack.api.patch(
        UDS.path(stack.namespace, "web"), {"spec": {"topology": {"subsets": subsets}}}, "merge"
    )

    async def only_b_and_c() -> bool:
        sets = {s["metadata"]["labels"][SUBSET] for s in await _live(stack, CLONESETS)}
        spread = await _spread(stack)
        return sets == {"zone-b", "zone-c"} and spread == {"zone-b": ["b"] * 5, "zone-c": ["c"] * 5}

    await eventually_async(only_b_and_c, within=60, what="zone-a's CloneSet and pods gone, 5 + 5")

    # the template kind changes: Deployments (kube-controller-manager) replace the CloneSets
    await stack.api.patch(
        UDS.path(stack.namespace, "web"),
        {
            "spec": {
                "template": {
                    "cloneSetTemplate": None,
                    "deploymentTemplate": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {
                            "selector": {"matchLabels": {"app": "web"}},
                            "template": _pod_template("nginx:1.26"),
                        },
                    },
                }
            }
        },
        "merge",
    )

    async def deployments_only() -> bool:
        deployments = {d["metadata"]["labels"][SUBSET] for d in await _live(stack, DEPLOYMENTS)}
        return deployments == {"zone-b", "zone-c"} and not await _live(stack, CLONESETS)

    await eventually_async(deployments_only, within=60, what="two Deployments, no CloneSet")
    await eventually_async(
        lambda: spread_is({"zone-b": ["b"] * 5, "zone-c": ["c"] * 5}),
        within=90,
        what="10 Deployment pods ready",
    )

    # the UnitedDeployment owns its subset workloads: the garbage collector removes them and their pods
    await stack.api.delete(UDS.path(stack.namespace, "web"))

    async def all_gone() -> bool:
        return not await _live(stack, DEPLOYMENTS) and not await _live(stack, PODS)

    await eventually_async(all_gone, within=60, what="Deployments and pods collected")


# ``scheduleStrategy: Adaptive`` with ``reserveUnschedulablePods`` on the real control plane.
#
# Two subsets of a CloneSet template, 2 replicas: ``zone-a`` needs zone a *and* a node label no
# node has yet (its pods stay Pending, ``PodScheduled=False`` / ``Unschedulable``, as on a zone
# whose nodes are full or tainted), ``zone-b`` runs in zone b. After ``rescheduleCriticalSeconds``
# the worker labels zone-a's pods reserved (``apps.kruise.io/united-deployment-reserved-pod:
# "true"``), keeps them, and runs 2 temporary pods in zone-b; the status counts them as kruise
# does (``reservedPods``, ``replicas`` without them, the ``Schedulable`` condition, the
# ``labelSelector`` the scale subresource gives an HPA). Then one zone-a node gets the label: the
# reserved pods start, leave the reservation after ``unschedulableDuration`` Ready, and only then
# are the temporary pods deleted. A pod watch checks no working replica was lost on the way: from
# the moment the temporary pods run, Ready pods outside the reservation never drop below 2.
# Expected steps are kruise's e2e spec "adaptive united deployment with unschedulable pods
# reserved" (test/e2e/apps/v1alpha1/uniteddeployment.go:256) on two subsets.

RESERVED = "apps.kruise.io/united-deployment-reserved-pod"


def _reserving_manifest(namespace: str, key: str) -> dict[str, Any]:
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
            await stack.api.create(UDS.path(stack.namespace), _reserving_manifest(stack.namespace, key))

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


# The two StatefulSet template kinds, side by side in one namespace: ``advancedStatefulSetTemplate``
# (Advanced StatefulSets, reconciled by Flotilla's statefulset worker) and ``statefulSetTemplate``
# (apps/v1 StatefulSets, kube-controller-manager's). Each subset workload is named
# ``<ud>-<subset>-<random>``, labelled with its subset name and revision, owned by its
# UnitedDeployment as controller (kruise's ``ApplySubsetTemplate``); its pods run Ready in the
# subset's zone; the scale subresource re-splits 3 = 1 + 1 + 1 into 5 = 1 + 1 + 3; deleting a
# UnitedDeployment lets the garbage collector remove its workloads and their pods.

ASTS = Resource("apps.kruise.io", "v1beta1", "statefulsets", "StatefulSet")
STS = Resource("apps", "v1", "statefulsets", "StatefulSet")


def _sts_manifest(namespace: str, name: str, template_field: str) -> dict[str, Any]:
    labels = {"app": name}
    pod = {
        "metadata": {"labels": labels},
        "spec": {
            "containers": [{"name": "main", "image": "nginx:1.25"}],
            "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
        },
    }
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "UnitedDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": labels},
            "template": {
                template_field: {
                    "metadata": {"labels": labels},
                    "spec": {
                        "selector": {"matchLabels": labels},
                        "serviceName": name,
                        "podManagementPolicy": "Parallel",
                        "template": pod,
                    },
                }
            },
            "topology": {
                "subsets": [
                    {"name": "zone-a", "nodeSelectorTerm": _zone("a"), "replicas": 1},
                    {"name": "zone-b", "nodeSelectorTerm": _zone("b"), "replicas": 1},
                    {"name": "zone-c", "nodeSelectorTerm": _zone("c")},
                ]
            },
        },
    }


async def _objects(stack: Stack, resource: Resource, app: str) -> list[JsonObject]:
    listing = await stack.api.get(resource.path(stack.namespace), {"labelSelector": f"app={app}"})
    return [o for o in listing.get("items", []) if not o["metadata"].get("deletionTimestamp")]


async def _spread_of(stack: Stack, app: str) -> dict[str, list[str]]:
    zones = await _zones(stack)
    out: dict[str, list[str]] = {}
    for pod in await _objects(stack, PODS, app):
        if _ready(pod):
            subset = pod["metadata"]["labels"].get(SUBSET, "")
            out.setdefault(subset, []).append(zones.get(pod["spec"].get("nodeName", ""), "?"))
    return {k: sorted(v) for k, v in out.items()}


async def test_advanced_and_apps_statefulset_subsets(ud_stack: Stack) -> None:
    stack = ud_stack
    kinds = {"asts": ("advancedStatefulSetTemplate", ASTS), "sts": ("statefulSetTemplate", STS)}
    for name, (field, _) in kinds.items():
        await stack.api.create(UDS.path(stack.namespace), _sts_manifest(stack.namespace, name, field))

    async def spreads_are(want: dict[str, list[str]]) -> bool:
        return all([await _spread_of(stack, name) == want for name in kinds])

    await eventually_async(
        lambda: spreads_are({"zone-a": ["a"], "zone-b": ["b"], "zone-c": ["c"]}),
        within=90,
        what=lambda: f"3 ready pods 1/1/1 in zones a/b/c for both kinds\n{stack.log_text()[-3000:]}",
    )
    for name, (_, resource) in kinds.items():
        ud = await stack.api.get(UDS.path(stack.namespace, name))
        revision = (ud.get("status") or {}).get("updateStatus", {}).get("updatedRevision")
        sets = {s["metadata"]["labels"][SUBSET]: s for s in await _objects(stack, resource, name)}
        assert sorted(sets) == ["zone-a", "zone-b", "zone-c"], name
        for subset, workload in sets.items():
            meta = workload["metadata"]
            assert meta["name"].startswith(f"{name}-{subset}-")
            assert meta["generateName"] == f"{name}-{subset}-"
            assert meta["labels"][REVISION] == revision, (name, subset)
            owner = meta["ownerReferences"][0]
            assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
                "UnitedDeployment",
                name,
                ud["metadata"]["uid"],
                True,
            )
            assert workload["spec"]["replicas"] == 1
            assert workload["spec"]["selector"]["matchLabels"] == {"app": name, SUBSET: subset}
        pods = await _objects(stack, PODS, name)
        by_owner = {p["metadata"]["ownerReferences"][0]["name"] for p in pods}
        assert by_owner == {s["metadata"]["name"] for s in sets.values()}
        assert all(p["metadata"]["name"].endswith("-0") for p in pods)

    # the scale subresource (an HPA's way): 5 = 1 + 1 + 3
    for name in kinds:
        await stack.api.patch(UDS.path(stack.namespace, name, "scale"), {"spec": {"replicas": 5}}, "merge")
    await eventually_async(
        lambda: spreads_are({"zone-a": ["a"], "zone-b": ["b"], "zone-c": ["c"] * 3}),
        within=60,
        what="5 ready pods 1/1/3 for both kinds",
    )

    async def scaled() -> bool:
        for name in kinds:
            scale = await stack.api.get(UDS.path(stack.namespace, name, "scale"))
            if (scale["status"].get("replicas"), scale["status"].get("selector")) != (5, f"app={name}"):
                return False
        return True

    await eventually_async(scaled, within=30, what="both scale statuses 5")

    # deleted: the garbage collector removes the subset workloads and their pods
    for name in kinds:
        await stack.api.delete(UDS.path(stack.namespace, name))

    async def all_gone() -> bool:
        for name, (_, resource) in kinds.items():
            if await _objects(stack, resource, name) or await _objects(stack, PODS, name):
                return False
        return True

    await eventually_async(all_gone, within=60, what="StatefulSets and pods collected")


def _elastic_manifest(namespace: str, replicas: int, subsets: list[dict[str, Any]]) -> dict[str, Any]:
    ud = manifest(namespace)
    ud["spec"]["replicas"] = replicas
    ud["spec"]["topology"] = {"subsets": subsets}
    return ud


async def _subset_replicas(stack: Stack) -> dict[str, int]:
    return {s["metadata"]["labels"][SUBSET]: s["spec"]["replicas"] for s in await _live(stack, CLONESETS)}


# ``minReplicas`` / ``maxReplicas``: kruise's elastic allocator (``allocateByMinMaxMap``) first
# gives every subset its minimum in topology order, then in the same order up to its maximum.
# zone-a 1..2, zone-b 1..2, zone-c 1..unbounded, worked by hand:
#   5 -> mins 1/1/1, 2 left: zone-a +1, zone-b +1       = 2/2/1
#   2 -> mins zone-a 1, zone-b 1, nothing left for c    = 1/1/0
#   8 -> mins 1/1/1, 5 left: zone-a +1, zone-b +1, c +3 = 2/2/4


async def test_min_max_replicas_elastic_allocation(ud_stack: Stack) -> None:
    stack = ud_stack
    subsets: list[dict[str, Any]] = [
        {"name": "zone-a", "nodeSelectorTerm": _zone("a"), "minReplicas": 1, "maxReplicas": 2},
        {"name": "zone-b", "nodeSelectorTerm": _zone("b"), "minReplicas": 1, "maxReplicas": 2},
        {"name": "zone-c", "nodeSelectorTerm": _zone("c"), "minReplicas": 1},
    ]
    await stack.api.create(UDS.path(stack.namespace), _elastic_manifest(stack.namespace, 5, subsets))
    for replicas, want in ((5, (2, 2, 1)), (2, (1, 1, 0)), (8, (2, 2, 4))):
        if replicas != 5:
            await stack.api.patch(
                UDS.path(stack.namespace, "web", "scale"), {"spec": {"replicas": replicas}}, "merge"
            )
        split = dict(zip(("zone-a", "zone-b", "zone-c"), want, strict=True))
        spread = {name: [name[-1]] * n for name, n in split.items() if n}

        async def allocated(split: dict[str, int] = split, spread: dict[str, list[str]] = spread) -> bool:
            status = (await _ud(stack)).get("status") or {}
            return (
                await _subset_replicas(stack) == split
                and status.get("subsetReplicas") == split
                and await _spread(stack) == spread
            )

        await eventually_async(allocated, within=60, what=f"subset replicas {split} and their pods Ready")


# Plain ``scheduleStrategy: Adaptive`` (no reservation), kruise's e2e spec "adaptive united
# deployment basic" (test/e2e/apps/v1alpha1/uniteddeployment.go:80) on zones: zone-a and zone-b
# at most 1 replica each, zone-c the rest, 3 replicas; zone b's nodes tainted NoSchedule, so
# zone-b's pod stays Pending. After ``rescheduleCriticalSeconds`` zone-b is unschedulable
# (``Schedulable`` False) and its replica moves to zone-c (1/0/2). The taint goes; after
# ``unschedulableDuration`` (1.9's name for ``unschedulableLastSeconds``) the condition is True
# again. kruise never deletes a Ready pod to move it back (the adaptive allocator keeps each
# schedulable subset at least at its Ready pods), so the split stays 1/0/2 until a scale-up,
# whose replica goes to zone-b again (1/1/2), Ready in zone b.

TAINT = {"key": "flotilla.dev/ud-adaptive", "value": "down", "effect": "NoSchedule"}


async def test_adaptive_moves_replicas_off_a_tainted_zone_and_back(ud_stack: Stack) -> None:
    stack = ud_stack
    nodes = (await stack.api.get(NODES.path(""), {"labelSelector": f"{ZONE}=b"}))["items"]
    assert nodes, "the control plane has kwok nodes in zone b"
    original = {n["metadata"]["name"]: n["spec"].get("taints") or [] for n in nodes}

    async def restore() -> None:
        for name, taints in original.items():
            await stack.api.patch(NODES.path("", name), {"spec": {"taints": taints or None}}, "merge")

    subsets: list[dict[str, Any]] = [
        {"name": "zone-a", "nodeSelectorTerm": _zone("a"), "maxReplicas": 1},
        {"name": "zone-b", "nodeSelectorTerm": _zone("b"), "maxReplicas": 1},
        {"name": "zone-c", "nodeSelectorTerm": _zone("c")},
    ]
    ud = _elastic_manifest(stack.namespace, 3, subsets)
    ud["spec"]["topology"]["scheduleStrategy"] = {
        "type": "Adaptive",
        "adaptive": {"rescheduleCriticalSeconds": 3, "unschedulableDuration": 3},
    }

    async def schedulable() -> dict[str, str]:
        status = (await _ud(stack)).get("status") or {}
        return {
            entry["name"]: c["status"]
            for entry in status.get("subsetStatuses") or []
            for c in entry.get("conditions") or []
            if c.get("type") == "Schedulable"
        }

    async def state_is(split: dict[str, int], spread: dict[str, list[str]], zone_b: str) -> bool:
        return (
            await _subset_replicas(stack) == split
            and await _spread(stack) == spread
            and (await schedulable()).get("zone-b") == zone_b
        )

    try:
        for name, taints in original.items():
            await stack.api.patch(NODES.path("", name), {"spec": {"taints": [*taints, TAINT]}}, "merge")
        await stack.api.create(UDS.path(stack.namespace), ud)
        await eventually_async(
            lambda: state_is(
                {"zone-a": 1, "zone-b": 0, "zone-c": 2}, {"zone-a": ["a"], "zone-c": ["c"] * 2}, "False"
            ),
            within=60,
            what=lambda: f"zone-b unschedulable, its replica in zone-c\n{stack.log_text()[-3000:]}",
        )
        assert not [p for p in await _live(stack, PODS) if p["metadata"]["labels"].get(SUBSET) == "zone-b"]
        await restore()
        await eventually_async(
            lambda: state_is(
                {"zone-a": 1, "zone-b": 0, "zone-c": 2}, {"zone-a": ["a"], "zone-c": ["c"] * 2}, "True"
            ),
            within=60,
            what="zone-b schedulable again, no Ready pod moved",
        )
        await stack.api.patch(UDS.path(stack.namespace, "web", "scale"), {"spec": {"replicas": 4}}, "merge")
        await eventually_async(
            lambda: state_is(
                {"zone-a": 1, "zone-b": 1, "zone-c": 2},
                {"zone-a": ["a"], "zone-b": ["b"], "zone-c": ["c"] * 2},
                "True",
            ),
            within=60,
            what="the new replica in zone-b, Ready in zone b",
        )
    finally:
        await restore()
