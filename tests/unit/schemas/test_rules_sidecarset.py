"""SidecarSet rules: kruise's defaults, hashes and messages.

The hashes are the values kruise v1.9.1's own test expects
(pkg/webhook/sidecarset/mutating/sidecarset_mutating_test.go); the messages are written out by
hand from the format strings of pkg/webhook/sidecarset/validating."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.kruise.rules import aggregate_message, default, validate
from schemas.kruise.rules.sidecarset import selectors_overlap, validate_conflicts

HASH = "6wbd76bd7984x24fb4f44fv9222cw9v9bcf85x766744wddd4zwx927zzz2zb684"
HASH_WITHOUT_IMAGE = "82684vwf9d4cb4wz4vffx4ddfbb47ww4z4wwxdbwb8w2zbb7zvf4524cdd49bv94"


def _set(name: str = "sidecarset-test", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "containers": [{"name": "dns-f", "image": "dns:1.0"}],
    }
    return {"metadata": {"name": name}, "spec": {**base, **spec}}


def _from(api_version: str, field_path: str) -> dict[str, Any]:
    ref = {"fieldPath": field_path, **({"apiVersion": api_version} if api_version else {})}
    return {"sourceContainerNameFrom": {"fieldRef": ref}, "envName": "E"}


def test_defaults_and_the_hashes_kruise_expects() -> None:
    obj = _set(
        patchPodMetadata=[{"annotations": {"key1": "value1"}}],
        injectionStrategy={"revision": {"customVersion": "1"}},
    )
    out = default("SidecarSet", obj)
    assert out["metadata"]["annotations"] == {
        "kruise.io/sidecarset-hash": HASH,
        "kruise.io/sidecarset-hash-without-image": HASH_WITHOUT_IMAGE,
    }
    spec = out["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "maxUnavailable": 1, "partition": 0}
    assert spec["containers"][0] == {
        "name": "dns-f",
        "image": "dns:1.0",
        "podInjectPolicy": "BeforeAppContainer",
        "upgradeStrategy": {"upgradeType": "ColdUpgrade"},
        "shareVolumePolicy": {"type": "disabled"},
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "resources": {},
    }
    assert spec["patchPodMetadata"][0]["patchPolicy"] == "Retain"
    assert spec["injectionStrategy"]["revision"]["policy"] == "Always"
    assert spec["revisionHistoryLimit"] == 10
    assert obj["spec"].get("updateStrategy") is None, "the input is not changed"


def test_the_image_changes_one_hash_only() -> None:
    one = default("SidecarSet", _set())["metadata"]["annotations"]
    two = default("SidecarSet", _set(containers=[{"name": "dns-f", "image": "dns:2.0"}]))["metadata"][
        "annotations"
    ]
    assert one["kruise.io/sidecarset-hash"] != two["kruise.io/sidecarset-hash"]
    assert one["kruise.io/sidecarset-hash-without-image"] == two["kruise.io/sidecarset-hash-without-image"]


@pytest.mark.parametrize(
    ("obj", "old", "message"),
    [
        (_set(), None, ""),
        (
            {"metadata": {"name": "bad.name"}, "spec": _set()["spec"]},
            None,
            'metadata.name: Invalid value: "bad.name": sidecarset name must consist of alphanumeric '
            "characters or '-' (e.g. 'example-com', regex used for validation is '^[a-zA-Z0-9\\-]+$')",
        ),
        (
            {"metadata": {"name": "s"}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
            None,
            "spec.selector: Required value: no selector defined for SidecarSet",
        ),
        (
            _set(containers=[]),
            None,
            "spec: Required value: no initContainer or container defined for SidecarSet",
        ),
        (
            _set(updateStrategy={"type": "RollingUpdate", "partition": 0, "maxUnavailable": "x"}),
            None,
            "spec.updateStrategy.maxUnavailable: Invalid value: "
            'intstr.IntOrString{Type:1, IntVal:0, StrVal:"x"}: a valid percent string must be a numeric '
            "string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
        ),
        (
            _set(containers=[{"name": "c", "image": "i"}, {"name": "c", "image": "j"}]),
            None,
            'spec.containers[1].name: Duplicate value: "c"',
        ),
        (
            _set(containers=[{"name": "new", "image": "i"}]),
            _set(),
            'spec.containers.name: Invalid value: "new": container new is not found',
        ),
        (
            _set(
                containers=[
                    {
                        "name": "dns-f",
                        "image": "dns:1.0",
                        "upgradeStrategy": {"upgradeType": "HotUpgrade", "hotUpgradeEmptyImage": "e"},
                    }
                ]
            ),
            _set(),
            'spec.containers.upgradeStrategy.upgradeType: Invalid value: "dns-f": '
            "container dns-f upgradeType is immutable",
        ),
        # validateDownwardAPI (sidecarset_create_update_handler.go:462-509) and
        # ConvertDownwardAPIFieldLabel (pkg/control/sidecarcontrol/util.go:472-486); apiVersion is
        # defaulted to v1 (apis/apps/defaults/v1beta1.go:271-275), so never missing here
        (
            _set(containers=[{"name": "c", "image": "i", "transferEnv": [_from("v1", "metadata.name")]}]),
            None,
            'spec[0].transferEnv.fieldRef.fieldPath: Invalid value: "metadata.name": '
            "error converting fieldPath: field label not supported: metadata.name",
        ),
        (
            _set(
                containers=[{"name": "c", "image": "i", "transferEnv": [_from("v2", "metadata.labels['a']")]}]
            ),
            None,
            "spec[0].transferEnv.fieldRef.fieldPath: Invalid value: \"metadata.labels['a']\": "
            "error converting fieldPath: unsupported pod version: v2",
        ),
        (
            _set(
                containers=[
                    {"name": "c", "image": "i", "transferEnv": [_from("v1", "metadata.labels['-x']")]}
                ]
            ),
            None,
            'spec[0].transferEnv.fieldRef: Invalid value: "-x": name part must consist of alphanumeric '
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
            "'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        ),
        (
            _set(
                containers=[
                    {"name": "c", "image": "i", "transferEnv": [_from("v1", "metadata.annotations['A.b/C']")]}
                ]
            ),
            None,
            "",
        ),
    ],
)
def test_validation_messages(obj: dict[str, Any], old: dict[str, Any] | None, message: str) -> None:
    defaulted = default("SidecarSet", obj, old)
    old_defaulted = default("SidecarSet", old) if old is not None else None
    assert aggregate_message(validate("SidecarSet", defaulted, old_defaulted)) == message


def test_selector_overlap_as_kruise_decides() -> None:
    assert selectors_overlap({"matchLabels": {"app": "a"}}, {"matchLabels": {"app": "a", "x": "y"}})
    assert not selectors_overlap({"matchLabels": {"app": "a"}}, {"matchLabels": {"app": "b"}})
    exists = {"matchExpressions": [{"key": "app", "operator": "Exists"}]}
    assert selectors_overlap(exists, {"matchLabels": {"app": "b"}})
    not_in = {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a", "b"]}]}
    assert not selectors_overlap({"matchLabels": {"app": "a"}}, not_in)
    assert not selectors_overlap(
        {"matchLabels": {"app": "a"}}, {"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}
    )


def test_conflicts_with_other_sidecarsets() -> None:
    first = default(
        "SidecarSet",
        _set(
            "first",
            volumes=[{"name": "v", "emptyDir": {}}],
            patchPodMetadata=[{"annotations": {"k": "1"}, "patchPolicy": "Overwrite"}],
        ),
    )
    same = default(
        "SidecarSet",
        _set(
            "second",
            volumes=[{"name": "v", "hostPath": {"path": "/x"}}],
            patchPodMetadata=[{"annotations": {"k": "2"}, "patchPolicy": "MergePatchJson"}],
        ),
    )
    assert aggregate_message(validate_conflicts(same, [first, same])) == (
        '[spec.containers: Invalid value: "dns-f": container dns-f already exist in first, '
        'spec.volumes: Invalid value: "v": volume v is in conflict with sidecarset first, '
        'spec.patchPodMetadata: Invalid value: "k": annotation k is in conflict with sidecarset first]'
    )
    elsewhere = default("SidecarSet", _set("third", selector={"matchLabels": {"app": "db"}}))
    assert validate_conflicts(elsewhere, [first]) == []
    other_ns = default("SidecarSet", _set("fourth", namespaceSelector={"matchLabels": {"team": "b"}}))
    first_ns = default("SidecarSet", _set("fifth", namespaceSelector={"matchLabels": {"team": "a"}}))
    assert validate_conflicts(other_ns, [first_ns]) == []


def test_a_v1alpha1_namespace_is_the_namespace_selector_it_converts_to() -> None:
    # kruise's PUB e2e (podunavailablebudget.go:1081) creates, at v1alpha1, a SidecarSet with
    # spec.namespace while a parallel spec's twin in another namespace is stored (v1beta1) with the
    # namespaceSelector conversion made of it (sidecarset_conversion.go: kubernetes.io/metadata.name):
    # no overlap, no conflict.
    stored = default(
        "SidecarSet",
        _set("other", namespaceSelector={"matchLabels": {"kubernetes.io/metadata.name": "ns-a"}}),
    )
    admitted = default("SidecarSet", _set("mine", namespace="ns-b"))
    assert validate_conflicts(admitted, [stored]) == []
    same_namespace = default("SidecarSet", _set("mine", namespace="ns-a"))
    assert aggregate_message(validate_conflicts(same_namespace, [stored])) == (
        'spec.containers: Invalid value: "dns-f": container dns-f already exist in other'
    )
