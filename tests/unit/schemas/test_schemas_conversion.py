"""Conversion v1alpha1 <-> v1beta1 as kruise v1.9.1 does it (apis/apps/*/..._conversion.go).

Round trips are properties over generated objects (Hypothesis); the fixed cases are worked by hand
from kruise's ConvertTo / ConvertFrom.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.kruise.conversion import (
    SIDECARSET_CUSTOM_VERSION_LABEL,
    ConversionError,
    convert,
    sidecarset_to_v1alpha1,
    sidecarset_to_v1beta1,
    statefulset_to_v1alpha1,
    statefulset_to_v1beta1,
)
from schemas.kruise.registry import resource_for

V1A, V1B = "apps.kruise.io/v1alpha1", "apps.kruise.io/v1beta1"

names = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
scalars = st.one_of(st.integers(-5, 5), st.booleans(), names)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=8,
)
#: Metadata labels: never an empty map (the API server's ObjectMeta omits one, as Go's omitempty).
plain_labels = st.dictionaries(names, names, min_size=1, max_size=3)
selectors = st.fixed_dictionaries({"matchLabels": st.dictionaries(names, names, min_size=1, max_size=2)})


def _metadata(labels: st.SearchStrategy[dict[str, str]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"name": names}, optional={"labels": labels})


sidecar_containers = st.lists(
    st.fixed_dictionaries(
        {"name": names, "image": names},
        optional={
            "podInjectPolicy": st.sampled_from(["BeforeAppContainer", "AfterAppContainer"]),
            "shareVolumeDevicePolicy": st.fixed_dictionaries(
                {"type": st.sampled_from(["enabled", "disabled"])}
            ),
            "resourcesPolicy": st.fixed_dictionaries(
                {"targetContainersMode": st.sampled_from(["sum", "max"]), "resourcesExpr": st.just({})}
            ),
        },
    ),
    max_size=2,
)
sidecarset_common = {
    "selector": selectors,
    "containers": sidecar_containers,
}
sidecarset_optional = {
    "namespaceSelector": selectors,
    "updateStrategy": st.fixed_dictionaries(
        {}, optional={"partition": st.integers(0, 3), "paused": st.booleans()}
    ),
    "revisionHistoryLimit": st.integers(0, 10),
}
sidecarsets_v1beta1 = st.fixed_dictionaries(
    {
        "apiVersion": st.just(V1B),
        "kind": st.just("SidecarSet"),
        "metadata": _metadata(plain_labels),
        "spec": st.fixed_dictionaries(
            sidecarset_common, optional={**sidecarset_optional, "customVersion": names}
        ),
    }
)
custom_labels = st.builds(
    lambda labels, custom: {**labels, SIDECARSET_CUSTOM_VERSION_LABEL: custom}, plain_labels, names
)
sidecarsets_v1alpha1 = st.fixed_dictionaries(
    {
        "apiVersion": st.just(V1A),
        "kind": st.just("SidecarSet"),
        "metadata": _metadata(plain_labels | custom_labels),
        "spec": st.fixed_dictionaries(sidecarset_common, optional=sidecarset_optional),
    }
)


@given(sidecarsets_v1beta1)
def test_sidecarset_hub_round_trip(obj: dict[str, Any]) -> None:
    down = sidecarset_to_v1alpha1(obj)
    assert "customVersion" not in down["spec"]
    assert sidecarset_to_v1beta1(down) == obj


@given(sidecarsets_v1alpha1)
def test_sidecarset_v1alpha1_round_trip(obj: dict[str, Any]) -> None:
    up = sidecarset_to_v1beta1(obj)
    assert SIDECARSET_CUSTOM_VERSION_LABEL not in (up["metadata"].get("labels") or {})
    # the label moves to spec.customVersion and back
    assert sidecarset_to_v1alpha1(up) == obj
    assert resource_for(V1B, "SidecarSet").from_wire(up).to_wire(exclude_unset=True) == up


def test_sidecarset_namespace_folds_into_namespace_selector() -> None:
    # kruise apis/apps/v1alpha1/sidecarset_conversion.go ConvertTo: Namespace wins over
    # NamespaceSelector, as matchLabels kubernetes.io/metadata.name; ConvertFrom copies the selector.
    obj = {
        "apiVersion": V1A,
        "kind": "SidecarSet",
        "metadata": {"name": "s", "labels": {SIDECARSET_CUSTOM_VERSION_LABEL: "v2", "a": "b"}},
        "spec": {"namespace": "web", "namespaceSelector": {"matchLabels": {"team": "x"}}},
    }
    up = convert(obj, V1B)
    assert up == {
        "apiVersion": V1B,
        "kind": "SidecarSet",
        "metadata": {"name": "s", "labels": {"a": "b"}},
        "spec": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "web"}},
            "customVersion": "v2",
        },
    }
    assert convert(up, V1A) == {
        "apiVersion": V1A,
        "kind": "SidecarSet",
        "metadata": {"name": "s", "labels": {"a": "b", SIDECARSET_CUSTOM_VERSION_LABEL: "v2"}},
        "spec": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "web"}}},
    }


sts_rolling = st.fixed_dictionaries(
    {},
    optional={
        "partition": st.integers(0, 5),
        "maxUnavailable": st.integers(1, 3) | st.just("50%"),
        "podUpdatePolicy": st.sampled_from(["ReCreate", "InPlaceIfPossible", "InPlaceOnly"]),
        "paused": st.booleans(),
        "minReadySeconds": st.integers(0, 300),
        "unorderedUpdate": st.fixed_dictionaries({}, optional={"priorityStrategy": json_values}),
        "inPlaceUpdateStrategy": st.fixed_dictionaries(
            {}, optional={"gracePeriodSeconds": st.integers(0, 9)}
        ),
    },
)
sts_common_spec = {
    "selector": selectors,
    "template": json_values,
    "updateStrategy": st.fixed_dictionaries(
        {}, optional={"type": st.sampled_from(["RollingUpdate", "OnDelete"]), "rollingUpdate": sts_rolling}
    ),
}
sts_common_optional = {
    "replicas": st.integers(0, 9),
    "serviceName": names,
    "podManagementPolicy": st.sampled_from(["OrderedReady", "Parallel"]),
    "revisionHistoryLimit": st.integers(0, 10),
    "volumeClaimTemplates": st.lists(json_values, max_size=2),
}
sts_v1beta1_only = {
    "reserveOrdinals": st.lists(st.integers(0, 9), max_size=3),
    "lifecycle": json_values,
    "scaleStrategy": st.fixed_dictionaries({"maxUnavailable": st.integers(1, 3)}),
    "persistentVolumeClaimRetentionPolicy": st.fixed_dictionaries({"whenDeleted": st.just("Delete")}),
    "ordinals": st.fixed_dictionaries({"start": st.integers(0, 9)}),
    "volumeClaimUpdateStrategy": st.fixed_dictionaries({"type": st.just("OnDelete")}),
}
sts_status = st.fixed_dictionaries(
    {}, optional={"replicas": st.integers(0, 9), "updateRevision": names, "labelSelector": names}
)


def _sts(version: str, extra: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "apiVersion": st.just(version),
            "kind": st.just("StatefulSet"),
            "metadata": _metadata(plain_labels),
            "spec": st.fixed_dictionaries(sts_common_spec, optional={**sts_common_optional, **extra}),
        },
        optional={"status": sts_status},
    )


@given(_sts(V1A, {}))
def test_statefulset_v1alpha1_round_trip(obj: dict[str, Any]) -> None:
    assert statefulset_to_v1alpha1(statefulset_to_v1beta1(obj)) == obj


@given(_sts(V1B, sts_v1beta1_only))
def test_statefulset_down_drops_only_the_v1beta1_fields(obj: dict[str, Any]) -> None:
    down = statefulset_to_v1alpha1(obj)
    assert not set(down["spec"]) & set(sts_v1beta1_only)
    back = statefulset_to_v1beta1(down)
    expected = copy.deepcopy(obj)
    for key in sts_v1beta1_only:
        expected["spec"].pop(key, None)
    assert back == expected
    assert statefulset_to_v1alpha1(back) == down


def test_statefulset_status_keeps_kruises_list() -> None:
    # kruise apis/apps/v1alpha1/statefulset_conversion.go copies these status fields, not the
    # updatedReady/updatedAvailable counters or volumeClaims
    obj = {
        "apiVersion": V1B,
        "kind": "StatefulSet",
        "metadata": {"name": "s"},
        "spec": {"selector": {}, "template": {}, "updateStrategy": {}},
        "status": {
            "replicas": 3,
            "updatedReadyReplicas": 2,
            "updatedAvailableReplicas": 1,
            "volumeClaims": [],
        },
    }
    assert convert(obj, V1A)["status"] == {"replicas": 3}


@pytest.mark.parametrize("kind", ["BroadcastJob", "ImagePullJob", "AdvancedCronJob", "NodeImage"])
@given(spec=st.dictionaries(names, json_values, max_size=4))
def test_one_to_one_kinds_round_trip(kind: str, spec: dict[str, Any]) -> None:
    obj = {"apiVersion": V1A, "kind": kind, "metadata": {"name": "x"}, "spec": spec}
    spec.pop("template", None)
    spec.pop("images", None)
    up = convert(obj, V1B)
    assert up["apiVersion"] == V1B
    assert convert(up, V1A) == obj


def test_advancedcronjob_image_list_pull_template_cannot_go_down() -> None:
    obj = {
        "apiVersion": V1B,
        "kind": "AdvancedCronJob",
        "metadata": {"name": "a"},
        "spec": {
            "schedule": "* * * * *",
            "template": {"imageListPullJobTemplate": {"spec": {"images": ["x"]}}},
        },
    }
    with pytest.raises(ConversionError, match="imageListPullJobTemplate is not supported in v1alpha1"):
        convert(obj, V1A)


def test_nodeimage_down_drops_pull_secret_mode() -> None:
    secret = {"name": "s", "namespace": "n", "mode": "batch"}
    obj = {
        "apiVersion": V1B,
        "kind": "NodeImage",
        "metadata": {"name": "node-1"},
        "spec": {"images": {"nginx": {"pullSecrets": [secret], "tags": [{"tag": "1"}]}}},
    }
    down = convert(obj, V1A)
    assert down["spec"]["images"]["nginx"]["pullSecrets"] == [{"name": "s", "namespace": "n"}]
    assert obj["spec"]["images"]["nginx"]["pullSecrets"][0]["mode"] == "batch", "input untouched"


def test_unknown_kind_or_group_is_refused() -> None:
    with pytest.raises(ConversionError, match="kruise does not convert CloneSet"):
        convert({"apiVersion": V1A, "kind": "CloneSet"}, V1B)
    with pytest.raises(ConversionError, match=r"not group apps\.kruise\.io"):
        convert({"apiVersion": V1A, "kind": "SidecarSet"}, "apps/v1")
