"""Every refusing handler answers with the HTTP code, reason and message kruise v1.9.1's counterpart
answers (``pkg/webhook/<kind>/{validating,mutating}/*_handler.go``, cited per row).

controller-runtime v0.20.2 (kruise v1.9.1's; pkg/webhook/admission/response.go): ``Errored(code,
err)`` answers ``{code, message}`` without a reason; ``Denied(message)`` and
``ValidationResponse(false, message)`` answer 403 with reason ``Forbidden``. The API server passes
code and reason on to the client. The expected codes, reasons and texts are written here by hand
from those lines and kruise's format strings; each request is defaulted by the webhook's own
mutating route first, as the API server does before it validates. Pure.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import jsonpatch
import pytest

from flotilla.runtime.features import feature_gates
from schemas.kruise import rules
from webhook.dispatch import AdmissionConfig, Facts, Handler
from webhook.kruisekinds import check_and_fill, default_object, validate_object
from webhook.podbudget import answer_budget
from webhook.podreadiness import inject_readiness_gate
from webhook.protection import protect_workload
from webhook.review import AdmissionRequest, Verdict, review_response
from webhook.sidecarset import validate_sidecarset

DEFAULTS = AdmissionConfig.defaults()
IMAGE_JOBS = AdmissionConfig(feature_gates({"ImagePullJobGate": True}))
NO_PUB_GATES = AdmissionConfig(
    feature_gates({"PodUnavailableBudgetDeleteGate": False, "PodUnavailableBudgetUpdateGate": False})
)
PROTECTION = AdmissionConfig(feature_gates({"ResourcesDeletionProtection": True}))
LABELS = {"app": "x"}
TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": LABELS},
    "spec": {"containers": [{"name": "main", "image": "nginx:1"}]},
}
GROUPS = {"PodUnavailableBudget": "policy.kruise.io"}


def _object(kind: str, version: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    group = GROUPS.get(kind, "apps.kruise.io")
    meta = {"name": "x", "namespace": "ns"}
    return {"apiVersion": f"{group}/{version}", "kind": kind, "metadata": meta, "spec": copy.deepcopy(spec)}


def _request(
    kind: str,
    version: str,
    spec: Mapping[str, Any],
    old_spec: Mapping[str, Any] | None = None,
    config: AdmissionConfig = DEFAULTS,
) -> AdmissionRequest:
    """A CREATE (an UPDATE when ``old_spec`` is given) of ``kind``, defaulted as the webhook's
    mutating route answers it (kinds kruise defaults)."""
    group = GROUPS.get(kind, "apps.kruise.io")
    old = None if old_spec is None else _object(kind, version, old_spec)
    operation = "CREATE" if old is None else "UPDATE"
    obj = _object(kind, version, spec)
    request = AdmissionRequest("u", group, version, kind, operation, "ns", "x", object=obj, old_object=old)
    if kind in ("PodUnavailableBudget", "ContainerRecreateRequest"):
        return request  # kruise registers no defaulting for a PUB; a CRR is checked as sent
    verdict = default_object(request, config, Facts())
    defaulted = jsonpatch.apply_patch(obj, list(verdict.patch))
    return AdmissionRequest("u", group, version, kind, operation, "ns", "x", object=defaulted, old_object=old)


def _workload(**spec: Any) -> dict[str, Any]:
    return {"replicas": 1, "selector": {"matchLabels": LABELS}, "template": TEMPLATE, **spec}


def _united(replicas: int) -> dict[str, Any]:
    template = {
        "metadata": {"labels": LABELS},
        "spec": {"selector": {"matchLabels": LABELS}, "template": TEMPLATE},
    }
    return {
        "replicas": replicas,
        "selector": {"matchLabels": LABELS},
        "template": {"statefulSetTemplate": template},
    }


IPJ = {"image": "nginx:1", "completionPolicy": {"type": "Always"}}
PUB_SPEC = {"selector": {"matchLabels": LABELS}}
PUB_GATE_TEXT = (
    "feature PodUnavailableBudget is invalid, please open via "
    "feature-gate(PodUnavailableBudgetDeleteGate, PodUnavailableBudgetUpdateGate)"
)
PROTECTED = {
    "metadata": {"name": "x", "labels": {"policy.kruise.io/delete-protection": "Always"}},
    "spec": {},
}
#: the PUB worker's refusal, passed through (kruise's errors.NewForbidden text)
BUDGET_TEXT = (
    'podunavailablebudget.policy.kruise.io "budget" is forbidden: pub unavailable allowed is negative'
)
SIDECARSET = {
    "apiVersion": "apps.kruise.io/v1beta1",
    "kind": "SidecarSet",
    "metadata": {"name": "s"},
    "spec": {"containers": [{"name": "side", "image": "busybox"}]},
}

# (row id, handler, request, config, facts, (code, reason, message))
CASES: list[tuple[str, Handler, AdmissionRequest, AdmissionConfig, Facts, tuple[int, str, str]]] = [
    (
        # pkg/webhook/cloneset/validating/cloneset_create_update_handler.go:56 (create), :68 (update)
        "CloneSet field errors: 422",
        validate_object,
        _request("CloneSet", "v1alpha1", _workload(updateStrategy={"partition": -1})),
        DEFAULTS,
        Facts(),
        (422, "", "spec.updateStrategy.partition: Invalid value: -1: must be greater than or equal to 0"),
    ),
    (
        # pkg/webhook/statefulset/validating/statefulset_create_update_handler.go:62
        "Advanced StatefulSet field errors: 422",
        validate_object,
        _request("StatefulSet", "v1beta1", _workload(podManagementPolicy="Bogus")),
        DEFAULTS,
        Facts(),
        (422, "", "spec.podManagementPolicy: Invalid value: \"Bogus\": must be 'OrderedReady' or 'Parallel'"),
    ),
    (
        # pkg/webhook/uniteddeployment/validating/uniteddeployment_create_update_handler.go:58
        "UnitedDeployment field errors: 422",
        validate_object,
        _request("UnitedDeployment", "v1alpha1", _united(-1)),
        DEFAULTS,
        Facts(),
        (422, "", "spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
    ),
    (
        # pkg/webhook/advancedcronjob/validating/advancedcronjob_create_update_handler.go:361;
        # the text: robfig/cron's ParseStandard ("expected exactly %d fields, found %d: %s")
        "AdvancedCronJob field errors: 422",
        validate_object,
        _request(
            "AdvancedCronJob",
            "v1alpha1",
            {"schedule": "nope", "template": {"broadcastJobTemplate": {"spec": {"template": TEMPLATE}}}},
        ),
        DEFAULTS,
        Facts(),
        (422, "", 'spec.schedule: Invalid value: "nope": expected exactly 5 fields, found 1: [nope]'),
    ),
    (
        # pkg/webhook/broadcastjob/validating/broadcastjob_create_update_handler.go:61-67, 136-139:
        # the aggregate comes back as an error, Errored(http.StatusInternalServerError, err)
        "BroadcastJob field errors: 500",
        validate_object,
        _request("BroadcastJob", "v1alpha1", {"template": TEMPLATE}),  # restartPolicy defaults to Always
        DEFAULTS,
        Facts(),
        (
            500,
            "",
            'spec.template.spec.restartPolicy: Invalid value: "Always": '
            "pod restartPolicy can only be Never or OnFailure",
        ),
    ),
    (
        # pkg/webhook/podunavailablebudget/validating/pub_create_update_handler.go:80 (and :156's text)
        "PodUnavailableBudget field errors: 400",
        validate_object,
        _request("PodUnavailableBudget", "v1alpha1", PUB_SPEC),
        DEFAULTS,
        Facts(),
        (
            400,
            "",
            "spec.maxUnavailable, minAvailable: Required value: "
            "no maxUnavailable or minAvailable defined in PodUnavailableBudget",
        ),
    ),
    (
        # pub_create_update_handler.go:58-61: both PUB gates off refuses every PUB first
        "PodUnavailableBudget with both PUB gates off: 400",
        validate_object,
        _request("PodUnavailableBudget", "v1alpha1", {**PUB_SPEC, "maxUnavailable": 1}),
        NO_PUB_GATES,
        Facts(),
        (400, "", PUB_GATE_TEXT),
    ),
    (
        # pkg/webhook/imagepulljob/validating/imagepulljob_create_update_handler.go:95 (v1alpha1; text :129)
        "ImagePullJob invalid: 400",
        validate_object,
        _request("ImagePullJob", "v1alpha1", {**IPJ, "image": ""}, config=IMAGE_JOBS),
        IMAGE_JOBS,
        Facts(),
        (400, "", "image can not be empty"),
    ),
    (
        # imagepulljob_create_update_handler.go:71 (v1beta1), :90 (v1alpha1): admission.Denied
        "ImagePullJob pullSecrets changed: Denied, 403 Forbidden",
        validate_object,
        _request(
            "ImagePullJob",
            "v1beta1",
            {**IPJ, "pullSecrets": ["b"]},
            {**IPJ, "pullSecrets": ["a"]},
            IMAGE_JOBS,
        ),
        IMAGE_JOBS,
        Facts(),
        (403, "Forbidden", "spec.pullSecrets is immutable"),
    ),
    (
        # imagepulljob_create_update_handler.go:52-54: the gate before anything else
        "ImagePullJob with KruiseDaemon off: 403",
        validate_object,
        _request("ImagePullJob", "v1beta1", IPJ, config=IMAGE_JOBS),
        AdmissionConfig(feature_gates({"KruiseDaemon": False, "ImagePullJobGate": True})),
        Facts(),
        (403, "", "feature-gate KruiseDaemon is not enabled"),
    ),
    (
        # pkg/webhook/imagelistpulljob/validating/imagelistpulljob_create_update_handler.go:61 (text :173)
        "ImageListPullJob invalid: 400",
        validate_object,
        _request(
            "ImageListPullJob",
            "v1beta1",
            {"images": ["nginx:1", "nginx:1"], "completionPolicy": {"type": "Always"}},
            config=IMAGE_JOBS,
        ),
        IMAGE_JOBS,
        Facts(),
        (400, "", "images cannot have duplicate values"),
    ),
    (
        # pkg/webhook/nodeimage/validating/nodeimage_create_update_handler.go:70 (text :89)
        "NodeImage invalid: 400",
        validate_object,
        _request("NodeImage", "v1alpha1", {"images": {"nginx": {"tags": [{"tag": ""}]}}}),
        DEFAULTS,
        Facts(),
        (400, "", "tag for image nginx can not be empty"),
    ),
    (
        # pkg/webhook/containerrecreaterequest/mutating/crr_mutating_handler.go:92
        "ContainerRecreateRequest create check: 400",
        check_and_fill,
        _request("ContainerRecreateRequest", "v1alpha1", {"containers": [{"name": "main"}]}),
        DEFAULTS,
        Facts(),
        (400, "", "podName can not be empty"),
    ),
    (
        # crr_mutating_handler.go:72: Errored(http.StatusForbidden, ...), no reason
        "ContainerRecreateRequest update of spec: 403",
        check_and_fill,
        _request(
            "ContainerRecreateRequest",
            "v1alpha1",
            {"podName": "p", "containers": [{"name": "b"}]},
            {"podName": "p", "containers": [{"name": "a"}]},
        ),
        DEFAULTS,
        Facts(),
        (403, "", "spec of ContainerRecreateRequest is immutable"),
    ),
    (
        # pkg/webhook/sidecarset/validating/sidecarset_create_update_handler.go:79-85, 650-653 (text :130)
        "SidecarSet field errors: 500",
        validate_sidecarset,
        AdmissionRequest(
            "u",
            "apps.kruise.io",
            "v1beta1",
            "SidecarSet",
            "CREATE",
            "",
            "s",
            object=rules.default("SidecarSet", SIDECARSET, None),
        ),
        DEFAULTS,
        Facts(sidecarsets=()),
        (500, "", "spec.selector: Required value: no selector defined for SidecarSet"),
    ),
    (
        # pkg/webhook/pod/validating/pod_create_update_handler.go:80: ValidationResponse(false, reason)
        "pod DELETE a PUB refuses: 403 Forbidden",
        answer_budget,
        AdmissionRequest("u", "", "v1", "Pod", "DELETE", "ns", "p", old_object={"metadata": {"name": "p"}}),
        DEFAULTS,
        Facts(error=BUDGET_TEXT),
        (403, "Forbidden", BUDGET_TEXT),
    ),
    (
        # cloneset_create_update_handler.go:81 (deletion protection, the same in every workload's
        # handler): Errored(http.StatusForbidden, err), no reason
        "CloneSet DELETE protected: 403",
        protect_workload,
        AdmissionRequest(
            "u", "apps.kruise.io", "v1alpha1", "CloneSet", "DELETE", "ns", "x", old_object=PROTECTED
        ),
        PROTECTION,
        Facts(),
        (403, "", "forbidden by ResourcesProtectionDeletion for policy.kruise.io/delete-protection=Always"),
    ),
    (
        # pkg/webhook/pod/mutating/pod_create_update_handler.go:52: the decoder's error, 400
        "pod CREATE without a pod: 400",
        inject_readiness_gate,
        AdmissionRequest("u", "", "v1", "Pod", "CREATE", "ns", "p"),
        DEFAULTS,
        Facts(),
        (400, "", "pod CREATE without request.object"),
    ),
]


@pytest.mark.parametrize(
    ("handler", "request_", "config", "facts", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_refusal_has_kruises_code_reason_and_message(
    handler: Handler,
    request_: AdmissionRequest,
    config: AdmissionConfig,
    facts: Facts,
    expected: tuple[int, str, str],
) -> None:
    verdict = handler(request_, config, facts)
    assert (verdict.allowed, (verdict.code, verdict.reason, verdict.message)) == (False, expected)


@pytest.mark.parametrize(
    ("kind", "version", "spec"),
    [
        ("CloneSet", "v1alpha1", _workload()),
        ("StatefulSet", "v1beta1", _workload()),
        ("UnitedDeployment", "v1alpha1", _united(1)),
        (
            "BroadcastJob",
            "v1alpha1",
            {"template": {**TEMPLATE, "spec": {**TEMPLATE["spec"], "restartPolicy": "Never"}}},
        ),
        ("PodUnavailableBudget", "v1alpha1", {**PUB_SPEC, "maxUnavailable": 1}),
        ("ImagePullJob", "v1beta1", IPJ),
    ],
)
def test_the_same_kinds_valid_are_admitted(kind: str, version: str, spec: dict[str, Any]) -> None:
    """The rows above refuse for the one reason they name (the valid neighbour is admitted)."""
    assert validate_object(_request(kind, version, spec, config=IMAGE_JOBS), IMAGE_JOBS, Facts()).allowed


def _status(verdict: Verdict) -> dict[str, Any]:
    return dict(review_response("u", verdict)["response"]["status"])


def test_on_the_wire_denied_carries_the_forbidden_reason_and_errored_none() -> None:
    """controller-runtime v0.20.2 response.go: Denied -> {code: 403, reason: Forbidden, message};
    Errored(403, err) -> {code: 403, message}."""
    pullsecrets = _request("ImagePullJob", "v1beta1", {**IPJ, "pullSecrets": ["b"]}, IPJ, IMAGE_JOBS)
    assert _status(validate_object(pullsecrets, IMAGE_JOBS, Facts())) == {
        "code": 403,
        "reason": "Forbidden",
        "message": "spec.pullSecrets is immutable",
    }
    delete = AdmissionRequest("u", "apps", "v1", "Deployment", "DELETE", "ns", "x", old_object=PROTECTED)
    assert _status(protect_workload(delete, PROTECTION, Facts())) == {
        "code": 403,
        "message": "forbidden by ResourcesProtectionDeletion for policy.kruise.io/delete-protection=Always",
    }
