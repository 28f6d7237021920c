"""Advanced StatefulSet's shared rules against kruise v1.9.1's code and messages.

Expected texts are written out by hand from kruise's ``pkg/webhook/statefulset/validating/
statefulset_validation.go`` (``V:`` line numbers below), its ``statefulset_create_update_handler.go``
(``H:``), ``apis/apps/defaults/v1beta1.go`` (``SetDefaultsStatefulSet``, lines 33-97) and
apimachinery v0.32's ``field.Error`` rendering; never from the function under test.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from schemas.kruise import rules
from schemas.kruise.rules import aggregate_message

LABELS = {"app": "web"}


def _asts(version: str = "v1beta1", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "replicas": 3,
        "selector": {"matchLabels": dict(LABELS)},
        "template": {
            "metadata": {"labels": dict(LABELS)},
            "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]},
        },
    }
    body.update(spec)
    return {
        "apiVersion": f"apps.kruise.io/{version}",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": body,
    }


def _messages(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    defaulted = rules.default("StatefulSet", obj, old)
    return [str(e) for e in rules.validate("StatefulSet", defaulted, old)]


def test_defaults_are_kruise_set_defaults_statefulset() -> None:
    obj = _asts(replicas=None)
    del obj["spec"]["replicas"]
    spec = rules.default("StatefulSet", obj)["spec"]
    assert spec["replicas"] == 1  # v1beta1.go:80-82
    assert spec["revisionHistoryLimit"] == 10  # v1beta1.go:83-85
    assert spec["podManagementPolicy"] == "OrderedReady"  # v1beta1.go:34-36
    assert spec["updateStrategy"] == {  # v1beta1.go:38-60
        "type": "RollingUpdate",
        "rollingUpdate": {
            "partition": 0,
            "maxUnavailable": 1,
            "podUpdatePolicy": "ReCreate",
            "minReadySeconds": 0,
        },
    }
    # v1beta1.go:62-72 (StatefulSetAutoDeletePVC is on by default, kruise_features.go:170)
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    pod = spec["template"]["spec"]  # SetDefaultPodSpec on a new template
    assert pod["restartPolicy"] == "Always"
    assert pod["dnsPolicy"] == "ClusterFirst"
    assert pod["containers"][0]["imagePullPolicy"] == "Always"
    assert obj["spec"].get("podManagementPolicy") is None, "the input is not changed"


def test_defaults_keep_what_the_user_set_and_leave_on_delete_without_rolling_update() -> None:
    spec = rules.default(
        "StatefulSet", _asts(updateStrategy={"type": "OnDelete"}, podManagementPolicy="Parallel")
    )["spec"]
    assert spec["updateStrategy"] == {"type": "OnDelete"}
    assert spec["podManagementPolicy"] == "Parallel"


def test_unchanged_template_is_not_defaulted_again_on_update() -> None:
    stored = _asts()
    old = copy.deepcopy(stored)
    assert "restartPolicy" not in rules.default("StatefulSet", stored, old)["spec"]["template"]["spec"]


@pytest.mark.parametrize("version", ["v1beta1", "v1alpha1"])
def test_a_valid_statefulset_passes(version: str) -> None:
    assert _messages(_asts(version)) == []
    parallel = _asts(
        version,
        podManagementPolicy="Parallel",
        reserveOrdinals=[1, "3-5"],
        updateStrategy={"rollingUpdate": {"maxUnavailable": "50%"}},
    )
    assert _messages(parallel) == []


CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "negative replicas",
        {"replicas": -1},
        ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"],
    ),
    (
        "pod management policy",  # V:41
        {"podManagementPolicy": "Random"},
        ["spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'"],
    ),
    (
        "negative reserve ordinal",  # V:62
        {"reserveOrdinals": [-1]},
        [
            'spec: Invalid value: []intstr.IntOrString{intstr.IntOrString{Type:0, IntVal:-1, StrVal:""}}: '
            "0 th reserve ordinal is negative: -1"
        ],
    ),
    (
        "reserve ordinal range",  # V:53 and V:57
        {"reserveOrdinals": ["5-3"]},
        [
            'spec: Invalid value: []intstr.IntOrString{intstr.IntOrString{Type:1, IntVal:0, StrVal:"5-3"}}: '
            "0 th reserve ordinal is invalid: 5-3, err = invalid range 5-3"
        ],
    ),
    (
        "maxUnavailable 2 needs Parallel",  # V:300
        {"updateStrategy": {"rollingUpdate": {"maxUnavailable": 2}}},
        [
            "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: "
            'intstr.IntOrString{Type:0, IntVal:2, StrVal:""}: '
            "can only work with Parallel PodManagementPolicyType"
        ],
    ),
    (
        "maxUnavailable 0",  # V:296 (the bad value is the scaled int)
        {"podManagementPolicy": "Parallel", "updateStrategy": {"rollingUpdate": {"maxUnavailable": 0}}},
        ["spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: 0: should not be less than 1"],
    ),
    (
        "maxUnavailable not a percent",  # apps validation ValidatePositiveIntOrPercent + V:294
        {"podManagementPolicy": "Parallel", "updateStrategy": {"rollingUpdate": {"maxUnavailable": "x%"}}},
        [
            "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: "
            'intstr.IntOrString{Type:1, IntVal:0, StrVal:"x%"}: '
            "a valid percent string must be a numeric string "
            "followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
            "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid "
            "value: 0: getValueFromIntOrPercent error: "
            'invalid value for IntOrString: invalid value "x%": strconv.Atoi: parsing "x": invalid syntax',
        ],
    ),
    (
        "minReadySeconds too long",  # V:148
        {"updateStrategy": {"rollingUpdate": {"minReadySeconds": 301}}},
        [
            "spec.updateStrategy.rollingUpdate.minReadySeconds: Invalid "
            "value: 301: must be no more than 300 seconds"
        ],
    ),
    (
        "negative partition",
        {"updateStrategy": {"rollingUpdate": {"partition": -2}}},
        [
            "spec.updateStrategy.rollingUpdate.partition: Invalid value: "
            "-2: must be greater than or equal to 0"
        ],
    ),
    (
        "update strategy type",  # V:182
        {"updateStrategy": {"type": "Blue"}},
        [
            'spec.updateStrategy: Invalid value: v1beta1.StatefulSetUpdateStrategy{Type:"Blue", '
            ""
            "RollingUpdate:(*v1beta1.RollingUpdateStatefulSetStrategy)(nil)}: "
            "must be 'RollingUpdate' or 'OnDelete'"
        ],
    ),
    (
        "pod update policy",  # V:283
        {"updateStrategy": {"rollingUpdate": {"podUpdatePolicy": "Swap"}}},
        [
            'spec.updateStrategy.rollingUpdate.podUpdatePolicy: Invalid value: "Swap": '
            "must be 'ReCreate', InPlaceIfPossible or 'InPlaceOnly'"
        ],
    ),
    (
        "in-place without the readiness gate",  # V:275
        {"updateStrategy": {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible"}}},
        [
            "spec.template.spec.readinessGates: Invalid value: []v1.PodReadinessGate(nil): "
            "must contains InPlaceUpdateReady when podUpdatePolicy is InPlaceIfPossible"
        ],
    ),
    (
        "unordered update without Parallel",  # V:121
        {"updateStrategy": {"rollingUpdate": {"unorderedUpdate": {}}}},
        [
            "spec.updateStrategy.rollingUpdate.unorderedUpdate: Required value: "
            "unorderedUpdate can only work with Parallel PodManagementPolicyType"
        ],
    ),
    (
        "retention policy",
        {"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Keep"}},
        [
            'spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value: "Keep": '
            'supported values: "Retain", "Delete"'
        ],
    ),
    (
        "empty selector",  # V:197
        {"selector": {}},
        [
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for statefulset"
        ],
    ),
    (
        "selector does not match the template",  # apps validation ValidatePodTemplateSpecForStatefulSet
        {"selector": {"matchLabels": {"app": "db"}}},
        [
            'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: '
            "`selector` does not match template `labels`"
        ],
    ),
    (
        "restart policy",
        {"template": {"metadata": {"labels": LABELS}, "spec": {"restartPolicy": "Never", "containers": []}}},
        ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'],
    ),
    (
        "active deadline",  # V:228
        {
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {"activeDeadlineSeconds": 5, "containers": []},
            }
        },
        [
            "spec.template.spec.activeDeadlineSeconds: Forbidden: "
            "activeDeadlineSeconds in StatefulSet is not Supported"
        ],
    ),
]


@pytest.mark.parametrize(("spec", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_create_is_refused_with_kruises_message(spec: dict[str, Any], expected: list[str]) -> None:
    assert _messages(_asts(**spec)) == expected


def test_on_delete_with_rolling_update_is_refused() -> None:  # V:109
    obj = _asts(updateStrategy={"type": "OnDelete", "rollingUpdate": {"partition": 1}})
    assert _messages(obj) == [
        "spec.updateStrategy.rollingUpdate: Invalid value: v1beta1.RollingUpdateStatefulSetStrategy{...}: "
        "only allowed for updateStrategy 'RollingUpdate'"
    ]


def test_update_may_change_only_kruises_fields() -> None:  # V:342
    old = rules.default("StatefulSet", _asts())
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 5
    scaled["spec"]["reserveOrdinals"] = [0]
    assert _messages(scaled, old) == []
    renamed = copy.deepcopy(old)
    renamed["spec"]["serviceName"] = "other"
    assert _messages(renamed, old) == [
        "spec: Forbidden: updates to statefulset spec for fields "
        "other than 'replicas', 'ordinals', 'template', "
        "'reserveOrdinals', 'lifecycle', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy', "
        "`volumeClaimTemplates`, `VolumeClaimUpdateStrategy` and 'updateStrategy' are forbidden"
    ]
    negative = copy.deepcopy(old)
    negative["spec"]["replicas"] = -1
    # validateStatefulSet and ValidateStatefulSetUpdate both check replicas: the aggregate shows it once
    assert aggregate_message(rules.validate("StatefulSet", negative, old)) == (
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    )


def test_in_place_only_allows_image_changes_only() -> None:  # H:88
    gates = [{"conditionType": "InPlaceUpdateReady"}]
    old = rules.default(
        "StatefulSet",
        _asts(
            updateStrategy={"rollingUpdate": {"podUpdatePolicy": "InPlaceOnly"}},
            template={
                "metadata": {"labels": LABELS},
                "spec": {"readinessGates": gates, "containers": [{"name": "main", "image": "nginx:1.25"}]},
            },
        ),
    )
    image = copy.deepcopy(old)
    image["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    assert _messages(image, old) == []
    env = copy.deepcopy(old)
    env["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    assert aggregate_message(rules.validate("StatefulSet", rules.default("StatefulSet", env, old), old)) == (
        "invalid template modified with InPlaceOnly strategy: add /containers/0/env, "
        "currently only image update is allowed for InPlaceOnly"
    )
