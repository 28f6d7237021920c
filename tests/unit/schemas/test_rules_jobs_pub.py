"""BroadcastJob, AdvancedCronJob and PodUnavailableBudget shared rules against kruise v1.9.1.

Expected texts are written out by hand from kruise's code (file:line cited per case; ``BJ`` =
``pkg/webhook/broadcastjob/validating/broadcastjob_create_update_handler.go``, ``ACJ`` =
``pkg/webhook/advancedcronjob/validating/advancedcronjob_create_update_handler.go``, ``PUB`` =
``pkg/webhook/podunavailablebudget/validating/pub_create_update_handler.go``, ``D`` =
``apis/apps/defaults/v1beta1.go``) and apimachinery v0.32's ``field.Error`` rendering. The two
schedule texts of ``robfig/cron`` v3's ``parser.go`` ("empty spec string", "expected exactly 5 fields,
found N: [...]") are from that library's source, which is not in this machine's module cache.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from schemas.kruise import rules


def _messages(kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [str(e) for e in rules.validate(kind, rules.default(kind, obj, old), old)]


def _bcj(name: str = "bcj", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}
    }
    body.update(spec)
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "BroadcastJob",
        "metadata": {"name": name},
        "spec": body,
    }


def test_broadcastjob_defaults() -> None:  # D:100-116
    spec = rules.default("BroadcastJob", _bcj())["spec"]
    assert spec["completionPolicy"] == {"type": "Always"}
    assert spec["parallelism"] == 2147483647
    assert spec["failurePolicy"] == {"type": "FailFast"}
    assert spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    assert _messages("BroadcastJob", _bcj()) == []


BCJ_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "Never with ttl and deadline (BJ:86, BJ:91)",
        {"completionPolicy": {"type": "Never", "ttlSecondsAfterFinished": 30, "activeDeadlineSeconds": 60}},
        [
            "spec.completionPolicy.ttlSecondsAfterFinished: Invalid value: 30: "
            "ttlSecondsAfterFinished can just work with Always CompletionPolicyType",
            "spec.completionPolicy.activeDeadlineSeconds: Invalid value: 60: "
            "activeDeadlineSeconds can just work with Always CompletionPolicyType",
        ],
    ),
    (
        "restartPolicy defaulted to Always (BJ:104)",
        {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
        [
            'spec.template.spec.restartPolicy: Invalid value: "Always": '
            "pod restartPolicy can only be Never or OnFailure"
        ],
    ),
    (
        "preset job label (BJ:110)",
        {
            "template": {
                "metadata": {"labels": {"broadcastjob-name": "x"}},
                "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]},
            }
        },
        [
            'spec.template.metadata.labels: Invalid value: map[string]string{"broadcastjob-name":"x"}: '
            '"broadcastjob-name" and "broadcastjob-controller-uid" are not allowed to preset in pod labels'
        ],
    ),
]


@pytest.mark.parametrize(
    ("spec", "expected"), [(c[1], c[2]) for c in BCJ_CASES], ids=[c[0] for c in BCJ_CASES]
)
def test_broadcastjob_refusals(spec: dict[str, Any], expected: list[str]) -> None:
    assert _messages("BroadcastJob", _bcj(**spec)) == expected


def test_broadcastjob_name() -> None:  # BJ:116-124 through ValidateObjectMeta
    assert _messages("BroadcastJob", _bcj(name="a.b")) == [
        'metadata.name: Invalid value: "a.b": BroadcastJob name must consist of alphanumeric characters '
        "or '-' (e.g. 'example-com', regex used for validation is '^[a-zA-Z0-9\\-]+$')"
    ]


def _acj(name: str = "cron", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schedule": "*/5 * * * *",
        "template": {
            "broadcastJobTemplate": {
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c"}]}}}
            }
        },
    }
    body.update(spec)
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "AdvancedCronJob",
        "metadata": {"name": name},
        "spec": body,
    }


def test_advancedcronjob_defaults() -> None:  # D:119-164
    spec = rules.default("AdvancedCronJob", _acj())["spec"]
    assert spec["concurrencyPolicy"] == "Allow"
    assert spec["paused"] is False
    assert spec["successfulJobsHistoryLimit"] == 3
    assert spec["failedJobsHistoryLimit"] == 1
    pod = spec["template"]["broadcastJobTemplate"]["spec"]["template"]["spec"]
    assert pod["schedulerName"] == "default-scheduler"
    pull = rules.default(
        "AdvancedCronJob", _acj(template={"imageListPullJobTemplate": {"spec": {"images": ["nginx"]}}})
    )["spec"]
    assert pull["concurrencyPolicy"] == "Replace"
    assert pull["template"]["imageListPullJobTemplate"]["spec"] == {
        "images": ["nginx"],
        "completionPolicy": {"type": "Always"},
        "pullPolicy": {"timeoutSeconds": 600, "backoffLimit": 3},
        "imagePullPolicy": "IfNotPresent",
    }
    assert _messages("AdvancedCronJob", _acj()) == []


ACJ_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "empty schedule (ACJ:94 and robfig's ParseStandard)",
        {"schedule": ""},
        [
            'spec.schedule: Invalid value: "": schedule cannot be empty, please provide valid cron schedule.',
            'spec.schedule: Invalid value: "": empty spec string',
        ],
    ),
    (
        "six fields (robfig's ParseStandard)",
        {"schedule": "0 * * * * *"},
        ['spec.schedule: Invalid value: "0 * * * * *": expected exactly 5 fields, found 6: [0 * * * * *]'],
    ),
    (
        "TZ with timeZone (ACJ:104)",
        {"schedule": "CRON_TZ=UTC 0 * * * *", "timeZone": "Asia/Shanghai"},
        [
            'spec.schedule: Invalid value: "CRON_TZ=UTC 0 * * * *": '
            "cannot use both timeZone field and TZ or CRON_TZ in schedule"
        ],
    ),
    (
        "no template (ACJ:174)",
        {"template": {}},
        [
            "spec.template: Forbidden: spec must have one template, "
            "either JobTemplate or BroadcastJobTemplate "
            "or ImageListPullJobTemplate should be provided"
        ],
    ),
    (
        "negative history limit (ValidateNonnegativeField)",
        {"failedJobsHistoryLimit": -1},
        ["spec.failedJobsHistoryLimit: Invalid value: -1: must be greater than or equal to 0"],
    ),
    (
        "Local time zone (ACJ:139)",
        {"timeZone": "Local"},
        [
            'spec.timeZone: Invalid value: "Local": timeZone must be an explicit time zone as defined in '
            "https://www.iana.org/time-zones"
        ],
    ),
    (
        "unknown time zone (time.LoadLocation)",
        {"timeZone": "Mars/Base"},
        ['spec.timeZone: Invalid value: "Mars/Base": unknown time zone Mars/Base'],
    ),
    (
        "image list pull with Allow (ACJ:167) and no images (ACJ:231)",
        {"concurrencyPolicy": "Allow", "template": {"imageListPullJobTemplate": {"spec": {}}}},
        [
            'spec.spec.concurrencyPolicy: Invalid value: "Allow": '
            "concurrencyPolicy should be Replace or Forbid, but current value is: Allow",
            "spec.template.imageListPullJobTemplate.spec.images: Invalid value: []string(nil): "
            "image can not be empty",
        ],
    ),
]


@pytest.mark.parametrize(
    ("spec", "expected"), [(c[1], c[2]) for c in ACJ_CASES], ids=[c[0] for c in ACJ_CASES]
)
def test_advancedcronjob_refusals(spec: dict[str, Any], expected: list[str]) -> None:
    assert _messages("AdvancedCronJob", _acj(**spec)) == expected


def test_advancedcronjob_update_may_change_only_kruises_fields() -> None:  # ACJ:289-307
    old = rules.default("AdvancedCronJob", _acj())
    rescheduled = copy.deepcopy(old)
    rescheduled["spec"]["schedule"] = "0 0 * * *"
    rescheduled["spec"]["paused"] = True
    assert _messages("AdvancedCronJob", rescheduled, old) == []
    retemplated = copy.deepcopy(old)
    retemplated["spec"]["template"]["broadcastJobTemplate"]["spec"]["parallelism"] = 2
    assert _messages("AdvancedCronJob", retemplated, old) == [
        "spec: Forbidden: updates to advancedcronjob spec for fields other than 'imageListPullJobTemplate', "
        "'schedule', 'concurrencyPolicy', 'successfulJobsHistoryLimit', 'failedJobsHistoryLimit', "
        "'startingDeadlineSeconds', 'timeZone' and 'paused' are forbidden"
    ]


def _pub(annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"selector": {"matchLabels": {"app": "web"}}, "maxUnavailable": 1}
    body.update(spec)
    for key in [k for k, v in body.items() if v is None]:
        del body[key]
    metadata: dict[str, Any] = {"name": "pub", "annotations": annotations or {}}
    return {
        "apiVersion": "policy.kruise.io/v1alpha1",
        "kind": "PodUnavailableBudget",
        "metadata": metadata,
        "spec": body,
    }


PUB_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "no target, no budget (PUB:133, PUB:158)",
        {"selector": None, "maxUnavailable": None},
        [
            "spec.selector, targetRef: Required value: "
            "no selector or targetRef defined in PodUnavailableBudget",
            "spec.maxUnavailable, minAvailable: Required value: "
            "no maxUnavailable or minAvailable defined in PodUnavailableBudget",
        ],
    ),
    (
        "both targets (PUB:135)",
        {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}},
        ["spec.selector, targetRef: Required value: selector and targetRef are mutually exclusive"],
    ),
    (
        "incomplete targetRef (PUB:139)",
        {"selector": None, "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment"}},
        [
            'spec.TargetReference: Invalid value: v1alpha1.TargetReference{APIVersion:"apps/v1", '
            'Kind:"Deployment", Name:""}: empty TargetReference is not valid for PodUnavailableBudget.'
        ],
    ),
    (
        "empty selector (PUB:147)",
        {"selector": {}},
        [
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: "
            "empty selector is not valid for PodUnavailableBudget."
        ],
    ),
    (
        "both budgets (PUB:160)",
        {"minAvailable": 1},
        [
            "spec.maxUnavailable, minAvailable: Required value: "
            "maxUnavailable and minAvailable are mutually exclusive"
        ],
    ),
    (
        "over 100% (apps validation IsNotMoreThan100Percent)",
        {"maxUnavailable": "150%"},
        [
            'spec.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"150%"}: '
            "must not be greater than 100%"
        ],
    ),
    (
        "negative minAvailable (ValidatePositiveIntOrPercent)",
        {"maxUnavailable": None, "minAvailable": -1},
        ["spec.minAvailable: Invalid value: -1: must be greater than or equal to 0"],
    ),
]


@pytest.mark.parametrize(
    ("spec", "expected"), [(c[1], c[2]) for c in PUB_CASES], ids=[c[0] for c in PUB_CASES]
)
def test_pub_refusals(spec: dict[str, Any], expected: list[str]) -> None:
    assert _messages("PodUnavailableBudget", _pub(**spec)) == expected


def test_pub_annotations_and_immutable_target() -> None:  # PUB:93, PUB:123
    bad = _pub({"kruise.io/pub-protect-operations": "DELETE,KILL"})
    assert _messages("PodUnavailableBudget", bad) == [
        "metadata: Internal error: annotation[kruise.io/pub-protect-operations] is invalid"
    ]
    old = _pub()
    moved = _pub(selector={"matchLabels": {"app": "db"}})
    assert _messages("PodUnavailableBudget", moved, old) == [
        "spec.selector, targetRef: Required value: selector and targetRef cannot be modified"
    ]
    assert rules.default("PodUnavailableBudget", old) == old, "kruise does not default a PUB"


# --- the PUB conflict check (PUB:109-115, validatePubConflict PUB:169-195; util/selector.go:205) ---
def _budget(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policy.kruise.io/v1alpha1",
        "kind": "PodUnavailableBudget",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"maxUnavailable": 1, **spec},
    }


def _conflicts(obj: dict[str, Any], *others: dict[str, Any]) -> list[str]:
    facts = rules.Facts(pubs=list(others))
    assert rules.needs("PodUnavailableBudget", obj).pubs
    return [str(e) for e in rules.validate("PodUnavailableBudget", obj, None, facts)]


WEB = {"matchLabels": {"app": "web"}}
REF = {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": "web"}

PUB_CONFLICTS: list[tuple[str, dict[str, Any], dict[str, Any], list[str]]] = [
    (
        "same targetRef, other version (PUB:183)",
        {"targetRef": REF},
        {"targetRef": {**REF, "apiVersion": "apps.kruise.io/v1beta1"}},
        [
            "spec.targetReference: Invalid value: "
            'v1alpha1.TargetReference{APIVersion:"apps.kruise.io/v1alpha1", Kind:"CloneSet", Name:"web"}: '
            "pub.spec.targetReference is in conflict with other PodUnavailableBudget other"
        ],
    ),
    ("targetRef of another name", {"targetRef": REF}, {"targetRef": {**REF, "name": "api"}}, []),
    (
        "same matchLabels (PUB:189)",
        {"selector": WEB},
        {"selector": WEB},
        [
            # field.Error prints the dereferenced *LabelSelector with %#v (String() has a pointer receiver)
            'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web"}, '
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: "
            "pub.spec.selector is in conflict with other PodUnavailableBudget other"
        ],
    ),
    (
        "In overlapping a label (isMatchExpOverlap In/In)",
        {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}},
        {"selector": WEB},
        ["CONFLICT"],
    ),
    ("disjoint values", {"selector": WEB}, {"selector": {"matchLabels": {"app": "api"}}}, []),
    (
        "different keys never conflict (loose)",
        {"selector": WEB},
        {"selector": {"matchLabels": {"tier": "x"}}},
        [],
    ),
    (
        "NotIn every value of the other's In",
        {"selector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}},
        {"selector": WEB},
        [],
    ),
    ("selector vs targetRef never conflict", {"selector": WEB}, {"targetRef": REF}, []),
]


@pytest.mark.parametrize(
    ("why", "mine", "theirs", "expected"), PUB_CONFLICTS, ids=[c[0] for c in PUB_CONFLICTS]
)
def test_pub_conflict_with_another_pub(
    why: str, mine: dict[str, Any], theirs: dict[str, Any], expected: list[str]
) -> None:
    found = _conflicts(_budget("mine", **mine), _budget("mine", **mine), _budget("other", **theirs))
    if expected == ["CONFLICT"]:
        assert len(found) == 1
        assert found[0].endswith("pub.spec.selector is in conflict with other PodUnavailableBudget other")
    else:
        assert found == expected
