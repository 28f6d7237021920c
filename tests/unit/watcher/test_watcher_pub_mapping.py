"""Pods and workloads map to the PodUnavailableBudgets that count them (kruise's PUB event handlers), pure."""

from __future__ import annotations

from typing import Any

from watcher.config import CATALOGUE, POD, Resource, WatcherConfig, WatchTarget
from watcher.mapping import Router
from watcher.pipeline import Pipeline

PUB_SPEC = next(spec for spec in CATALOGUE if spec.name == "podunavailablebudget")
ROUTER = Router(WatcherConfig(types=(PUB_SPEC,)))
PUBS = WatchTarget(PUB_SPEC.resource)
PODS = WatchTarget(POD)
CLONESETS = WatchTarget(Resource("apps.kruise.io", "v1alpha1", "clonesets", "CloneSet"))
DEPLOYMENTS = WatchTarget(Resource("apps", "v1", "deployments", "Deployment"))


def pub(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns1"}, "spec": {"maxUnavailable": 1, **spec}}


def pod(labels: dict[str, str], annotations: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "p",
            "namespace": "ns1",
            "labels": labels,
            "annotations": annotations or {},
            **meta,
        }
    }


def pipeline_with(*pubs: dict[str, Any]) -> Pipeline:
    pipeline = Pipeline(ROUTER)
    pipeline.relist(PUBS, PUBS, list(pubs), "10")
    pipeline.ledger.take(100)  # the PUBs' own resync triggers
    return pipeline


def keys_after(pipeline: Pipeline, target: WatchTarget, obj: dict[str, Any]) -> set[str]:
    pipeline.event(target, "MODIFIED", obj)
    return {str(ticket.key) for ticket, _ in pipeline.ledger.take(100)}


WEB = {"matchLabels": {"app": "web"}}
TARGET_WEB = {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": "web"}


def test_an_annotated_pod_maps_to_its_related_pub_only() -> None:
    pipeline = pipeline_with(pub("by-selector", selector=WEB))
    annotated = pod({"app": "web"}, {"kruise.io/related-pub": "named"})
    assert keys_after(pipeline, PODS, annotated) == {"podunavailablebudget/ns1/named"}


def test_a_pod_not_yet_annotated_maps_by_selector_and_by_targeted_controller() -> None:
    pipeline = pipeline_with(
        pub("by-selector", selector=WEB),
        pub("other", selector={"matchLabels": {"app": "db"}}),
        pub("by-target", targetRef=TARGET_WEB),
        pub("target-elsewhere", targetRef={**TARGET_WEB, "name": "db"}),
    )
    owned = pod(
        {"app": "web"},
        ownerReferences=[
            {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": "web", "controller": True}
        ],
    )
    assert keys_after(pipeline, PODS, owned) == {
        "podunavailablebudget/ns1/by-selector",
        "podunavailablebudget/ns1/by-target",
    }
    assert keys_after(pipeline, PODS, pod({"app": "cache"})) == set()


def test_a_workload_maps_to_pubs_targeting_it_or_selecting_its_template() -> None:
    pipeline = pipeline_with(
        pub("by-target", targetRef=TARGET_WEB),
        pub("by-selector", selector=WEB),
        pub("deployment-target", targetRef={"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}),
    )
    cloneset = {
        "metadata": {"name": "web", "namespace": "ns1"},
        "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "web"}}}},
    }
    assert keys_after(pipeline, CLONESETS, cloneset) == {
        "podunavailablebudget/ns1/by-target",
        "podunavailablebudget/ns1/by-selector",
    }
    assert keys_after(pipeline, DEPLOYMENTS, cloneset) == {
        "podunavailablebudget/ns1/deployment-target",
        "podunavailablebudget/ns1/by-selector",
    }


def test_a_deleted_pub_is_forgotten() -> None:
    pipeline = pipeline_with(pub("by-selector", selector=WEB))
    pipeline.event(PUBS, "DELETED", pub("by-selector", selector=WEB))
    pipeline.ledger.take(100)
    assert keys_after(pipeline, PODS, pod({"app": "web"})) == set()
