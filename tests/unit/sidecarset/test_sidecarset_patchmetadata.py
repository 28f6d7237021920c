"""``patchPodMetadata`` during the in-place upgrade and its whitelist guard.

Expected values worked by hand from kruise v1.9.1 ``pkg/control/sidecarcontrol/util.go``
(``PatchPodMetadata``, ``ValidateSidecarSetPatchMetadataWhitelist``), evanphx/json-patch v5.6.0
``MergePatch`` (RFC 7386, Go's sorted map keys) and ``pkg/controller/sidecarset``
``updatePodSidecarAndHash`` (metadata patched in the same pod write as the sidecar images) and
``pkg/webhook/pod/mutating/sidecarset.go`` (every matched set's metadata patched at injection).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.sidecarset.test_sidecarset_planner import NOW, _with_revision, observed, pod, sidecarset
from tests.unit.webhook.test_sidecarset_injection import NOW as INJECT_NOW
from tests.unit.webhook.test_sidecarset_injection import _apply, _pod, _sidecar, _sidecarset
from webhook.sidecarset import InjectionError, inject
from workers.podmechanics.sidecarmeta import (
    MetadataPatchError,
    merge_patch,
    patch_annotations,
    whitelist_error,
)
from workers.runtime import actions as runtime
from workers.sidecarset.planner import plan


def test_retain_overwrite_merge_patch_json_in_order() -> None:
    before = {"a": "1", "oom": '{"log":1}'}
    after = patch_annotations(
        before,
        [
            {"annotations": {"a": "x", "b": "2"}},  # no policy: Retain
            {"annotations": {"a": "3"}, "patchPolicy": "Overwrite"},
            {"annotations": {"oom": '{"envoy":2}', "new": '{"k": 1}'}, "patchPolicy": "MergePatchJson"},
        ],
    )
    assert after == {"a": "3", "b": "2", "oom": '{"envoy":2,"log":1}', "new": '{"k": 1}'}
    assert before == {"a": "1", "oom": '{"log":1}'}


def test_merge_patch_as_evanphx() -> None:
    assert (
        merge_patch('{"a":{"b":1,"c":2},"d":3}', '{"a":{"b":null},"e":[1]}') == '{"a":{"c":2},"d":3,"e":[1]}'
    )
    # the document is not an object: the patch, its nulls pruned
    assert merge_patch("[1]", '{"x":null,"y":{"z":null}}') == '{"y":{}}'
    assert merge_patch('{"a":1}', "[1,2]") == "[1,2]"
    for doc, patch, message in (
        ("not json", "{}", "Invalid JSON Document"),
        ("null", "{}", "Invalid JSON Document"),
        ("{}", "{", "Invalid JSON Patch"),
        ("{}", "3", "Invalid JSON Patch"),
    ):
        with pytest.raises(MetadataPatchError, match=message):
            merge_patch(doc, patch)


def _set(labels: dict[str, str] | None = None, *keys: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "s", "labels": labels or {}},
        "spec": {"patchPodMetadata": [{"annotations": {k: "v" for k in keys}, "patchPolicy": "Overwrite"}]},
    }


def _config(*rules: dict[str, Any]) -> dict[str, str]:
    return {"SidecarSet_PatchPodMetadata_WhiteList": json.dumps({"rules": list(rules)})}


def test_whitelist_guard() -> None:
    assert whitelist_error({"metadata": {}, "spec": {}}, None, False) is None
    assert whitelist_error(_set(None, "k"), None, False) == "SidecarSet patch metadata whitelist not found"
    assert whitelist_error(_set(None, "k"), {"other": "x"}, True) is None
    unselected = _config({"selector": {"matchLabels": {"team": "a"}}, "allowedAnnotationKeyExprs": [".*"]})
    assert whitelist_error(_set({"team": "b"}, "k"), unselected, False) == (
        "sidecarSet patch metadata annotation is not allowed"
    )
    assert whitelist_error(_set({"team": "b"}, "k"), unselected, True) is None
    assert whitelist_error(_set({"team": "a"}, "k"), unselected, False) is None
    oom = _config({"allowedAnnotationKeyExprs": ["^oom-.*"]})
    assert whitelist_error(_set(None, "oom-score", "other"), oom, False) == (
        "sidecarSet patch metadata annotation(other) is not allowed"
    )
    # Go's MatchString is a search, not a full match
    assert (
        whitelist_error(_set(None, "app-oom"), _config({"allowedAnnotationKeyExprs": ["oom"]}), False) is None
    )


def _metadata_set() -> dict[str, Any]:
    set_raw = sidecarset()
    set_raw["spec"]["patchPodMetadata"] = [
        {"annotations": {"oom": '{"log":1}'}, "patchPolicy": "MergePatchJson"},
        {"annotations": {"keep": "set", "added": "set"}, "patchPolicy": "Retain"},
        {"annotations": {"over": "set"}, "patchPolicy": "Overwrite"},
    ]
    return set_raw


def test_upgrade_writes_patch_pod_metadata_with_the_images() -> None:
    set_raw = _metadata_set()
    p = pod("p1")
    p["metadata"]["annotations"].update({"oom": '{"app":2}', "keep": "pod", "over": "pod"})
    result = plan(observed(set_raw, [p], _with_revision(set_raw)), NOW)
    [patch] = [a for a in result.actions if isinstance(a, runtime.PatchObject) and not a.subresource]
    assert patch.patch["spec"] == {"containers": [{"name": "log", "image": "log:v2"}]}
    annotations = patch.patch["metadata"]["annotations"]
    assert annotations["oom"] == '{"app":2,"log":1}'
    assert annotations["over"] == "set"
    assert annotations["added"] == "set"
    assert "keep" not in annotations


def test_a_pod_whose_annotation_cannot_be_merged_is_not_written() -> None:
    set_raw = _metadata_set()
    good, bad = pod("p1"), pod("p2", created="2026-11-30T00:00:01Z")
    bad["metadata"]["annotations"]["oom"] = "not json"
    result = plan(observed(set_raw, [good, bad], _with_revision(set_raw)), NOW)
    written = [
        a.name for a in result.actions if isinstance(a, runtime.PatchObject) and a.resource.plural == "pods"
    ]
    assert "p2" not in written
    assert "SidecarSet patched pod metadata failed for pod ns/p2: Invalid JSON Document" in result.reason


def test_injection_patches_the_pod_metadata_of_every_matched_set() -> None:
    first = _sidecarset(
        "a-log",
        [_sidecar("logger")],
        patchPodMetadata=[
            {"annotations": {"oom": '{"log":1}', "team": "a"}, "patchPolicy": "MergePatchJson"}
        ],
    )
    second = _sidecarset(
        "b-mesh",
        [_sidecar("envoy")],
        patchPodMetadata=[
            {"annotations": {"oom": '{"envoy":2}', "keep": "set"}, "patchPolicy": "MergePatchJson"}
        ],
    )
    pod = _pod()
    pod["metadata"]["annotations"] = {"oom": '{"app":3}'}
    annotations = _apply(pod, inject(pod, [second, first], None, INJECT_NOW))["metadata"]["annotations"]
    # by set name: a-log then b-mesh; the pod had oom, neither had team/keep
    assert annotations["oom"] == '{"app":3,"envoy":2,"log":1}'
    assert annotations["team"] == "a"
    assert annotations["keep"] == "set"
    assert annotations["kruise.io/sidecarset-injected-list"] == "a-log,b-mesh"


def test_injection_refuses_a_pod_whose_annotation_cannot_be_merged() -> None:
    ss = _sidecarset(
        "log",
        [_sidecar("logger")],
        patchPodMetadata=[{"annotations": {"oom": "{}"}, "patchPolicy": "MergePatchJson"}],
    )
    pod = _pod()
    pod["metadata"]["annotations"] = {"oom": "not json"}
    with pytest.raises(InjectionError, match=r"^Invalid JSON Document$"):
        inject(pod, [ss], None, INJECT_NOW)
