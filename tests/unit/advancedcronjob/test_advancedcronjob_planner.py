"""AdvancedCronJob planner tables: time is an argument, never slept for. Expected values are
worked by hand from kruise v1.9.1's advancedcronjob_job_controller.go (getNextSchedule,
history pruning, concurrency policies, constructJobForCronJob) and robfig/cron's schedules."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.kruise.advancedcronjob import AdvancedCronJob
from workers.advancedcronjob.observed import ObservedCronJob
from workers.advancedcronjob.planner import DeleteChild, plan

#: 2026-01-01T00:00:00Z
T0 = 1767225600
MIN = 60


def cron(
    spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, kind: str = "Job"
) -> dict[str, Any]:
    if kind == "Job":
        template: dict[str, Any] = {
            "jobTemplate": {
                "metadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}},
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c"}]}}},
            }
        }
    else:
        template = {
            "broadcastJobTemplate": {
                "metadata": {"labels": {"team": "b"}},
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c"}]}}},
            }
        }
    raw: dict[str, Any] = {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "AdvancedCronJob",
        "metadata": {
            "name": "cron",
            "namespace": "ns",
            "uid": "u1",
            "creationTimestamp": "2026-01-01T00:00:30Z",
        },
        "spec": {"schedule": "*/5 * * * *", "template": template, **(spec or {})},
    }
    if status is not None:
        raw["status"] = status
    return raw


def child(
    name: str, scheduled: str | None = None, done: str = "", start: str | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "5"}
    if scheduled:
        meta["annotations"] = {"apps.kruise.io/scheduled-at": scheduled}
    status: dict[str, Any] = {}
    if done:
        status["conditions"] = [{"type": done, "status": "True"}]
    if start:
        status["startTime"] = start
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "status": status}


def observed(raw: dict[str, Any], children: list[dict[str, Any]] | None = None) -> ObservedCronJob:
    return ObservedCronJob(raw, AdvancedCronJob.from_wire(raw), tuple(children or ()))


def test_before_the_first_run_waits_for_it() -> None:
    result = plan(observed(cron()), T0 + 3 * MIN)
    assert result.create_child is None
    assert result.requeue_after == 2 * MIN
    assert result.status == {"type": "Job"}


def test_a_due_run_creates_the_job_named_after_its_time() -> None:
    result = plan(observed(cron(), []), T0 + 5 * MIN + 10)
    assert result.create_child == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"cron-{T0 + 300}",
            "namespace": "ns",
            "labels": {"team": "a"},
            "annotations": {"note": "x", "apps.kruise.io/scheduled-at": "2026-01-01T00:05:00Z"},
            "ownerReferences": [
                {"apiVersion": "apps.kruise.io/v1beta1", "kind": "AdvancedCronJob", "name": "cron",
                 "uid": "u1", "controller": True, "blockOwnerDeletion": True}
            ],
        },
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c"}]}}},
    }  # fmt: skip
    assert result.requeue_after == 290


def test_the_run_already_made_is_not_made_again_and_shows_in_status() -> None:
    kids = [child("cron-1767225900", "2026-01-01T00:05:00Z")]
    result = plan(observed(cron(), kids), T0 + 5 * MIN + 20)
    assert result.create_child is None
    assert result.requeue_after == 280
    assert result.status == {
        "type": "Job",
        "lastScheduleTime": "2026-01-01T00:05:00Z",
        "active": [{"kind": "Job", "namespace": "ns", "name": "cron-1767225900", "uid": "uid-cron-1767225900",
                    "apiVersion": "batch/v1", "resourceVersion": "5"}],
    }  # fmt: skip


def test_after_downtime_only_the_latest_missed_run_starts() -> None:
    kids = [child("cron-1767225900", "2026-01-01T00:05:00Z", "Complete")]
    result = plan(observed(cron(), kids), T0 + 27 * MIN + 30)
    assert result.create_child is not None
    assert result.create_child["metadata"]["name"] == f"cron-{T0 + 25 * MIN}"
    assert result.requeue_after == 150


@pytest.mark.parametrize(
    ("deadline", "expected"),
    [(60, None), (200, f"cron-{T0 + 25 * MIN}")],
    ids=["the missed run is older than the deadline", "within the deadline"],
)
def test_starting_deadline_bounds_how_far_back_a_run_counts(deadline: int, expected: str | None) -> None:
    kids = [child("cron-1767225900", "2026-01-01T00:05:00Z", "Complete")]
    result = plan(observed(cron({"startingDeadlineSeconds": deadline}), kids), T0 + 27 * MIN + 30)
    assert (result.create_child or {}).get("metadata", {}).get("name") == expected
    assert result.requeue_after == 150


def test_more_than_100_missed_runs_is_an_error_and_no_timer() -> None:
    result = plan(observed(cron({"schedule": "* * * * *"})), T0 + 200 * MIN)
    assert result.create_child is None
    assert result.requeue_after is None
    assert "too many missed start times (> 100)" in result.reason


def test_deadline_lets_a_long_downtime_resume() -> None:
    result = plan(
        observed(cron({"schedule": "* * * * *", "startingDeadlineSeconds": 30})), T0 + 200 * MIN + 10
    )
    assert result.create_child is not None
    assert result.create_child["metadata"]["name"] == f"cron-{T0 + 200 * MIN}"
    assert result.requeue_after == 50


RUNNING = child("cron-1767225900", "2026-01-01T00:05:00Z")


@pytest.mark.parametrize(
    ("policy", "creates", "deletes"),
    [
        ("Allow", True, ()),
        ("Forbid", False, ()),
        ("Replace", True, (DeleteChild("cron-1767225900", "uid-cron-1767225900", "Replace"),)),
    ],
)
def test_concurrency_policy_with_a_run_still_active(
    policy: str, creates: bool, deletes: tuple[DeleteChild, ...]
) -> None:
    result = plan(observed(cron({"concurrencyPolicy": policy}), [RUNNING]), T0 + 10 * MIN + 1)
    assert (result.create_child is not None) == creates
    assert result.delete_children == deletes
    assert result.requeue_after == 299


def test_history_limits_delete_the_oldest_finished_children() -> None:
    kids = [
        child("s3", "2026-01-01T00:15:00Z", "Complete", "2026-01-01T00:15:01Z"),
        child("s1", "2026-01-01T00:05:00Z", "Complete", "2026-01-01T00:05:01Z"),
        child("s2", "2026-01-01T00:10:00Z", "Complete", "2026-01-01T00:10:01Z"),
        child("f1", "2026-01-01T00:00:00Z", "Failed", "2026-01-01T00:00:01Z"),
        child("f0", None, "Failed", None),
        child("f2", "2026-01-01T00:20:00Z", "Failed", "2026-01-01T00:20:01Z"),
    ]
    spec = {"successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 1}
    result = plan(observed(cron(spec), kids), T0 + 22 * MIN)
    # failed first, oldest first; a child without startTime counts oldest
    assert [d.name for d in result.delete_children] == ["f0", "f1", "s1", "s2"]
    assert result.status is not None
    assert result.status["lastScheduleTime"] == "2026-01-01T00:20:00Z"
    assert "active" not in result.status


def test_default_history_keeps_three_succeeded_and_one_failed() -> None:
    kids = [child(f"s{i}", None, "Complete", f"2026-01-01T00:0{i}:00Z") for i in range(5)]
    kids += [
        child("f1", None, "Failed", "2026-01-01T00:01:00Z"),
        child("f2", None, "Failed", "2026-01-01T00:02:00Z"),
    ]
    result = plan(observed(cron(), kids), T0 + 3 * MIN)
    assert [d.name for d in result.delete_children] == ["f1", "s0", "s1"]


def test_paused_prunes_and_writes_status_but_runs_nothing_and_sets_no_timer() -> None:
    kids = [
        child("f1", None, "Failed", "2026-01-01T00:01:00Z"),
        child("f2", None, "Failed", "2026-01-01T00:02:00Z"),
    ]
    result = plan(observed(cron({"paused": True}), kids), T0 + 5 * MIN + 10)
    assert result.create_child is None
    assert result.requeue_after is None
    assert [d.name for d in result.delete_children] == ["f1"]
    assert result.status == {"type": "Job"}


@pytest.mark.parametrize(
    ("spec", "name", "scheduled_at"),
    [
        (
            {"schedule": "0 9 * * *", "timeZone": "Asia/Shanghai"},
            f"cron-{T0 + 3600}",
            "2026-01-01T09:00:00+08:00",
        ),
        ({"schedule": "TZ=Asia/Shanghai 0 9 * * *"}, f"cron-{T0 + 3600}", "2026-01-01T09:00:00+08:00"),
        ({"schedule": "0 1 * * *"}, f"cron-{T0 + 3600}", "2026-01-01T01:00:00Z"),
    ],
    ids=["timeZone", "TZ= prefix", "no zone: UTC"],
)
def test_time_zones(spec: dict[str, Any], name: str, scheduled_at: str) -> None:
    # created 00:00:30Z = 08:00:30 in Shanghai; 09:00 there is 01:00Z
    result = plan(observed(cron(spec)), T0 + 3600 + 5)
    assert result.create_child is not None
    assert result.create_child["metadata"]["name"] == name
    assert result.create_child["metadata"]["annotations"]["apps.kruise.io/scheduled-at"] == scheduled_at
    assert result.requeue_after == 24 * 3600 - 5


def test_hourly_descriptor() -> None:
    result = plan(observed(cron({"schedule": "@hourly"})), T0 + 10)
    assert result.requeue_after == 3600 - 10


def test_broadcast_job_template_makes_a_broadcast_job() -> None:
    result = plan(observed(cron(kind="BroadcastJob")), T0 + 5 * MIN)
    assert result.status == {"type": "BroadcastJob"}
    assert result.create_child is not None
    assert (result.create_child["apiVersion"], result.create_child["kind"]) == (
        "apps.kruise.io/v1beta1",
        "BroadcastJob",
    )
    assert result.create_child["metadata"]["labels"] == {"team": "b"}
    assert result.create_child["spec"] == {
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c"}]}}
    }


@pytest.mark.parametrize("schedule", ["not a cron", "61 * * * *", "* * * *", "@every 5m"])
def test_unusable_schedule_runs_nothing_and_sets_no_timer(schedule: str) -> None:
    result = plan(observed(cron({"schedule": schedule})), T0 + 5 * MIN)
    assert result.create_child is None
    assert result.requeue_after is None
    assert result.reason.startswith("unable to figure out the schedule: unparsable schedule")
