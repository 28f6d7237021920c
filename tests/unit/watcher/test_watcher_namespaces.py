"""Watching only some namespaces (`--namespace a,b`, the chart's `watchNamespaces`): one list+watch
stream per namespace of each namespaced kind, cluster-scoped kinds stay cluster-wide, routing
and the key index work per namespace, and a single namespace keeps its old checkpoint key."""

from __future__ import annotations

import argparse

from watcher.command import build_config, register
from watcher.config import CATALOGUE, NODE, WatcherConfig, WatchTarget, select_types
from watcher.mapping import KeyIndex, Router
from watcher.pipeline import Pipeline


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["watcher", *argv])


def test_namespaces_flag_is_a_comma_separated_list() -> None:
    assert build_config(_parse("--namespace", "a, b,a")).namespaces == ("a", "b")
    assert build_config(_parse()).namespaces == ()


def test_one_stream_per_namespace_of_each_namespaced_kind() -> None:
    config = WatcherConfig(types=select_types(["cloneset", "daemonset"]), namespaces=("a", "b"))
    streams = [(str(s.resource), s.namespace) for s in config.streams()]
    assert ("clonesets.apps.kruise.io", "a") in streams
    assert ("clonesets.apps.kruise.io", "b") in streams
    assert ("pods", "a") in streams
    assert ("pods", "b") in streams
    assert ("nodes", None) in streams  # cluster-scoped: watched once, cluster-wide
    assert ("pods", None) not in streams
    assert len(streams) == len(set(streams))
    everywhere = WatcherConfig(types=select_types(["cloneset"]))
    assert all(s.namespace is None for s in everywhere.streams())


def test_a_single_namespace_keeps_its_checkpoint_key() -> None:
    config = WatcherConfig(types=select_types(["cloneset"]), namespaces=("a",))
    for stream in config.streams():
        before = WatchTarget(stream.resource, stream.label_selector).checkpoint_key("scope", "a")
        assert stream.checkpoint_key("scope", stream.namespace) == before


def test_a_bound_stream_routes_like_its_kind() -> None:
    router = Router(WatcherConfig(types=CATALOGUE, namespaces=("a",)))
    pod = {
        "metadata": {
            "name": "web-1",
            "namespace": "a",
            "uid": "u1",
            "resourceVersion": "3",
            "ownerReferences": [
                {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": "web", "uid": "c",
                 "controller": True}
            ],
        }
    }  # fmt: skip
    pods = WatchTarget(CATALOGUE[0].owned[0].resource, namespace="a")
    assert router.keys(pods, pod) == ("cloneset/a/web",)


def test_relisting_one_namespace_keeps_the_other_namespaces_keys() -> None:
    index = KeyIndex()
    index.replace("daemonset", ["daemonset/a/x", "daemonset/b/y"])
    index.replace("daemonset", ["daemonset/a/z"], namespace="a")
    assert index.keys("daemonset") == {"daemonset/a/z", "daemonset/b/y"}
    pipeline = Pipeline(Router(WatcherConfig(types=CATALOGUE, namespaces=("a", "b"))))
    daemonsets_a = WatchTarget(CATALOGUE[2].resource, namespace="a")
    daemonsets_b = WatchTarget(CATALOGUE[2].resource, namespace="b")

    def ds(name: str, ns: str) -> dict[str, object]:
        return {"metadata": {"name": name, "namespace": ns, "uid": name, "resourceVersion": "1"}}

    pipeline.relist(daemonsets_a, daemonsets_a, [ds("p", "a")], "5")
    pipeline.relist(daemonsets_b, daemonsets_b, [ds("q", "b")], "5")
    pipeline.relist(daemonsets_a, daemonsets_a, [ds("r", "a")], "6")
    assert pipeline.index.keys("daemonset") == {"daemonset/a/r", "daemonset/b/q"}
    node = {"metadata": {"name": "n", "uid": "n", "resourceVersion": "2"}}
    pipeline.event(WatchTarget(NODE), "MODIFIED", node)
    pending = {str(trigger.envelope.key) for _, trigger in pipeline.ledger.take(100)}
    assert {"daemonset/a/r", "daemonset/b/q"} <= pending
