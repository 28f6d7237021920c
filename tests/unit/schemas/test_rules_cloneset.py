"""CloneSet's shared rules against kruise v1.9.1's own cases and messages.

Cases follow ``pkg/webhook/cloneset/validating/validation_test.go`` (its success cases must pass, its
error cases must fail on the field it names); the expected message texts are copied from
``validation.go`` and apimachinery's ``field.Error`` / ``ErrorType.String`` (v0.32), never from the
function under test. Defaults are checked against what kruise-manager stored (tests/golden/kruise).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from schemas.kruise import rules
from schemas.kruise.rules import Facts, FieldError, aggregate_message

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "kruise" / "cloneset"
LABELS = {"a": "b"}


def _template(image: str = "image", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"labels": dict(LABELS if labels is None else labels)},
        "spec": {
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "containers": [
                {
                    "name": "abc",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "terminationMessagePolicy": "File",
                }
            ],
        },
    }


def _cloneset(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "replicas": 1,
        "selector": {"matchLabels": dict(LABELS)},
        "template": _template(),
        "updateStrategy": {"type": "InPlaceIfPossible", "partition": 2, "maxUnavailable": 1},
    }
    body.update(spec)
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "CloneSet",
        "metadata": {"name": "cs", "namespace": "default", "uid": "uid-1"},
        "spec": body,
    }


def _strategy(**fields: Any) -> dict[str, Any]:
    return {"type": "InPlaceIfPossible", "partition": 2, **fields}


def _fields(errors: list[FieldError]) -> list[str]:
    return [e.field for e in errors]


SUCCESS = {
    "podsToDelete an owned pod": _cloneset(scaleStrategy={"podsToDelete": ["p0"]}),
    "maxSurge 1": _cloneset(updateStrategy=_strategy(maxUnavailable=1, maxSurge=1)),
    "maxUnavailable 0 with maxSurge 1": _cloneset(updateStrategy=_strategy(maxUnavailable=0, maxSurge=1)),
    # kruise accepts a percentage above 100% (it scales to more than replicas)
    "maxUnavailable 120%": _cloneset(updateStrategy=_strategy(maxUnavailable="120%")),
    "weight priority": _cloneset(
        updateStrategy=_strategy(
            maxUnavailable="120%",
            priorityStrategy={
                "weightPriority": [{"weight": 20, "matchSelector": {"matchLabels": {"key": "foo"}}}]
            },
        )
    ),
    "replicas 0 with nothing unavailable": _cloneset(replicas=0, updateStrategy=_strategy(maxUnavailable=0)),
}


@pytest.mark.parametrize("name", SUCCESS)
def test_kruise_success_cases_pass(name: str) -> None:
    assert rules.validate("CloneSet", SUCCESS[name]) == []


def test_every_allowed_field_may_change_on_update() -> None:
    old = _cloneset(
        replicas=2,
        template=_template("image1"),
        revisionHistoryLimit=2,
        scaleStrategy={"podsToDelete": ["p1"]},
        volumeClaimTemplates=[
            {"metadata": {"name": "foo"}, "spec": {"resources": {"requests": {"storage": "60Gi"}}}}
        ],
        updateStrategy={"type": "ReCreate", "partition": 2, "maxUnavailable": 1},
        minReadySeconds=5,
        progressDeadlineSeconds=10,
    )
    new = _cloneset(
        replicas=1,
        template=_template("image"),
        revisionHistoryLimit=1,
        scaleStrategy={"podsToDelete": ["p0"]},
        volumeClaimTemplates=[
            {"metadata": {"name": "foo"}, "spec": {"resources": {"requests": {"storage": "30Gi"}}}}
        ],
        updateStrategy={"type": "InPlaceOnly", "partition": 2, "maxUnavailable": 1},
        minReadySeconds=2**31 - 1,
        progressDeadlineSeconds=2**31 - 1,
    )
    assert rules.validate("CloneSet", new, old) == []


#: name -> (object, old object or None, the field kruise's test expects, the full text kruise writes)
ERRORS: dict[str, tuple[dict[str, Any], dict[str, Any] | None, str, str]] = {
    "negative replicas": (
        _cloneset(replicas=-1),
        None,
        "spec.replicas",
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    ),
    "selector not matching the template": (
        _cloneset(selector={"matchLabels": {"a": "b", "c": "d"}}),
        None,
        "spec.template.metadata.labels",
        'spec.template.metadata.labels: Invalid value: map[string]string{"a":"b"}: '
        "`selector` does not match template `labels`",
    ),
    "empty update type": (
        _cloneset(updateStrategy={"type": "", "partition": 2, "maxUnavailable": 1}),
        None,
        "spec.updateStrategy.type",
        'spec.updateStrategy.type: Invalid value: "": '
        "must be 'ReCreate', InPlaceIfPossible or 'InPlaceOnly'",
    ),
    "negative partition": (
        _cloneset(updateStrategy={"type": "InPlaceIfPossible", "partition": -1, "maxUnavailable": 1}),
        None,
        "spec.updateStrategy.partition",
        "spec.updateStrategy.partition: Invalid value: -1: must be greater than or equal to 0",
    ),
    "maxUnavailable 0 and no maxSurge": (
        _cloneset(updateStrategy=_strategy(maxUnavailable=0)),
        None,
        "spec.updateStrategy.maxUnavailable",
        'spec.updateStrategy.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: '
        "maxUnavailable and maxSurge should not both be less than 1",
    ),
    "maxUnavailable 0 and maxSurge 0": (
        _cloneset(updateStrategy=_strategy(maxUnavailable=0, maxSurge=0)),
        None,
        "spec.updateStrategy.maxUnavailable",
        'spec.updateStrategy.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: '
        "maxUnavailable and maxSurge should not both be less than 1",
    ),
    "duplicated podsToDelete": (
        _cloneset(scaleStrategy={"podsToDelete": ["p0", "p0"]}),
        None,
        "spec.scaleStrategy.podsToDelete",
        'spec.scaleStrategy.podsToDelete: Invalid value: []string{"p0", "p0"}: duplicated items [p0]',
    ),
    "InPlaceOnly changes more than images": (
        _cloneset(updateStrategy={"type": "InPlaceOnly", "partition": 2, "maxUnavailable": 1}),
        _cloneset(
            template={
                **_template("image2"),
                "spec": {
                    **_template("image2")["spec"],
                    "containers": [
                        {**_template("image2")["spec"]["containers"][0], "imagePullPolicy": "Always"}
                    ],
                },
            },
            updateStrategy={"type": "InPlaceOnly", "partition": 2, "maxUnavailable": 1},
        ),
        "spec",
        "",
    ),
    "maxSurge not a percentage": (
        _cloneset(updateStrategy={"type": "ReCreate", "partition": 2, "maxSurge": "5", "maxUnavailable": 2}),
        None,
        "spec.updateStrategy.maxSurge",
        'spec.updateStrategy.maxSurge: Invalid value: "5": '
        "failed GetScaledValueFromIntOrPercent for maxSurge: invalid type: string is not a percentage",
    ),
    "maxUnavailable not a percentage": (
        _cloneset(updateStrategy={"type": "ReCreate", "partition": 2, "maxSurge": 2, "maxUnavailable": "5"}),
        None,
        "spec.updateStrategy.maxUnavailable",
        'spec.updateStrategy.maxUnavailable: Invalid value: "5": '
        "failed GetScaledValueFromIntOrPercent for maxUnavailable: invalid type: string is not a percentage",
    ),
    "negative progressDeadlineSeconds": (
        _cloneset(progressDeadlineSeconds=-1),
        None,
        "spec.progressDeadlineSeconds",
        "[spec.progressDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0, "
        "spec.progressDeadlineSeconds: Invalid value: -1: must be greater than minReadySeconds]",
    ),
    "progressDeadlineSeconds equal to minReadySeconds": (
        _cloneset(progressDeadlineSeconds=10, minReadySeconds=10),
        _cloneset(progressDeadlineSeconds=10, minReadySeconds=5),
        "spec.progressDeadlineSeconds",
        "spec.progressDeadlineSeconds: Invalid value: 10: must be greater than minReadySeconds",
    ),
    "a selector change": (
        _cloneset(),
        _cloneset(
            selector={"matchLabels": {"app": "webserver"}}, template=_template(labels={"app": "webserver"})
        ),
        "spec",
        "spec: Forbidden: updates to cloneset spec for fields other than 'replicas', 'template', "
        "'lifecycle', 'scaleStrategy', 'updateStrategy', 'minReadySeconds', 'progressDeadlineSeconds', "
        "'volumeClaimTemplates' and 'revisionHistoryLimit' are forbidden",
    ),
    "restartPolicy Never": (
        _cloneset(template={**_template(), "spec": {**_template()["spec"], "restartPolicy": "Never"}}),
        None,
        "spec.template.spec.restartPolicy",
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
    ),
    "activeDeadlineSeconds": (
        _cloneset(template={**_template(), "spec": {**_template()["spec"], "activeDeadlineSeconds": 5}}),
        None,
        "spec.template.spec.activeDeadlineSeconds",
        "spec.template.spec.activeDeadlineSeconds: Forbidden: "
        "activeDeadlineSeconds in cloneset is not Supported",
    ),
    "InPlaceOnly with maxSurge": (
        _cloneset(updateStrategy={"type": "InPlaceOnly", "partition": 0, "maxUnavailable": 1, "maxSurge": 1}),
        None,
        "spec.updateStrategy.maxSurge",
        'spec.updateStrategy.maxSurge: Invalid value: "1": '
        "can not use maxSurge with strategy type InPlaceOnly",
    ),
    "both priorities": (
        _cloneset(
            updateStrategy=_strategy(
                maxUnavailable=1,
                priorityStrategy={
                    "weightPriority": [{"weight": 20, "matchSelector": {"matchLabels": {"k": "v"}}}],
                    "orderPriority": [{"orderedKey": "k"}],
                },
            )
        ),
        None,
        "spec.updateStrategy.priorityStrategy",
        "spec.updateStrategy.priorityStrategy: Required value: "
        "only one of weightPriority and orderPriority can be used",
    ),
    "duplicated scatter term": (
        _cloneset(
            updateStrategy=_strategy(maxUnavailable=1, scatterStrategy=[{"key": "k", "value": "v"}] * 2)
        ),
        None,
        "spec.updateStrategy.scatterStrategy",
        "spec.updateStrategy.scatterStrategy: Required value: duplicated key=k value=v",
    ),
    "empty selector": (
        _cloneset(selector={}),
        None,
        "spec.selector",
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for cloneset",
    ),
    "selector operator In without values": (
        _cloneset(selector={"matchExpressions": [{"key": "a", "operator": "In"}]}),
        None,
        "spec.selector.matchExpressions[0].values",
        "",
    ),
}


@pytest.mark.parametrize("name", ERRORS)
def test_kruise_error_cases_fail_on_kruise_field(name: str) -> None:
    obj, old, field, text = ERRORS[name]
    errors = rules.validate("CloneSet", obj, old)
    assert field in _fields(errors), errors
    if text:
        assert aggregate_message(errors) == text


def test_in_place_only_names_the_first_non_image_change() -> None:
    old = _cloneset(updateStrategy={"type": "InPlaceOnly", "partition": 0, "maxUnavailable": 1})
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "image2"
    assert rules.validate("CloneSet", new, old) == []
    new["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    # clonesetcore.ValidateCloneSetUpdate: "only allowed to update images in spec for %s, but found %s %s"
    assert aggregate_message(rules.validate("CloneSet", new, old)) == (
        "spec: Forbidden: only allowed to update images in spec for InPlaceOnly, "
        "but found add /containers/0/env"
    )


def test_pods_to_delete_lookups() -> None:
    obj = _cloneset(scaleStrategy={"podsToDelete": ["p0", "p1", "p2", "p3"]})
    old = _cloneset(scaleStrategy={"podsToDelete": ["p3"]})
    assert rules.needs("CloneSet", obj, old).pods == ("p0", "p1", "p2")
    owned = {"metadata": {"ownerReferences": [{"uid": "uid-1", "controller": True}]}}
    facts = Facts(
        pods={
            "p0": owned,
            "p1": {"metadata": {"ownerReferences": [{"uid": "other", "controller": True}]}},
            "p2": {"metadata": {**owned["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}},
        }
    )
    # kruise validateScaleStrategy: "find pod %s owner is not this CloneSet",
    # "find pod %s already terminating"
    assert [str(e) for e in rules.validate("CloneSet", obj, old, facts)] == [
        'spec.scaleStrategy.podsToDelete: Invalid value: "p1": find pod p1 owner is not this CloneSet',
        'spec.scaleStrategy.podsToDelete: Invalid value: "p2": find pod p2 already terminating',
    ]
    missing = rules.validate("CloneSet", _cloneset(scaleStrategy={"podsToDelete": ["p9"]}), None, Facts())
    assert [e.detail for e in missing] == ['find pod p9 failed: pods "p9" not found']


@pytest.mark.parametrize("name", ["claims", "multi"])
def test_defaults_match_what_kruise_manager_stored(name: str) -> None:
    recorded = json.loads((GOLDEN / f"{name}.json").read_text())
    defaulted = rules.default("CloneSet", recorded["submitted"])
    assert defaulted["spec"] == recorded["created"]["stored"]["spec"]
    assert rules.validate("CloneSet", defaulted) == []


def test_defaults_leave_the_input_alone_and_are_idempotent() -> None:
    obj = {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "spec": {"template": _template()}}
    before = copy.deepcopy(obj)
    once = rules.default("CloneSet", obj)
    assert obj == before
    assert rules.default("CloneSet", once) == once
    # SetDefaultsCloneSet: replicas 1, revisionHistoryLimit 10, ReCreate, partition 0, 20%, maxSurge 0
    assert once["spec"]["replicas"] == 1
    assert once["spec"]["revisionHistoryLimit"] == 10
    assert once["spec"]["updateStrategy"] == {
        "type": "ReCreate",
        "partition": 0,
        "maxUnavailable": "20%",
        "maxSurge": 0,
    }


def test_template_defaults_only_when_the_template_changes() -> None:
    # cloneset mutating handler: injectTemplateDefaults only on create or when the template changed
    old = _cloneset()
    new = _cloneset(replicas=3)
    assert "schedulerName" not in rules.default("CloneSet", new, old)["spec"]["template"]["spec"]
    changed = _cloneset(template=_template("image9"))
    assert (
        rules.default("CloneSet", changed, old)["spec"]["template"]["spec"]["schedulerName"]
        == "default-scheduler"
    )


def test_in_place_types_get_an_empty_in_place_strategy() -> None:
    for kind, expected in (("InPlaceIfPossible", {}), ("InPlaceOnly", {}), ("ReCreate", None)):
        obj = _cloneset(updateStrategy={"type": kind})
        assert (
            rules.default("CloneSet", obj)["spec"]["updateStrategy"].get("inPlaceUpdateStrategy") == expected
        )


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="no rules for kind 'Deployment'"):
        rules.validate("Deployment", {})
