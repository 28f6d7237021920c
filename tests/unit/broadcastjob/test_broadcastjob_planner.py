"""BroadcastJob planner tables: each row is one reconcile, expected values worked by hand from
kruise v1.9.1's broadcastjob_controller.go (Reconcile, getNodesToRunPod, checkNodeFitness,
reconcilePods, isJobComplete, finishJob, filterPods)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.broadcastjob.bcj_builders import NAME, RUNNING, T0, UID, job, node, observed, pod
from workers.broadcastjob.planner import DeletePod, Event, plan

NOW_TEXT = "2026-01-01T00:00:00Z"


def created_on(result: Any) -> list[str]:
    return [c.node for c in result.create_pods]


def test_first_pass_creates_one_pod_per_node_bound_by_node_affinity() -> None:
    result = plan(observed(job(), nodes=[node("n1"), node("n2"), node("n3")]), T0)
    assert created_on(result) == ["n1", "n2", "n3"]
    body = result.create_pods[0].body
    assert body["metadata"]["generateName"] == "job-"
    assert body["metadata"]["labels"] == {"broadcastjob-name": NAME, "broadcastjob-controller-uid": UID}
    assert body["metadata"]["ownerReferences"] == [
        {"apiVersion": "apps.kruise.io/v1beta1", "kind": "BroadcastJob", "name": NAME, "uid": UID,
         "controller": True, "blockOwnerDeletion": True}
    ]  # fmt: skip
    assert "nodeName" not in body["spec"]
    assert body["spec"]["affinity"] == {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
                ]
            }
        }
    }
    assert result.status == {
        "startTime": NOW_TEXT, "phase": "running", "active": 3, "failed": 0, "succeeded": 0, "desired": 3,
    }  # fmt: skip
    assert result.events == ()
    assert result.delete_pods == ()
    assert result.requeue_after is None


def test_template_node_affinity_is_replaced_by_the_node_term_preferred_kept() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a"]}]}
                ]
            },
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {}}],
        }
    }
    spec = {
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c"}], "affinity": affinity}}
    }
    result = plan(observed(job(spec), nodes=[node("a1", {"pool": "a"}), node("b1", {"pool": "b"})]), T0)
    assert created_on(result) == ["a1"]
    got = result.create_pods[0].body["spec"]["affinity"]["nodeAffinity"]
    assert got["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a1"]}]}
    ]
    assert got["preferredDuringSchedulingIgnoredDuringExecution"] == [{"weight": 1, "preference": {}}]


NOSCHED = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
PREFER = {"key": "soft", "value": "x", "effect": "PreferNoSchedule"}
NOTREADY = {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}
CORDON = "node.kubernetes.io/unschedulable"
ZONES = [node("a", {"zone": "z1"}), node("b", {"zone": "z2"}), node("c")]


def required(*terms: dict[str, Any]) -> dict[str, Any]:
    selector = {"nodeSelectorTerms": list(terms)}
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": selector}}}


@pytest.mark.parametrize(
    ("template_extra", "nodes", "expected"),
    [
        pytest.param({}, [node("a"), node("b", taints=[NOSCHED])], ["a"], id="untolerated NoSchedule taint"),
        pytest.param({}, [node("a", taints=[PREFER])], ["a"], id="PreferNoSchedule is ignored"),
        pytest.param({}, [node("a", taints=[NOTREADY])], [], id="not-ready NoExecute taint (unready node)"),
        pytest.param(
            {"tolerations": [{**NOSCHED, "operator": "Equal"}]},
            [node("a", taints=[NOSCHED])], ["a"], id="tolerated by key/value/effect",
        ),
        pytest.param(
            {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "cpu"}]},
            [node("a", taints=[NOSCHED])], [], id="toleration value differs",
        ),
        pytest.param({"tolerations": [{"operator": "Exists"}]}, [node("a", taints=[NOSCHED, NOTREADY])],
                     ["a"], id="empty key Exists tolerates all"),
        pytest.param({}, [node("a", unschedulable=True), node("b")], ["b"], id="cordoned node"),
        pytest.param(
            {"tolerations": [{"key": CORDON, "operator": "Exists", "effect": "NoSchedule"}]},
            [node("a", unschedulable=True)], ["a"], id="cordon tolerated",
        ),
        pytest.param({"nodeSelector": {"zone": "z1"}}, ZONES, ["a"], id="nodeSelector"),
        pytest.param(
            required({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["z1"]}]}),
            ZONES, ["b", "c"], id="NotIn matches absent",
        ),
        pytest.param(
            required({"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["3"]}]},
                     {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["c"]}]}),
            [node("a", {"gen": "3"}), node("b", {"gen": "4"}), node("c")], ["b", "c"], id="ORed, Gt, fields",
        ),
        pytest.param({"nodeName": "b"}, [node("a"), node("b")], ["a", "b"], id="mock overwrites nodeName"),
        pytest.param(
            {"containers": [{"name": "c", "resources": {"requests": {"cpu": "8"}}}]},
            [node("a", cpu="4"), node("b", cpu="16")], ["b"], id="insufficient cpu on an empty node",
        ),
        pytest.param(
            {"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]},
            [node("a")], [], id="extended resource the node lacks",
        ),
        pytest.param({}, [node("a", pods="0"), node("b")], ["b"], id="no pod slot"),
    ],
)  # fmt: skip
def test_node_eligibility(
    template_extra: dict[str, Any], nodes: list[dict[str, Any]], expected: list[str]
) -> None:
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c"}], **template_extra}}
    result = plan(observed(job({"template": template}), nodes=nodes), T0)
    assert created_on(result) == expected
    assert result.status is not None
    assert result.status["desired"] == len(expected)


@pytest.mark.parametrize(
    ("parallelism", "running", "expected_new"),
    [(2, 0, 2), (2, 1, 1), (2, 2, 0), ("50%", 0, 3), ("20%", 0, 1), ("34%", 1, 1)],
)
def test_parallelism_caps_active_pods(parallelism: int | str, running: int, expected_new: int) -> None:
    # 5 nodes: a percent is of desired (5), rounded up: 50% -> 3, 20% -> 1, 34% -> 2.
    nodes = [node(f"n{i}") for i in range(5)]
    pods = [pod(f"p{i}", f"n{i}") for i in range(running)]
    result = plan(observed(job({"parallelism": parallelism}, dict(RUNNING)), pods, nodes), T0)
    assert created_on(result) == [f"n{i}" for i in range(running, running + expected_new)]
    assert result.status is not None
    assert result.status["active"] == running + expected_new


def test_too_many_active_pods_warns_and_creates_nothing() -> None:
    nodes = [node(f"n{i}") for i in range(3)]
    result = plan(
        observed(job({"parallelism": 1}, dict(RUNNING)), [pod("p0", "n0"), pod("p1", "n1")], nodes), T0
    )
    assert result.create_pods == ()
    assert result.events == (
        Event("TooManyActivePods", "Number of active pods exceed parallelism limit", "Warning"),
    )


def test_always_completes_when_every_desired_node_has_a_finished_pod_and_sets_ttl_timer() -> None:
    spec = {
        "completionPolicy": {"type": "Always", "ttlSecondsAfterFinished": 30},
        "failurePolicy": {"type": "Continue"},
    }
    pods = [pod("p0", "n0", "Succeeded"), pod("p1", "n1", "Succeeded"), pod("p2", "n2", "Failed")]
    result = plan(observed(job(spec, dict(RUNNING)), pods, [node("n0"), node("n1"), node("n2")]), T0 + 5)
    stamp = "2026-01-01T00:00:05Z"
    assert result.status == {
        "startTime": NOW_TEXT, "phase": "completed", "active": 0, "succeeded": 2, "failed": 1, "desired": 3,
        "completionTime": stamp,
        "conditions": [{"type": "Complete", "status": "True", "lastProbeTime": stamp,
                        "lastTransitionTime": stamp, "reason": "Complete",
                        "message": "Job completed, 2 pods succeeded, 1 pods failed"}],
    }  # fmt: skip
    assert result.events == (
        Event("JobComplete", "Job ns/job is completed, 2 pods succeeded, 1 pods failed"),
    )
    assert result.requeue_after == 30


def test_not_complete_while_a_desired_node_has_no_pod_yet() -> None:
    pods = [pod("p0", "n0", "Succeeded")]
    result = plan(observed(job({}, dict(RUNNING)), pods, [node("n0"), node("n1")]), T0)
    assert created_on(result) == ["n1"]
    assert result.status is not None
    assert result.status["phase"] == "running"


def finished(ttl: int | None, completion: str = "2026-01-01T00:01:00Z") -> dict[str, Any]:
    spec: dict[str, Any] = {"completionPolicy": {"type": "Always"}}
    if ttl is not None:
        spec["completionPolicy"]["ttlSecondsAfterFinished"] = ttl
    cond = {"type": "Complete", "status": "True", "reason": "Complete", "message": "m"}
    return job(spec, {**RUNNING, "phase": "completed", "completionTime": completion, "conditions": [cond]})


@pytest.mark.parametrize(
    ("ttl", "now", "delete", "requeue"),
    [
        (None, T0 + 1000, False, None),
        (30, T0 + 70, False, 20.0),
        (30, T0 + 90, True, None),
        (0, T0 + 60, True, None),
    ],
)
def test_finished_job_waits_out_ttl_then_is_deleted(
    ttl: int | None, now: float, delete: bool, requeue: float | None
) -> None:
    result = plan(observed(finished(ttl), [pod("p0", "n0", "Succeeded")], [node("n0"), node("n1")]), now)
    assert (result.delete_job, result.requeue_after) == (delete, requeue)
    assert result.create_pods == ()
    assert result.status is None


def test_failfast_fails_the_job_and_deletes_active_pods() -> None:
    pods = [pod("a", "n0", "Failed"), pod("b", "n1", "Running"), pod("c", "n2", "Succeeded")]
    result = plan(
        observed(job({}, dict(RUNNING)), pods, [node("n0"), node("n1"), node("n2"), node("n3")]), T0
    )
    message = "failure policy is FailurePolicyTypeFailFast and failed pod is found"
    assert result.delete_pods == (DeletePod("b", "pod-b"),)
    assert result.create_pods == ()
    assert result.events == (
        Event("failed pod is found", f"{message}: 1 pods succeeded, 1 pods failed", "Warning"),
        Event("SuccessfulDelete", "Delete pod: b"),
        Event("failed pod is found", f"{message}: 1 pods succeeded, 2 pods failed", "Warning"),
    )
    assert result.status is not None
    status = result.status
    assert (status["phase"], status["active"], status["failed"], status["desired"]) == ("failed", 0, 2, 4)
    assert [(c["type"], c["reason"], c["message"]) for c in result.status["conditions"]] == [
        ("Failed", "Failed", message)
    ]


def test_failed_phase_only_refreshes_counts() -> None:
    status = {**RUNNING, "phase": "failed", "failed": 1}
    result = plan(
        observed(
            job({"completionPolicy": {"type": "Never"}}, status),
            [pod("a", "n0", "Failed")],
            [node("n0"), node("n1")],
        ),
        T0,
    )
    assert result.create_pods == ()
    assert result.delete_pods == ()
    assert result.events == ()
    assert result.status is not None
    assert result.status["desired"] == 2


def test_continue_keeps_creating_after_a_failure() -> None:
    spec = {"failurePolicy": {"type": "Continue"}}
    result = plan(
        observed(job(spec, dict(RUNNING)), [pod("a", "n0", "Failed")], [node("n0"), node("n1")]), T0
    )
    assert created_on(result) == ["n1"]
    assert result.status is not None
    assert (result.status["phase"], result.status["failed"]) == ("running", 1)


def test_restart_limit_counts_an_onfailure_pod_restarted_too_often_as_failed() -> None:
    spec = {"failurePolicy": {"type": "Continue", "restartLimit": 2}}
    pods = [
        pod("a", "n0", restarts=3, restart_policy="OnFailure"),
        pod("b", "n1", restarts=2, restart_policy="OnFailure"),
        pod("c", "n2", restarts=5),
    ]
    result = plan(observed(job(spec, dict(RUNNING)), pods, [node("n0"), node("n1"), node("n2")]), T0)
    assert result.status is not None
    assert (result.status["active"], result.status["failed"]) == (2, 1)


def test_restart_limit_exceeded_under_failfast_fails_the_job() -> None:
    spec = {"failurePolicy": {"type": "FailFast", "restartLimit": 1}}
    pods = [pod("a", "n0", restarts=2, restart_policy="OnFailure"), pod("b", "n1")]
    result = plan(observed(job(spec, dict(RUNNING)), pods, [node("n0"), node("n1")]), T0)
    assert result.delete_pods == (DeletePod("b", "pod-b"),)  # only the active pod; the failed one stays
    assert result.status is not None
    assert result.status["phase"] == "failed"


def test_pause_policy_pauses_on_a_failed_pod() -> None:
    spec = {"failurePolicy": {"type": "Pause"}}
    result = plan(
        observed(job(spec, dict(RUNNING)), [pod("a", "n0", "Failed")], [node("n0"), node("n1")]), T0
    )
    assert result.create_pods == ()
    assert result.events == (Event("Paused", "job is paused, due to failed pod", "Warning"),)
    assert result.status is not None
    assert result.status["phase"] == "paused"
    again = plan(
        observed(job(spec, {**result.status}), [pod("a", "n0", "Failed")], [node("n0"), node("n1")]), T0 + 1
    )
    assert again.events == ()
    assert again.status is None
    assert again.create_pods == ()


def test_paused_stops_creating_and_unpausing_continues() -> None:
    nodes = [node("n0"), node("n1")]
    paused = plan(observed(job({"paused": True}, dict(RUNNING)), [], nodes), T0)
    assert paused.create_pods == ()
    assert paused.status is not None
    assert paused.status["phase"] == "paused"
    resumed = plan(observed(job({"paused": False}, {**paused.status}), [], nodes), T0)
    assert created_on(resumed) == ["n0", "n1"]
    assert resumed.events == (Event("Continue", "continue to process job"),)
    assert resumed.status is not None
    assert resumed.status["phase"] == "running"


def test_active_deadline_requeues_then_fails_the_job() -> None:
    spec = {"completionPolicy": {"type": "Always", "activeDeadlineSeconds": 60}}
    before = plan(observed(job(spec, dict(RUNNING)), [pod("a", "n0")], [node("n0")]), T0 + 45)
    assert before.requeue_after == 15
    assert before.delete_pods == ()
    after = plan(observed(job(spec, dict(RUNNING)), [pod("a", "n0")], [node("n0")]), T0 + 60)
    message = "Job ns/job was active longer than specified deadline"
    assert after.delete_pods == (DeletePod("a", "pod-a"),)
    assert after.events == (
        Event("SuccessfulDelete", "Delete pod: a"),
        Event("DeadlineExceeded", f"{message}: 0 pods succeeded, 1 pods failed", "Warning"),
    )
    assert after.status is not None
    assert after.status["conditions"][0]["message"] == message
    assert after.requeue_after is None


def test_first_pass_with_deadline_requeues_the_full_deadline() -> None:
    spec = {"completionPolicy": {"type": "Always", "activeDeadlineSeconds": 60}}
    result = plan(observed(job(spec), [], [node("n0")]), T0)
    assert result.requeue_after == 60


def test_never_does_not_complete_and_a_new_node_gets_a_pod() -> None:
    spec = {"completionPolicy": {"type": "Never"}}
    pods = [pod("a", "n0", "Succeeded")]
    result = plan(
        observed(job(spec, {**RUNNING, "succeeded": 1, "desired": 1}), pods, [node("n0"), node("n1")]), T0
    )
    assert created_on(result) == ["n1"]
    assert result.status is not None
    assert result.status["phase"] == "running"
    assert "conditions" not in result.status


def test_never_with_every_pod_done_stays_running() -> None:
    spec = {"completionPolicy": {"type": "Never"}}
    status = {**RUNNING, "succeeded": 1, "desired": 1}
    result = plan(observed(job(spec, status), [pod("a", "n0", "Succeeded")], [node("n0")]), T0)
    assert result.status is None
    assert result.create_pods == ()


@pytest.mark.parametrize(
    "changed",
    [node("n1", unschedulable=True), node("n1", taints=[NOSCHED]), node("n1", taints=[NOTREADY])],
    ids=["cordoned", "tainted", "not ready"],
)
def test_pod_on_a_node_that_no_longer_fits_is_deleted_and_counted_failed(changed: dict[str, Any]) -> None:
    spec = {"completionPolicy": {"type": "Never"}}
    pods = [pod("a", "n0"), pod("b", "n1")]
    result = plan(observed(job(spec, dict(RUNNING)), pods, [node("n0"), changed]), T0)
    assert result.delete_pods == (DeletePod("b", "pod-b"),)
    assert result.status is not None
    assert (result.status["active"], result.status["failed"], result.status["desired"]) == (1, 1, 1)


def test_removed_node_drops_out_of_desired_and_its_pod_is_left_alone() -> None:
    pods = [pod("a", "n0", "Succeeded"), pod("b", "gone")]
    result = plan(observed(job({}, dict(RUNNING)), pods, [node("n0")]), T0)
    assert result.delete_pods == ()
    assert result.status is not None
    assert (result.status["desired"], result.status["active"]) == (1, 1)
    assert result.status["phase"] == "completed"


def test_pods_of_another_controller_are_ignored_and_duplicates_warn() -> None:
    pods = [pod("x", "n0", owner="other"), pod("a", "n1"), pod("b", "n1")]
    result = plan(observed(job({}, dict(RUNNING)), pods, [node("n0"), node("n1")]), T0)
    assert created_on(result) == ["n0"]
    assert (
        Event("DuplicatePodCreatedOnSameNode", "Duplicated pod b found on same node n1", "Warning")
        in result.events
    )


def test_deleting_job_creates_nothing() -> None:
    result = plan(observed(job({}, dict(RUNNING), deleting=True), [], [node("n0")]), T0)
    assert result.create_pods == ()


def test_replaying_a_settled_state_changes_nothing() -> None:
    status = {**RUNNING, "active": 2, "desired": 2}
    result = plan(
        observed(job({}, status), [pod("a", "n0"), pod("b", "n1")], [node("n0"), node("n1")]), T0 + 3
    )
    assert result.status is None
    assert result.create_pods == ()
    assert result.delete_pods == ()
    assert result.events == ()
