"""Watcher configuration: the catalogue, config files, type selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from flotilla.runtime.kube import Resource
from watcher.config import (
    CATALOGUE,
    ConfigError,
    MapVia,
    WatchTarget,
    load_file,
    parse_types,
    select_types,
)


def test_catalogue_starts_with_cloneset_owning_pods_pvcs_and_revisions() -> None:
    cloneset = CATALOGUE[0]
    assert cloneset.name == "cloneset"
    assert cloneset.resource.api_version == "apps.kruise.io/v1alpha1"
    assert [o.resource.plural for o in cloneset.owned] == [
        "pods",
        "persistentvolumeclaims",
        "controllerrevisions",
    ]


def test_collection_paths() -> None:
    pods = Resource("", "v1", "pods", "Pod")
    assert pods.collection_path(None) == "/api/v1/pods"
    assert pods.collection_path("a") == "/api/v1/namespaces/a/pods"
    sidecarsets = Resource("apps.kruise.io", "v1alpha1", "sidecarsets", "SidecarSet", namespaced=False)
    assert sidecarsets.collection_path("a") == "/apis/apps.kruise.io/v1alpha1/sidecarsets"


def test_config_file_defines_a_test_type(tmp_path: Path) -> None:
    path = tmp_path / "watcher.yaml"
    path.write_text(
        """
types:
  testcm:
    resource: {version: v1, resource: configmaps, kind: ConfigMap}
    labelSelector: flotilla.dev/test=abc
    owned:
      - resource: {version: v1, resource: pods, kind: Pod}
"""
    )
    (spec,) = load_file(path)
    assert spec.name == "testcm"
    assert spec.resource == Resource("", "v1", "configmaps", "ConfigMap")
    assert spec.label_selector == "flotilla.dev/test=abc"
    assert spec.owned[0].via is MapVia.CONTROLLER_OWNER
    assert select_types(None, (spec,)) == (spec,)
    assert [s.name for s in select_types(["testcm", "cloneset"], (spec,))] == ["testcm", "cloneset"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "top-level 'types:'"),
        ({"types": {"x": {"resource": {"version": "v1"}}}}, "missing field 'resource'"),
        (
            {
                "types": {
                    "x": {
                        "resource": {"version": "v1", "resource": "a", "kind": "A"},
                        "owned": [{"via": "?"}],
                    }
                }
            },
            "via",
        ),
    ],
)
def test_bad_config_says_what_to_change(document: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_types(document)


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown worker type 'nope'"):
        select_types(["nope"])


def test_checkpoint_keys_are_kv_safe_and_distinct_per_selector() -> None:
    pods = WatchTarget(Resource("", "v1", "pods", "Pod"))
    selected = WatchTarget(Resource("", "v1", "pods", "Pod"), "a=b")
    a, b = pods.checkpoint_key("flotilla-watcher", None), selected.checkpoint_key("flotilla-watcher", None)
    assert a != b
    assert a.startswith("flotilla-watcher.core.pods.")
    assert all(c.isalnum() or c in "-_." for c in a + b)
