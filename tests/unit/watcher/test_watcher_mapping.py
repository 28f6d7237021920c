"""Event -> reconcile key mapping, per worker type, on plain dicts."""

from __future__ import annotations

import orjson
import pytest

from watcher.config import (
    CATALOGUE,
    CONFIGMAP,
    POD,
    PVC,
    REVISION,
    TypeSpec,
    WatcherConfig,
    WatchTarget,
    select_types,
)
from watcher.mapping import Router, controller_owner, injecting_sidecarsets, object_ref


def obj(
    name: str,
    namespace: str = "ns1",
    owner: tuple[str, str, str] | None = None,
    controller: bool = True,
    annotations: dict[str, str] | None = None,
) -> dict[str, object]:
    meta: dict[str, object] = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{name}",
        "resourceVersion": "7",
    }
    if owner:
        api_version, kind, owner_name = owner
        meta["ownerReferences"] = [
            {
                "apiVersion": api_version,
                "kind": kind,
                "name": owner_name,
                "uid": "u",
                "controller": controller,
            }
        ]
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta}


ROUTER = Router(WatcherConfig(types=CATALOGUE))
CLONESETS = WatchTarget(CATALOGUE[0].resource)
STATEFULSETS = WatchTarget(CATALOGUE[1].resource)
SIDECARSETS = WatchTarget(CATALOGUE[3].resource)


@pytest.mark.parametrize(
    ("target", "item", "expected"),
    [
        # the object itself
        (CLONESETS, obj("web"), ("cloneset/ns1/web",)),
        (STATEFULSETS, obj("db"), ("statefulset/ns1/db",)),
        (SIDECARSETS, obj("mesh", namespace=""), ("sidecarset//mesh",)),
        # a pod -> its controller owner, by kind and group (any version)
        (
            WatchTarget(POD),
            obj("web-abc", owner=("apps.kruise.io/v1alpha1", "CloneSet", "web")),
            ("cloneset/ns1/web",),
        ),
        (
            WatchTarget(POD),
            obj("db-0", owner=("apps.kruise.io/v1beta1", "StatefulSet", "db")),
            ("statefulset/ns1/db",),
        ),
        (
            WatchTarget(POD),
            obj("db-0", owner=("apps.kruise.io/v1alpha1", "StatefulSet", "db")),
            ("statefulset/ns1/db",),
        ),
        # upstream apps/v1 StatefulSet pods are not Advanced StatefulSet's
        (WatchTarget(POD), obj("db-0", owner=("apps/v1", "StatefulSet", "db")), ()),
        # a non-controller owner reference is not the owner
        (
            WatchTarget(POD),
            obj("p", owner=("apps.kruise.io/v1alpha1", "CloneSet", "web"), controller=False),
            (),
        ),
        (WatchTarget(POD), obj("bare"), ()),
        (
            WatchTarget(PVC),
            obj("data-web-abc", owner=("apps.kruise.io/v1alpha1", "CloneSet", "web")),
            ("cloneset/ns1/web",),
        ),
        (
            WatchTarget(REVISION),
            obj("web-5d8f", owner=("apps.kruise.io/v1alpha1", "CloneSet", "web")),
            ("cloneset/ns1/web",),
        ),
        # ControllerRevisions of a (cluster-scoped) SidecarSet have no namespace in the key
        (
            WatchTarget(REVISION),
            obj("mesh-1", namespace="kruise-system", owner=("apps.kruise.io/v1alpha1", "SidecarSet", "mesh")),
            ("sidecarset//mesh",),
        ),
        # a CloneSet owned by a UnitedDeployment is a key of both types
        (
            CLONESETS,
            obj("ud-a-x", owner=("apps.kruise.io/v1alpha1", "UnitedDeployment", "ud")),
            ("cloneset/ns1/ud-a-x", "uniteddeployment/ns1/ud"),
        ),
    ],
)
def test_router_maps_object_to_keys(
    target: WatchTarget, item: dict[str, object], expected: tuple[str, ...]
) -> None:
    assert ROUTER.keys(target, item) == expected


def test_pod_injected_by_sidecarsets_maps_to_each_and_to_its_owner() -> None:
    annotation = orjson.dumps({"mesh": {"hash": "a"}, "log": {"hash": "b"}}).decode()
    pod = obj(
        "web-abc",
        owner=("apps.kruise.io/v1alpha1", "CloneSet", "web"),
        annotations={"kruise.io/sidecarset-hash": annotation},
    )
    assert ROUTER.keys(WatchTarget(POD), pod) == ("cloneset/ns1/web", "sidecarset//log", "sidecarset//mesh")


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", "", "{}"])
def test_malformed_sidecarset_annotation_maps_to_nothing(raw: str) -> None:
    assert injecting_sidecarsets(obj("p", annotations={"kruise.io/sidecarset-hash": raw})) == ()


def test_controller_owner_ignores_malformed_metadata() -> None:
    assert controller_owner({"metadata": {"ownerReferences": "x"}}, CATALOGUE[0].resource) is None
    assert controller_owner({}, CATALOGUE[0].resource) is None
    assert controller_owner({"metadata": {"ownerReferences": [None, 3]}}, CATALOGUE[0].resource) is None


def test_test_type_from_config_maps_configmaps_and_owned_pods() -> None:
    from watcher.config import OwnedSpec

    testcm = TypeSpec("testcm", CONFIGMAP, label_selector="flotilla.dev/test=x", owned=(OwnedSpec(POD),))
    router = Router(WatcherConfig(types=(testcm,)))
    assert router.keys(WatchTarget(CONFIGMAP, "flotilla.dev/test=x"), obj("cm1")) == ("testcm/ns1/cm1",)
    assert router.keys(WatchTarget(POD), obj("p", owner=("v1", "ConfigMap", "cm1"))) == ("testcm/ns1/cm1",)
    # an unselected stream of the same resource feeds nothing
    assert router.keys(WatchTarget(CONFIGMAP), obj("cm1")) == ()


def test_object_ref_takes_kind_from_the_resource() -> None:
    ref = object_ref(POD, obj("p"))
    assert (ref.kind, ref.namespace, ref.name, ref.uid, ref.resource_version) == (
        "Pod",
        "ns1",
        "p",
        "uid-p",
        "7",
    )


def test_targets_are_distinct_primaries_first() -> None:
    config = WatcherConfig(types=select_types(["cloneset", "statefulset"]))
    resources = [str(t.resource) for t in config.targets()]
    assert resources == [
        "clonesets.apps.kruise.io",
        "statefulsets.apps.kruise.io",
        "pods",
        "persistentvolumeclaims",
        "controllerrevisions.apps",
    ]


def test_a_node_triggers_every_known_daemonset_and_broadcastjob_and_its_nodeimage() -> None:
    from watcher.config import NODE
    from watcher.mapping import KeyIndex

    index = KeyIndex()
    index.observe("daemonset", ["daemonset/ns1/a", "daemonset/ns2/b"], deleted=False)
    index.observe("broadcastjob", ["broadcastjob/ns1/j"], deleted=False)
    index.observe("daemonset", ["daemonset/ns2/b"], deleted=True)
    node = obj("node-1", namespace="")
    keys = ("daemonset/ns1/a", "broadcastjob/ns1/j", "nodeimage//node-1")
    assert ROUTER.keys(WatchTarget(NODE), node, index) == keys
    # no index: no DaemonSet or BroadcastJob known yet; the NodeImage is named after the node
    assert ROUTER.keys(WatchTarget(NODE), node) == ("nodeimage//node-1",)
    indexed = ["broadcastjob", "daemonset", "imagepulljob", "nodeimage"]
    assert [spec.name for spec in ROUTER.needs_index()] == indexed


def test_pipeline_keeps_the_key_index_from_the_primary_watch() -> None:
    from watcher.config import NODE
    from watcher.pipeline import Pipeline

    pipeline = Pipeline(ROUTER)
    daemonsets = WatchTarget(CATALOGUE[2].resource)
    pipeline.relist(daemonsets, daemonsets, [obj("a"), obj("b")], "10")
    pipeline.event(daemonsets, "DELETED", obj("a"))
    pipeline.event(daemonsets, "ADDED", obj("c"))
    assert pipeline.index.keys("daemonset") == {"daemonset/ns1/b", "daemonset/ns1/c"}
    pipeline.event(WatchTarget(NODE), "MODIFIED", obj("node-1", namespace=""))
    pending = {str(trigger.envelope.key) for _, trigger in pipeline.ledger.take(100)}
    assert {"daemonset/ns1/b", "daemonset/ns1/c"} <= pending
