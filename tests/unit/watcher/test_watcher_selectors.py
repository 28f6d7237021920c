"""Orphan pods map to the CloneSets that would adopt them (kruise ``getPodCloneSets``), pure."""

from __future__ import annotations

from typing import Any

import pytest

from watcher.config import CATALOGUE, POD, WatcherConfig, WatchTarget
from watcher.mapping import Router
from watcher.pipeline import Pipeline
from watcher.selectors import SelectorIndex

CLONESETS = WatchTarget(CATALOGUE[0].resource)
PODS = WatchTarget(POD)


def cloneset(name: str, selector: Any, namespace: str = "ns1") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"selector": selector}}


def pod(labels: dict[str, str], namespace: str = "ns1", **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": namespace, "labels": labels, "uid": "u", **meta}}


WEB = {"matchLabels": {"app": "web"}}
FRONT = {
    "matchLabels": {"app": "web"},
    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}],
}
NOT_CANARY = {"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]}


def index_of(*objects: dict[str, Any]) -> SelectorIndex:
    index = SelectorIndex()
    index.replace("cloneset", objects)
    return index


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"app": "web", "tier": "front"}, ("front", "not-canary", "web")),
        ({"app": "web", "tier": "back"}, ("not-canary", "web")),  # fails front's In
        ({"app": "web", "canary": "1"}, ("web",)),  # fails DoesNotExist
        ({"app": "db", "canary": "1"}, ()),
    ],
)
def test_matching_follows_label_selector_semantics(labels: dict[str, str], expected: tuple[str, ...]) -> None:
    index = index_of(cloneset("web", WEB), cloneset("front", FRONT), cloneset("not-canary", NOT_CANARY))
    assert index.matching("cloneset", "ns1", labels) == expected


def test_only_the_pods_namespace_counts() -> None:
    index = index_of(cloneset("web", WEB, namespace="other"))
    assert index.matching("cloneset", "ns1", {"app": "web"}) == ()
    assert index.matching("cloneset", "other", {"app": "web"}) == ("web",)


@pytest.mark.parametrize(
    "selector",
    [
        {},  # empty: kruise skips selector.Empty()
        None,
        "app=web",
        {"matchExpressions": [{"key": "tier", "operator": "In"}]},  # In without values: does not parse
        {"matchExpressions": [{"key": "tier", "operator": "Near", "values": ["x"]}]},
        {"matchLabels": {"app": 1}},  # not a string value
        {"matchExpressions": [{"key": "tier", "operator": "In", "values": "x"}]},  # values not a list
        {"matchExpressions": {"key": "tier", "operator": "Exists"}},  # not a list
    ],
)
def test_an_unusable_selector_adopts_nothing(selector: Any) -> None:
    index = index_of(cloneset("bad", selector))
    assert index.matching("cloneset", "ns1", {"app": "web", "tier": "x"}) == ()
    assert index.count("cloneset") == 0


def test_watch_events_update_and_forget_selectors() -> None:
    index = SelectorIndex()
    index.observe("cloneset", cloneset("web", WEB), deleted=False)
    assert index.matching("cloneset", "ns1", {"app": "web"}) == ("web",)
    index.observe("cloneset", cloneset("web", {"matchLabels": {"app": "web2"}}), deleted=False)
    assert index.matching("cloneset", "ns1", {"app": "web"}) == ()
    assert index.matching("cloneset", "ns1", {"app": "web2"}) == ("web",)
    index.observe("cloneset", cloneset("web", {"matchLabels": {"app": "web2"}}), deleted=True)
    assert index.count("cloneset") == 0


ROUTER = Router(WatcherConfig(types=CATALOGUE))


def test_router_maps_an_orphan_pod_to_every_matching_cloneset() -> None:
    index = index_of(
        cloneset("web", WEB), cloneset("front", FRONT), cloneset("db", {"matchLabels": {"app": "db"}})
    )
    keys = ROUTER.keys(PODS, pod({"app": "web", "tier": "front"}), selectors=index)
    assert keys == ("cloneset/ns1/front", "cloneset/ns1/web")


def test_router_maps_a_controlled_pod_to_its_controller_only() -> None:
    index = index_of(cloneset("web", WEB), cloneset("other", WEB))
    owned = pod(
        {"app": "web"},
        ownerReferences=[
            {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": "web", "controller": True}
        ],
    )
    assert ROUTER.keys(PODS, owned, selectors=index) == ("cloneset/ns1/web",)
    # controlled by something else (a ReplicaSet): not an orphan, no CloneSet adopts it
    foreign = pod(
        {"app": "web"},
        ownerReferences=[{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "controller": True}],
    )
    assert ROUTER.keys(PODS, foreign, selectors=index) == ()
    # a non-controller ownerReference leaves it an orphan
    referenced = pod(
        {"app": "web"},
        ownerReferences=[{"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "controller": False}],
    )
    assert ROUTER.keys(PODS, referenced, selectors=index) == ("cloneset/ns1/other", "cloneset/ns1/web")


def test_an_orphan_being_deleted_triggers_nothing() -> None:
    index = index_of(cloneset("web", WEB))
    dying = pod({"app": "web"}, deletionTimestamp="2026-01-01T00:00:00Z")
    assert ROUTER.keys(PODS, dying, selectors=index) == ()


def test_the_pipeline_keeps_the_index_from_the_cloneset_watch() -> None:
    pipeline = Pipeline(ROUTER)
    orphan = pod({"app": "web"})
    pipeline.event(PODS, "ADDED", orphan)
    assert pipeline.ledger.pending_count == 0  # no CloneSet known yet
    pipeline.relist(CLONESETS, CLONESETS, [cloneset("web", WEB)], "10")
    taken = {ticket.key for ticket, _ in pipeline.ledger.take(100)}
    assert taken == {"cloneset/ns1/web"}  # the CloneSet's own resync trigger
    pipeline.event(PODS, "MODIFIED", orphan)
    assert {ticket.key for ticket, _ in pipeline.ledger.take(100)} == {"cloneset/ns1/web"}
    pipeline.event(CLONESETS, "DELETED", cloneset("web", WEB))
    pipeline.ledger.take(100)
    pipeline.event(PODS, "MODIFIED", orphan)
    assert pipeline.ledger.take(100) == []
