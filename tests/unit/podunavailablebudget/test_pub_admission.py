"""The PUB admission verdict, table by table, from kruise's ``pub_control_utils_test.go``.

Expected values are kruise's (its test cases and ``checkAndDecrement``'s messages), worked by hand.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from flotilla.runtime.features import feature_gates
from workers.cloneset.kube_json import JsonDict
from workers.podunavailablebudget.admission import (
    Decision,
    PubOperation,
    classify,
    decide,
    protected_operations,
)

NOW = datetime(2026, 11, 29, 20, 0, 0, tzinfo=UTC)
STAMP = "2026-11-29T20:00:00Z"


def pod(**changes: object) -> JsonDict:
    """kruise's ``podDemo``: a ready nginx pod covered by ``pub-test``."""
    base: JsonDict = {
        "metadata": {
            "name": "test-pod",
            "namespace": "default",
            "labels": {"app": "nginx", "pub-controller": "true"},
            "annotations": {"kruise.io/related-pub": "pub-test"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "nginx",
                    "uid": "u1",
                    "controller": True,
                }
            ],
        },
        "spec": {"containers": [{"name": "nginx", "image": "nginx:v1"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": "nginx", "image": "nginx:v1", "imageID": "nginx@sha256:a9286d", "ready": True}
            ],
        },
    }
    for path, value in changes.items():
        where: JsonDict = base
        *parents, leaf = path.split("__")
        for key in parents:
            where = where.setdefault(key, {})  # type: ignore[assignment]
        where[leaf] = value
    return base


def pub(allowed: int = 0, desired: int = 1, annotations: dict[str, str] | None = None) -> JsonDict:
    """kruise's ``pubDemo`` (maxUnavailable 30%, desiredAvailable 1) with ``unavailableAllowed``."""
    return {
        "metadata": {"name": "pub-test", "namespace": "default", "annotations": annotations or {}},
        "spec": {"selector": {"matchLabels": {"pub-controller": "true"}}, "maxUnavailable": "30%"},
        "status": {
            "unavailablePods": {},
            "disruptedPods": {},
            "unavailableAllowed": allowed,
            "desiredAvailable": desired,
        },
    }


REFUSED = 'podunavailablebudget.policy.kruise.io "pub-test" is forbidden: pub unavailable allowed is negative'


@pytest.mark.parametrize(
    ("case", "operation", "the_pod", "the_pub", "expected"),
    [
        (
            "valid update pod, allow",
            PubOperation.UPDATE,
            pod(),
            pub(allowed=1),
            Decision(
                True,
                status={
                    "unavailablePods": {"test-pod": STAMP},
                    "disruptedPods": {},
                    "unavailableAllowed": 0,
                    "desiredAvailable": 1,
                },
            ),
        ),
        (
            "valid update pod, reject",
            PubOperation.UPDATE,
            pod(),
            pub(),
            Decision(False, REFUSED, refused_event=True),
        ),
        (
            "valid update pod, pod deletion, ignore",
            PubOperation.UPDATE,
            pod(metadata__deletionTimestamp=STAMP),
            pub(),
            Decision(True),
        ),
        (
            "valid update pod, pod not ready, ignore",
            PubOperation.UPDATE,
            pod(status__conditions=[{"type": "Ready", "status": "False"}]),
            pub(),
            Decision(True),
        ),
        (
            "valid update pod, pod unavailable labels, ignore",
            PubOperation.UPDATE,
            pod(metadata__labels={"app": "nginx", "unavailable-pod.kruise.io/data": "true"}),
            pub(),
            Decision(True),
        ),
        (
            "valid delete pod, in-place update not completed yet, ignore",
            PubOperation.DELETE,
            pod(
                metadata__annotations={
                    "kruise.io/related-pub": "pub-test",
                    "apps.kruise.io/inplace-update-state": '{"nextContainerImages":{"main":"nginx:v2"}}',
                }
            ),
            pub(),
            Decision(True),
        ),
        (
            "valid delete pod, pod declared no protect, ignore",
            PubOperation.DELETE,
            pod(
                metadata__annotations={
                    "kruise.io/related-pub": "pub-test",
                    "pub.kruise.io/no-protect": "true",
                }
            ),
            pub(),
            Decision(True),
        ),
        (
            "delete records the pod in disruptedPods",
            PubOperation.DELETE,
            pod(),
            pub(allowed=2),
            Decision(
                True,
                status={
                    "unavailablePods": {},
                    "disruptedPods": {"test-pod": STAMP},
                    "unavailableAllowed": 1,
                    "desiredAvailable": 1,
                },
            ),
        ),
        (
            "eviction records the pod in disruptedPods",
            PubOperation.EVICT,
            pod(),
            pub(allowed=1),
            Decision(
                True,
                status={
                    "unavailablePods": {},
                    "disruptedPods": {"test-pod": STAMP},
                    "unavailableAllowed": 0,
                    "desiredAvailable": 1,
                },
            ),
        ),
        ("no PUB: allowed", PubOperation.DELETE, pod(), None, Decision(True)),
        (
            "desiredAvailable 0: allowed without recording",
            PubOperation.DELETE,
            pod(),
            pub(desired=0),
            Decision(True),
        ),
        (
            "operation not protected: allowed",
            PubOperation.DELETE,
            pod(),
            pub(annotations={"kruise.io/pub-protect-operations": "UPDATE,EVICT"}),
            Decision(True),
        ),
    ],
)
def test_decide(
    case: str, operation: PubOperation, the_pod: JsonDict, the_pub: JsonDict | None, expected: Decision
) -> None:
    assert decide(operation, the_pod, the_pub, NOW) == expected, case


def test_a_pod_already_recorded_is_allowed_without_spending() -> None:
    recorded = pub()
    recorded["status"]["disruptedPods"] = {"test-pod": "2026-11-29T19:59:55Z"}  # type: ignore[index]
    assert decide(PubOperation.DELETE, pod(), recorded, NOW) == Decision(True)


def test_too_many_recorded_pods_refuse() -> None:
    crowded = pub(allowed=5)
    crowded["status"]["disruptedPods"] = {f"p{i}": STAMP for i in range(2001)}  # type: ignore[index]
    decision = decide(PubOperation.DELETE, pod(), crowded, NOW)
    assert decision == Decision(
        False,
        'podunavailablebudget.policy.kruise.io "pub-test" is forbidden: '
        "DisruptedPods and UnavailablePods map too big"
        " - too many unavailable not confirmed by PUB controller",
        refused_event=True,
    )


def test_dry_run_spends_nothing() -> None:
    assert decide(PubOperation.DELETE, pod(), pub(allowed=1), NOW, dry_run=True) == Decision(True)


def test_the_input_pub_is_not_changed() -> None:
    before = pub(allowed=1)
    kept = copy.deepcopy(before)
    decide(PubOperation.UPDATE, pod(), before, NOW)
    assert before == kept


@pytest.mark.parametrize(
    ("annotation", "operation", "in_place_vertical_scaling", "protected"),
    [  # kruise TestIsNeedPubProtection
        (None, "UPDATE", False, True),
        (None, "DELETE", False, True),
        (None, "EVICT", False, True),
        (None, "RESIZE", True, False),
        (None, "RESIZE", False, True),
        ("RESIZE", "RESIZE", True, True),
        ("UPDATE", "UPDATE", True, True),
        ("RESIZE", "UPDATE", True, False),
        ("DELETE", "UPDATE", True, False),
        ("UPDATE", "RESIZE", False, True),
        ("UPDATE", "RESIZE", True, False),
        ("DELETE,EVICT", "RESIZE", True, False),
        ("DELETE,EVICT", "RESIZE", False, False),
    ],
)
def test_protected_operations(
    annotation: str | None, operation: str, in_place_vertical_scaling: bool, protected: bool
) -> None:
    the_pub = pub(annotations={"kruise.io/pub-protect-operations": annotation} if annotation else {})
    assert (operation in protected_operations(the_pub, in_place_vertical_scaling)) is protected


ALL_GATES = feature_gates({"PodUnavailableBudgetUpdateGate": True})


def _storage(size: str) -> JsonDict:
    requests = {"cpu": "100m", "ephemeral-storage": size}
    return pod(spec__containers=[{"name": "nginx", "image": "nginx:v1", "resources": {"requests": requests}}])


def _resized(cpu: str) -> JsonDict:
    return pod(
        spec__containers=[{"name": "nginx", "image": "nginx:v1", "resources": {"requests": {"cpu": cpu}}}]
    )


@pytest.mark.parametrize(
    ("operation", "sub_resource", "old", "new", "gates", "expected"),
    [
        ("DELETE", "", pod(), None, feature_gates(), PubOperation.DELETE),
        ("DELETE", "status", pod(), None, feature_gates(), None),
        ("CREATE", "eviction", None, {"kind": "Eviction"}, feature_gates(), PubOperation.EVICT),
        ("CREATE", "", None, pod(), feature_gates(), None),
        ("DELETE", "", pod(), None, feature_gates({"PodUnavailableBudgetDeleteGate": False}), None),
        # UPDATE is gated by PodUnavailableBudgetUpdateGate (alpha, off by default)
        (
            "UPDATE",
            "",
            pod(),
            pod(spec__containers=[{"name": "nginx", "image": "nginx:v2"}]),
            feature_gates(),
            None,
        ),
        (
            "UPDATE",
            "",
            pod(),
            pod(spec__containers=[{"name": "nginx", "image": "nginx:v2"}]),
            ALL_GATES,
            "UPDATE",
        ),
        (
            "UPDATE",
            "",
            pod(),
            pod(metadata__annotations={"kruise.io/related-pub": "pub-test", "a": "b"}),
            ALL_GATES,
            None,
        ),
        (
            "UPDATE",
            "",
            pod(),
            pod(metadata__labels={"unavailable-pod.kruise.io/x": "1"}),
            ALL_GATES,
            "UPDATE",
        ),
        ("UPDATE", "", pod(), pod(metadata__annotations={}, spec__nodeName="n"), ALL_GATES, None),
        ("UPDATE", "", _resized("100m"), _resized("200m"), ALL_GATES, "RESIZE"),
        ("UPDATE", "", _resized("100m"), _storage("1Gi"), ALL_GATES, "UPDATE"),
    ],
)
def test_classify(
    operation: str,
    sub_resource: str,
    old: JsonDict | None,
    new: JsonDict | None,
    gates: object,
    expected: str | None,
) -> None:
    assert classify(operation, sub_resource, old, new, gates) == expected  # type: ignore[arg-type]
