"""Worker registration and the pure pieces of the runtime (no services)."""

from __future__ import annotations

import orjson
import pytest

from flotilla.runtime.errors import error_from_response
from flotilla.runtime.kube import CONFIGMAPS
from tests.support.testcm import RECONCILED, WORKER, CmConfig, CmSnapshot, plan
from tests.support.workers import Interval, overlaps
from workers.runtime.actions import PatchObject
from workers.runtime.cli import load_worker
from workers.runtime.consumer import RuntimeOptions
from workers.runtime.contract import Plan, WorkerType, is_stale_observation
from workers.runtime.deadletter import (
    CONDITION_TYPE,
    ERROR_ANNOTATION,
    is_marked,
    with_failed_condition,
    without_failed_condition,
)


def test_plugin_worker_loads_by_module_path() -> None:
    assert load_worker("testcm", "tests.support.testcm:WORKER") is WORKER


def test_plugin_with_another_type_name_is_refused() -> None:
    with pytest.raises(SystemExit, match="defines type 'testcm'"):
        load_worker("cloneset", "tests.support.testcm:WORKER")


def test_missing_builtin_type_is_a_clear_error() -> None:
    with pytest.raises(SystemExit, match=r"cannot import 'workers\.nosuchtype'"):
        load_worker("nosuchtype", None)


def test_worker_type_names_are_subject_tokens() -> None:
    with pytest.raises(ValueError, match="worker type"):
        WorkerType(
            name="Bad.Type", kind="X", resource=CONFIGMAPS, observe=WORKER.observe, plan=plan, config=None
        )


@pytest.mark.parametrize(
    ("snapshot", "expected"),
    [
        (CmSnapshot("ns", "a", exists=False), Plan(reason="configmap is gone")),
        (
            CmSnapshot("ns", "a", exists=True, desired="v2", reconciled="v1"),
            Plan(
                actions=(
                    PatchObject(CONFIGMAPS, "ns", "a", {"metadata": {"annotations": {RECONCILED: "v2"}}}),
                ),
                reason="desired=v2",
            ),
        ),
        (
            CmSnapshot("ns", "a", exists=True, desired="v1", reconciled="v1", requeue_after=3.0),
            Plan(requeue_after=3.0, reason="desired=v1"),
        ),
    ],
)
def test_testcm_plan_table(snapshot: CmSnapshot, expected: Plan) -> None:
    assert plan(snapshot, CmConfig(), 0.0) == expected


def test_overlap_detection() -> None:
    a = Interval("k", 1, 0.0, 1.0, "ok")
    b = Interval("k", 2, 1.0, 2.0, "ok")
    c = Interval("k", 2, 0.5, 0.7, "ok")
    assert overlaps([a, b]) == []
    assert overlaps([a, b, c]) == [(a, c)]


def test_default_timing_keeps_renewals_dense() -> None:
    options = RuntimeOptions()
    assert options.heartbeat_every * 3 <= min(options.lease_ttl, options.ack_wait)


def test_failed_condition_replaces_an_older_one_and_keeps_the_rest() -> None:
    obj = {
        "metadata": {"name": "a", "resourceVersion": "7"},
        "status": {
            "replicas": 3,
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": CONDITION_TYPE, "status": "True", "message": "old"},
            ],
        },
    }
    updated = with_failed_condition(obj, "gave up: boom")
    conditions = updated["status"]["conditions"]
    assert [c["type"] for c in conditions] == ["Ready", CONDITION_TYPE]
    assert conditions[1]["message"] == "gave up: boom"
    assert conditions[1]["reason"] == "DeadLettered"
    assert updated["status"]["replicas"] == 3
    assert updated["metadata"]["resourceVersion"] == "7"
    assert obj["status"]["conditions"][1]["message"] == "old"  # the input is not modified


def test_a_dead_letters_mark_is_seen_and_removed_keeping_the_rest() -> None:
    clean = {"metadata": {"name": "a", "annotations": {"x": "1"}}, "status": {"conditions": []}}
    assert not is_marked(clean)
    assert is_marked({"metadata": {"annotations": {ERROR_ANNOTATION: "gave up"}}})
    marked = with_failed_condition({"metadata": {"name": "a"}, "status": {"replicas": 2}}, "boom")
    marked["status"]["conditions"].insert(0, {"type": "Ready", "status": "True"})
    assert is_marked(marked)
    cleared = without_failed_condition(marked)
    assert cleared["status"] == {"replicas": 2, "conditions": [{"type": "Ready", "status": "True"}]}
    assert not is_marked(cleared)


def _answer(code: int, method: str, path: str) -> Exception:
    reason = {404: "NotFound", 409: "Conflict", 500: "InternalError"}[code]
    body = orjson.dumps({"kind": "Status", "reason": reason, "message": "as the API server says"})
    return error_from_response(code, body, method=method, path=path)


@pytest.mark.parametrize(
    ("code", "method", "path", "replans"),
    [
        # the pod the plan patches was deleted after it was observed (garbage collector, eviction)
        (404, "PATCH", "/api/v1/namespaces/ns/pods/web-abcde", True),
        (404, "PUT", "/apis/apps.kruise.io/v1alpha1/namespaces/ns/clonesets/web/status", True),
        (404, "DELETE", "/api/v1/namespaces/ns/pods/web-abcde", True),
        (409, "PATCH", "/api/v1/namespaces/ns/pods/web-abcde", True),
        (409, "POST", "/api/v1/namespaces/ns/pods", True),  # AlreadyExists-like: someone else wrote
        # a create's 404 names its namespace: a fresh observation would plan the same create
        (404, "POST", "/api/v1/namespaces/gone/pods", False),
        (404, "GET", "/api/v1/namespaces/ns/pods/web-abcde", False),  # a read in observe
        (500, "PATCH", "/api/v1/namespaces/ns/pods/web-abcde", False),
    ],
)
def test_stale_observation_is_a_conflict_or_a_writes_404(
    code: int, method: str, path: str, replans: bool
) -> None:
    err = _answer(code, method, path)
    assert getattr(err, "method", None) == method
    assert is_stale_observation(err) is replans
    assert not is_stale_observation(ValueError("not an API answer"))
