"""ContainerRecreateRequest, ImagePullJob and NodeImage shared rules against kruise v1.9.1.

Expected texts are written out by hand from kruise's code (file:line per case): ``CRR`` =
``pkg/webhook/containerrecreaterequest/mutating/crr_mutating_handler.go``, ``IPJ`` =
``pkg/webhook/imagepulljob/validating/imagepulljob_create_update_handler.go``, ``NI`` =
``pkg/webhook/nodeimage/validating/nodeimage_create_update_handler.go``, ``D`` =
``apis/apps/defaults/v1alpha1.go``/``v1beta1.go``; the image texts are docker/distribution
v2.8.2's ``reference`` package (``normalize.go``, ``reference.go``). One row per rule.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from schemas.kruise import rules
from schemas.kruise.rules import containerrecreaterequest as crr


def _messages(kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [str(e) for e in rules.validate(kind, rules.default(kind, obj, old), old)]


# --- ImagePullJob ---------------------------------------------------------------------------------
def _ipj(version: str = "v1beta1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"apps.kruise.io/{version}",
        "kind": "ImagePullJob",
        "metadata": {"name": "ipj", "namespace": "ns"},
        "spec": {"image": "nginx:1.25", **spec},
    }


def test_imagepulljob_defaults() -> None:  # D(v1alpha1):351-370, D(v1beta1):168-184
    beta = rules.default("ImagePullJob", _ipj())
    assert beta["spec"]["completionPolicy"] == {"type": "Always"}
    assert beta["spec"]["pullPolicy"] == {"timeoutSeconds": 600, "backoffLimit": 3}
    assert beta["spec"]["imagePullPolicy"] == "IfNotPresent"
    assert "finalizers" not in beta["metadata"]  # v1beta1 ignores addProtection
    alpha = rules.default("ImagePullJob", _ipj("v1alpha1"))
    assert alpha["metadata"]["finalizers"] == ["apps.kruise.io/deletion-protection"]
    assert "finalizers" not in rules.default("ImagePullJob", _ipj("v1alpha1"), _ipj("v1alpha1"))["metadata"]
    assert _messages("ImagePullJob", _ipj()) == []


IPJ_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "names and labels (IPJ:129)",
        {"selector": {"names": ["a"], "matchLabels": {"x": "y"}}},
        "can not set both names and labelSelector in this spec.selector",
    ),
    (
        "invalid selector (IPJ:132)",
        {"selector": {"matchExpressions": [{"key": "x", "operator": "In"}]}},
        "invalid selector: values: Invalid value: []string(nil): "
        "for 'in', 'notin' operators, values set can't be empty",
    ),
    ("duplicated names (IPJ:138)", {"selector": {"names": ["a", "a"]}}, "duplicated name in selector names"),
    (
        "selector and podSelector (IPJ:144)",
        {"selector": {"names": ["a"]}, "podSelector": {"matchLabels": {"x": "y"}}},
        "can not set both selector and podSelector",
    ),
    (
        "invalid podSelector (IPJ:147)",
        {"podSelector": {"matchExpressions": [{"key": "x", "operator": "Exists", "values": ["v"]}]}},
        'invalid podSelector: values: Invalid value: []string{"v"}: '
        "values set must be empty for exists and does not exist",
    ),
    ("empty image (IPJ:152)", {"image": ""}, "image can not be empty"),
    (
        "uppercase image (IPJ:156, normalize.go:96)",
        {"image": "Nginx:1"},
        "invalid image Nginx:1: invalid reference format: repository name must be lowercase",
    ),
    (
        "bad image (IPJ:156, reference.go:192)",
        {"image": "nginx:"},
        "invalid image nginx:: invalid reference format",
    ),
    (
        "hex image (IPJ:156, normalize.go:89)",
        {"image": "a" * 64},
        f"invalid image {'a' * 64}: invalid repository name ({'a' * 64}), "
        "cannot specify 64-byte hexadecimal strings",
    ),
    (
        "percent parallelism (IPJ:164)",
        {"parallelism": "50%"},
        "parallelism does not support percentage value",
    ),
    (
        "non-integer parallelism (IPJ:168)",
        {"parallelism": "x"},
        'parallelism must be a valid integer: strconv.ParseInt: parsing "x": invalid syntax',
    ),
    ("negative parallelism string (IPJ:171)", {"parallelism": "-1"}, "parallelism must be non-negative"),
    ("negative parallelism (IPJ:174)", {"parallelism": -2}, "parallelism must be non-negative"),
    (
        "deadline below timeout (IPJ:187)",
        {"completionPolicy": {"type": "Always", "activeDeadlineSeconds": 60}},
        "completionPolicy.activeDeadlineSeconds must be greater than pullPolicy.timeoutSeconds(default 600)",
    ),
    (
        "Never with ttl (IPJ:191)",
        {"completionPolicy": {"type": "Never", "ttlSecondsAfterFinished": 5}},
        "activeDeadlineSeconds and ttlSecondsAfterFinished can only work with Always CompletionPolicyType",
    ),
    (
        "unknown completion (IPJ:194)",
        {"completionPolicy": {"type": "Sometimes"}},
        "unknown type of completionPolicy: Sometimes",
    ),
]


@pytest.mark.parametrize(("why", "spec", "message"), IPJ_CASES, ids=[c[0] for c in IPJ_CASES])
@pytest.mark.parametrize("version", ["v1alpha1", "v1beta1"])
def test_imagepulljob_refusals(why: str, spec: dict[str, Any], message: str, version: str) -> None:
    assert _messages("ImagePullJob", _ipj(version, **spec)) == [message]


def test_imagepulljob_allowed_edges() -> None:
    digest = "nginx@sha256:" + "0" * 64
    for spec in (
        {"parallelism": "3"},
        {"image": "registry.local:5000/team/app:v1"},
        {"image": digest},
        {"completionPolicy": {"type": "Always", "activeDeadlineSeconds": 600}},
        {"completionPolicy": {"type": "Never"}},
        {"selector": {"names": ["a", "b"]}},
    ):
        assert _messages("ImagePullJob", _ipj(**spec)) == [], spec


def test_imagepulljob_pull_secrets_are_immutable() -> None:  # IPJ:69 (admission.Denied)
    old = rules.default("ImagePullJob", _ipj(pullSecrets=["a"]))
    new = copy.deepcopy(old)
    new["spec"]["pullSecrets"] = ["b"]
    assert _messages("ImagePullJob", new, old) == ["spec.pullSecrets is immutable"]
    new["spec"]["pullSecrets"] = ["a"]
    new["spec"]["parallelism"] = 4
    assert _messages("ImagePullJob", new, old) == []


# --- NodeImage ------------------------------------------------------------------------------------
def _ni(images: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "NodeImage",
        "metadata": {"name": "n"},
        "spec": {"images": images},
    }


def test_nodeimage_defaults_and_sorts() -> None:  # D(v1beta1):203-227, nodeimage mutating: SortSpecImageTags
    out = rules.default("NodeImage", _ni({"nginx": {"tags": [{"tag": "b"}, {"tag": "a"}]}}))
    tags = out["spec"]["images"]["nginx"]["tags"]
    assert [t["tag"] for t in tags] == ["a", "b"]
    assert all(t["pullPolicy"] == {"timeoutSeconds": 600, "backoffLimit": 3} for t in tags)
    assert all(t["createdAt"].endswith("Z") for t in tags)
    # defaulting alone leaves ttlSecondsAfterFinished unset, which kruise then refuses (NI:98)
    assert _messages("NodeImage", _ni({"nginx": {"tags": [{"tag": "a"}]}})) == [
        "pullPolicy.ttlSecondsAfterFinished for nginx/a must set"
    ]


def _tag(tag: str, **extra: Any) -> dict[str, Any]:
    return {
        "tag": tag,
        "createdAt": "2026-01-01T00:00:00Z",
        "pullPolicy": {"ttlSecondsAfterFinished": 60},
        **extra,
    }


NI_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "too many images (NI:76)",
        {f"i{n}": {"tags": []} for n in range(257)},
        "spec images length 257 can not be more than 256",
    ),
    ("empty image name (NI:81)", {"": {"tags": []}}, "image name can not be empty"),
    ("empty tag (NI:86)", {"nginx": {"tags": [_tag("")]}}, "tag for image nginx can not be empty"),
    (
        "duplicated tag (NI:89)",
        {"nginx": {"tags": [_tag("a"), _tag("a")]}},
        "duplicated tag a for image nginx",
    ),
    (
        "negative version (NI:97)",
        {"nginx": {"tags": [_tag("a", version=-1)]}},
        "version for nginx/a can not be less than 0",
    ),
    (
        "no ttl (NI:103)",
        {"nginx": {"tags": [{**_tag("a"), "pullPolicy": {}}]}},
        "pullPolicy.ttlSecondsAfterFinished for nginx/a must set",
    ),
]


@pytest.mark.parametrize(("why", "images", "message"), NI_CASES, ids=[c[0] for c in NI_CASES])
def test_nodeimage_refusals(why: str, images: dict[str, Any], message: str) -> None:
    assert _messages("NodeImage", _ni(images)) == [message]


def test_nodeimage_fields_only_the_defaults_fill() -> None:  # NI:93, NI:100: not reachable after defaulting
    no_created = {"nginx": {"tags": [{"tag": "a", "pullPolicy": {"ttlSecondsAfterFinished": 1}}]}}
    assert [str(e) for e in rules.validate("NodeImage", _ni(no_created))] == [
        "createAt field for nginx/a can not be empty"
    ]
    no_policy = {"nginx": {"tags": [{"tag": "a", "createdAt": "2026-01-01T00:00:00Z"}]}}
    assert [str(e) for e in rules.validate("NodeImage", _ni(no_policy))] == [
        "pullPolicy field for nginx/a must set"
    ]
    assert _messages("NodeImage", _ni({"nginx": {"tags": [_tag("a"), _tag("b")]}})) == []


# --- ContainerRecreateRequest ---------------------------------------------------------------------
def _crr(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "ContainerRecreateRequest",
        "metadata": {"name": "r", "namespace": "ns"},
        "spec": {"podName": "p", "containers": [{"name": "app"}], **spec},
    }


def _pod(**changes: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {"name": "p", "uid": "u-1"},
        "spec": {
            "nodeName": "node-1",
            "terminationGracePeriodSeconds": 30,
            "containers": [
                {
                    "name": "app",
                    "ports": [{"containerPort": 80}],
                    "lifecycle": {"preStop": {"httpGet": {"path": "/stop", "port": 80}}},
                }
            ],
        },
        "status": {
            "phase": "Running",
            "containerStatuses": [{"name": "app", "containerID": "containerd://c1", "restartCount": 2}],
        },
    }
    for path, value in changes.items():
        target = pod
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return pod


def _crr_messages(
    obj: dict[str, Any], pod: dict[str, Any] | None, old: dict[str, Any] | None = None
) -> list[str]:
    defaulted = rules.default("ContainerRecreateRequest", obj, old)
    facts = rules.Facts(pods={name: pod for name in rules.needs("ContainerRecreateRequest", obj, old).pods})
    return [str(e) for e in rules.validate("ContainerRecreateRequest", defaulted, old, facts)]


def test_crr_defaults_and_injection() -> None:  # CRR:102-125, CRR:163-219
    defaulted = rules.default("ContainerRecreateRequest", _crr())
    assert defaulted["metadata"]["labels"] == {"crr.apps.kruise.io/active": "true"}
    assert defaulted["spec"]["strategy"] == {"failurePolicy": "Fail"}
    assert _crr_messages(_crr(), _pod()) == []
    filled = crr.inject(defaulted, _pod())
    assert filled["metadata"]["labels"] == {
        "crr.apps.kruise.io/active": "true",
        "crr.apps.kruise.io/node-name": "node-1",
        "crr.apps.kruise.io/pod-uid": "u-1",
    }
    assert filled["spec"]["strategy"] == {"failurePolicy": "Fail", "terminationGracePeriodSeconds": 30}
    assert filled["spec"]["containers"] == [
        {
            "name": "app",
            "preStop": {"httpGet": {"path": "/stop", "port": 80}},
            "ports": [{"containerPort": 80}],
            "statusContext": {"containerID": "containerd://c1", "restartCount": 2},
        }
    ]


CRR_CASES: list[tuple[str, dict[str, Any], dict[str, Any] | None, str]] = [
    ("no podName (CRR:98)", _crr(podName=""), _pod(), "podName can not be empty"),
    ("no containers (CRR:105)", _crr(containers=[]), _pod(), "containers list can not be null"),
    (
        "short deadline (CRR:108)",
        _crr(activeDeadlineSeconds=2),
        _pod(),
        "activeDeadlineSeconds can not be less than 3s",
    ),
    (
        "negative grace (CRR:111)",
        _crr(strategy={"terminationGracePeriodSeconds": -1}),
        _pod(),
        "terminationGracePeriodSeconds must be non-negative integer",
    ),
    (
        "negative unready grace (CRR:114)",
        _crr(strategy={"unreadyGracePeriodSeconds": -1}),
        _pod(),
        "unreadyGracePeriodSeconds must be non-negative integer",
    ),
    (
        "unknown failurePolicy (CRR:122)",
        _crr(strategy={"failurePolicy": "Retry"}),
        _pod(),
        "unknown failurePolicy Retry",
    ),
    ("pod not found (CRR:128)", _crr(), None, "no found Pod named p"),
    (
        "inactive pod (CRR:133)",
        _crr(),
        _pod(status__phase="Succeeded"),
        "not allowed to recreate containers in an inactive Pod",
    ),
    (
        "pending pod (CRR:135)",
        _crr(),
        _pod(spec__nodeName=""),
        "not allowed to recreate containers in a pending Pod",
    ),
    (
        "read-only fields (CRR:177)",
        _crr(containers=[{"name": "app", "ports": []}]),
        _pod(),
        "preStop, ports, statusContext in container are ready-only fields",
    ),
    (
        "container not in pod (CRR:182)",
        _crr(containers=[{"name": "web"}]),
        _pod(),
        "container web not found in Pod",
    ),
    (
        "no status (CRR:186)",
        _crr(),
        _pod(status__containerStatuses=[]),
        "not found app containerStatus in Pod Status",
    ),
    (
        "no container ID (CRR:188)",
        _crr(),
        _pod(status__containerStatuses=[{"name": "app"}]),
        "no containerID in app containerStatus, maybe the container has not been initialized",
    ),
]


@pytest.mark.parametrize(("why", "obj", "pod", "message"), CRR_CASES, ids=[c[0] for c in CRR_CASES])
def test_crr_create_refusals(why: str, obj: dict[str, Any], pod: dict[str, Any] | None, message: str) -> None:
    assert _crr_messages(obj, pod) == [message]


def test_crr_pod_stopped_by_sidecar_terminator_is_allowed() -> (
    None
):  # CRR:132, isTerminatedBySidecarTerminator
    pod = _pod(status__phase="Failed", status__conditions=[{"type": "SidecarTerminated", "status": "True"}])
    assert _crr_messages(_crr(), pod) == []


NODE = {"metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}}}


def _crr_node_messages(pod: dict[str, Any], node: dict[str, Any] | None) -> list[str]:
    obj = rules.default("ContainerRecreateRequest", _crr())
    pods = {"p": pod}
    nodes = {name: node for name in rules.node_needs("ContainerRecreateRequest", obj, None, pods)}
    facts = rules.Facts(pods=pods, nodes=nodes)
    return [str(e) for e in rules.validate("ContainerRecreateRequest", obj, None, facts)]


def test_crr_reads_the_node_of_a_bound_active_pod_only() -> None:  # CRR:129-141
    obj = rules.default("ContainerRecreateRequest", _crr())
    assert rules.node_needs("ContainerRecreateRequest", obj, None, {"p": _pod()}) == ("node-1",)
    for pod in (None, _pod(spec__nodeName=""), _pod(status__phase="Failed")):
        assert rules.node_needs("ContainerRecreateRequest", obj, None, {"p": pod}) == ()
    assert rules.node_needs("ContainerRecreateRequest", obj, _crr(), {"p": _pod()}) == ()


def test_crr_on_a_pod_whose_node_is_gone_is_refused_with_the_client_s_not_found() -> None:  # CRR:136-138
    # kruise: fmt.Errorf("failed to get Node %s: %v", ...) around the client's NotFound error
    assert _crr_node_messages(_pod(), None) == ['failed to get Node node-1: nodes "node-1" not found']
    assert _crr_node_messages(_pod(), NODE) == []
    # the node is checked before the containers (injectPodIntoContainerRecreateRequest comes after)
    assert _crr_node_messages(_pod(status__containerStatuses=[]), None) == [
        'failed to get Node node-1: nodes "node-1" not found'
    ]


def test_crr_copies_the_virtual_kubelet_label_of_the_pod_s_node() -> None:  # CRR:170-172
    defaulted = rules.default("ContainerRecreateRequest", _crr())
    virtual = {"metadata": {"name": "node-1", "labels": {"type": "virtual-kubelet"}}}
    other = {"metadata": {"name": "node-1", "labels": {"type": "edge"}}}
    inject = rules.rule_set("ContainerRecreateRequest").inject
    assert inject is not None
    labels = inject(defaulted, rules.Facts(pods={"p": _pod()}, nodes={"node-1": virtual}))["metadata"][
        "labels"
    ]
    assert labels["type"] == "virtual-kubelet"
    for facts in (rules.Facts(pods={"p": _pod()}, nodes={"node-1": other}), rules.Facts(pods={"p": _pod()})):
        assert "type" not in inject(defaulted, facts)["metadata"]["labels"]


def test_crr_update_immutables() -> None:  # CRR:79-93
    labels = {"crr.apps.kruise.io/pod-uid": "u", "crr.apps.kruise.io/node-name": "n"}
    old = _crr()
    old["metadata"]["labels"] = dict(labels)
    old["metadata"]["annotations"] = {"crr.apps.kruise.io/unready-acquired": "t0"}
    changed = copy.deepcopy(old)
    changed["spec"]["activeDeadlineSeconds"] = 60
    assert _crr_messages(changed, None, old) == ["spec of ContainerRecreateRequest is immutable"]
    for key in labels:
        relabelled = copy.deepcopy(old)
        relabelled["metadata"]["labels"][key] = "other"
        assert _crr_messages(relabelled, None, old) == [f"not allowed to update immutable label {key}"]
    reacquired = copy.deepcopy(old)
    reacquired["metadata"]["annotations"]["crr.apps.kruise.io/unready-acquired"] = "t1"
    assert _crr_messages(reacquired, None, old) == [
        "not allowed to update immutable annotation crr.apps.kruise.io/unready-acquired"
    ]
    status_only = copy.deepcopy(old)
    status_only["metadata"]["labels"]["crr.apps.kruise.io/active"] = "false"
    assert _crr_messages(status_only, None, old) == []
