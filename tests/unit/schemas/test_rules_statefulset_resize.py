"""kruise's ``ValidateVolumeClaimTemplateUpdate`` (pkg/webhook/statefulset/validating/
statefulset_validation.go, gate StatefulSetAutoResizePVCGate): under an OnRollingUpdate claim
strategy a template may only be resized, on a storage class that allows expansion. Messages are
kruise's, as its e2e "VolumeExpansion v1beta1 ... cannot_expand" specs meet them."""

from __future__ import annotations

import copy
from typing import Any

from schemas.kruise import rules


def _claim(name: str, size: str, storage_class: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"metadata": {"name": name}, "spec": spec}


def _asts(*claims: dict[str, Any], strategy: str = "OnPodRollingUpdate") -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]},
            },
            "volumeClaimTemplates": list(claims),
            "volumeClaimUpdateStrategy": {"type": strategy},
        },
    }


def _resized(old: dict[str, Any], size: str) -> dict[str, Any]:
    new = copy.deepcopy(old)
    for claim in new["spec"]["volumeClaimTemplates"]:
        claim["spec"]["resources"]["requests"]["storage"] = size
    return new


EXPANDABLE = {"metadata": {"name": "allow-volume-expansion"}, "allowVolumeExpansion": True}
FIXED = {"metadata": {"name": "disallow-volume-expansion"}, "allowVolumeExpansion": False}


def _messages(obj: dict[str, Any], old: dict[str, Any], classes: dict[str, Any]) -> list[str]:
    obj, old = rules.default("StatefulSet", obj, old), rules.default("StatefulSet", old)
    return [str(e) for e in rules.validate("StatefulSet", obj, old, rules.Facts(storage_classes=classes))]


def test_resize_on_a_class_without_expansion_is_forbidden() -> None:
    old = _asts(_claim("data0", "1Gi", "disallow-volume-expansion"))
    new = _resized(old, "2Gi")
    assert rules.needs("StatefulSet", new, old).storage_classes == ("disallow-volume-expansion",)
    assert _messages(new, old, {"disallow-volume-expansion": FIXED}) == [
        "spec.volumeClaimTemplates[data0].spec.resources.requests.storage: Forbidden: "
        "storage class disallow-volume-expansion does not support volume expansion"
    ]
    assert _messages(new, old, {"disallow-volume-expansion": EXPANDABLE}) == []


def test_mixed_classes_are_checked_each_and_a_missing_class_is_refused() -> None:
    old = _asts(_claim("data0", "1Gi", "allow-volume-expansion"), _claim("data1", "1Gi", "missing"))
    new = _resized(old, "2Gi")
    assert rules.needs("StatefulSet", new, old).storage_classes == ("allow-volume-expansion", "missing")
    assert _messages(new, old, {"allow-volume-expansion": EXPANDABLE, "missing": None}) == [
        'spec.volumeClaimTemplates[data1].spec.storageClassName: Invalid value: "missing": can not get sc'
    ]


def test_unnamed_class_is_the_default_one_and_nothing_is_checked_without_it() -> None:
    old = _asts(_claim("data0", "1Gi", None))
    new = _resized(old, "2Gi")
    assert rules.needs("StatefulSet", new, old).storage_classes == ("",)
    assert _messages(new, old, {"": None}) == []
    assert len(_messages(new, old, {"": FIXED})) == 1


def test_other_changes_and_strategies() -> None:
    old = _asts(_claim("data0", "1Gi", "allow-volume-expansion"))
    changed = copy.deepcopy(old)
    changed["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] = ["ReadWriteMany"]
    assert _messages(changed, old, {}) == [
        'spec.volumeClaimTemplates[data0]: Invalid value: "": '
        "volumeClaimTemplate can not be modified when OnRollingUpdate"
    ]
    # OnPVCDelete (kruise's default) is not checked, nor is a change without facts (gate off)
    on_delete = _asts(_claim("data0", "1Gi", "disallow-volume-expansion"), strategy="OnPVCDelete")
    assert rules.needs("StatefulSet", _resized(on_delete, "2Gi"), on_delete).nothing
    fixed = rules.default("StatefulSet", _asts(_claim("data0", "1Gi", "disallow-volume-expansion")))
    assert rules.validate("StatefulSet", _resized(fixed, "2Gi"), fixed) == []


def test_the_same_size_written_in_other_units_is_no_resize() -> None:
    # isPVCResize compares resource.Quantity values (Cmp): 1Gi and 1024Mi are both 1073741824
    # bytes, so kruise checks nothing, even on a class that cannot expand; 1025Mi is a resize
    old = _asts(_claim("data0", "1Gi", "disallow-volume-expansion"))
    same = _resized(old, "1024Mi")
    assert rules.needs("StatefulSet", same, old).storage_classes == ()
    assert _messages(same, old, {"disallow-volume-expansion": FIXED}) == []
    bigger = _resized(old, "1025Mi")
    assert rules.needs("StatefulSet", bigger, old).storage_classes == ("disallow-volume-expansion",)
    assert _messages(bigger, old, {"disallow-volume-expansion": FIXED}) == [
        "spec.volumeClaimTemplates[data0].spec.resources.requests.storage: Forbidden: "
        "storage class disallow-volume-expansion does not support volume expansion"
    ]
