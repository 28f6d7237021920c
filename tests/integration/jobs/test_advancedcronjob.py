"""AdvancedCronJob on the real control plane, run by ``flotilla worker advancedcronjob``; its Jobs
are run by kube-controller-manager and finished by kwok.

No test waits for a schedule by the clock: three earlier runs are made by hand (Jobs the cron
job controls, ``apps.kruise.io/scheduled-at`` minutes ago), so, as kruise, the worker finds the
latest missed minute of ``* * * * *`` due at once and starts it; as the Jobs complete, the history
limit keeps one. Schedules, deadlines and policies are covered with a clock in the planner tests.
The module's stack also runs the ImageListPullJob worker, for the walk of ``imagelistpulljob_walk``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from flotilla.runtime.kube import JsonObject, Resource
from tests.integration.jobs import imagelistpulljob_walk
from tests.integration.jobs.conftest import JobStack
from tests.support.polling import eventually_async
from workers.advancedcronjob.worker import ADVANCED_CRON_JOBS, BROADCAST_JOBS, JOBS

V1ALPHA1 = Resource("apps.kruise.io", "v1alpha1", "advancedcronjobs", "AdvancedCronJob")
SCHEDULED_AT = "apps.kruise.io/scheduled-at"


@pytest.fixture(scope="module")
def worker_types() -> tuple[str, ...]:
    return ("advancedcronjob", "imagelistpulljob")


def job_spec() -> JsonObject:
    return {
        "backoffLimit": 0,
        "template": {
            "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}
        },
    }


async def jobs_of(stack: JobStack) -> dict[str, JsonObject]:
    listing = await stack.api.get(JOBS.path(stack.namespace))
    return {j["metadata"]["name"]: j for j in listing.get("items") or []}


def complete(job: JsonObject) -> bool:
    return any(
        c.get("type") == "Complete" and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or ()
    )


async def test_a_missed_run_starts_at_once_and_history_keeps_one(job_stack: JobStack) -> None:
    body = {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "AdvancedCronJob",
        "metadata": {"name": "tick", "namespace": job_stack.namespace},
        "spec": {
            "schedule": "* * * * *",
            "successfulJobsHistoryLimit": 1,
            "template": {"jobTemplate": {"metadata": {"labels": {"app": "tick"}}, "spec": job_spec()}},
        },
    }
    made = await job_stack.api.create(V1ALPHA1.path(job_stack.namespace), body)
    owner = {
        "apiVersion": "apps.kruise.io/v1beta1", "kind": "AdvancedCronJob", "name": "tick",
        "uid": made["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True,
    }  # fmt: skip
    minute = int(time.time()) // 60 * 60
    earlier = [minute - 600, minute - 540, minute - 480]
    for at in earlier:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
        child = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": f"tick-{at}",
                "namespace": job_stack.namespace,
                "annotations": {SCHEDULED_AT: stamp},
                "ownerReferences": [owner],
            },
            "spec": job_spec(),
        }
        await job_stack.api.create(JOBS.path(job_stack.namespace), child)

    async def new_run() -> list[str]:
        return sorted(n for n in await jobs_of(job_stack) if int(n.rsplit("-", 1)[1]) >= minute)

    runs = await eventually_async(
        new_run, 90, 0.5, lambda: f"a run of this minute or later ({job_stack.log_text()})"
    )
    first = runs[0]
    jobs = await jobs_of(job_stack)
    created: dict[str, Any] = jobs[first]
    assert created["metadata"]["labels"]["app"] == "tick"
    [ref] = created["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["name"], ref["controller"]) == ("AdvancedCronJob", "tick", True)
    at = int(first.rsplit("-", 1)[1])
    assert at % 60 == 0
    assert created["metadata"]["annotations"][SCHEDULED_AT] == time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)
    )

    async def pruned() -> list[str]:
        jobs = await jobs_of(job_stack)
        done = sorted(n for n, j in jobs.items() if complete(j))
        return done if len(done) == 1 and all(f"tick-{e}" not in jobs for e in earlier) else []

    kept = await eventually_async(pruned, 60, 0.5, lambda: f"one completed Job kept ({job_stack.log_text()})")
    assert int(kept[0].rsplit("-", 1)[1]) >= minute

    status = (await job_stack.api.get(ADVANCED_CRON_JOBS.path(job_stack.namespace, "tick")))["status"]
    assert status["type"] == "Job"
    assert status["lastScheduleTime"] >= time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def broadcast_template() -> JsonObject:
    pod = {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}
    return {"spec": {"template": pod, "paused": True}}


async def broadcastjobs_of(stack: JobStack) -> dict[str, JsonObject]:
    listing = await stack.api.get(BROADCAST_JOBS.path(stack.namespace))
    return {j["metadata"]["name"]: j for j in listing.get("items") or []}


async def cron_with_an_active_run(
    stack: JobStack, name: str, policy: str, paused: bool = False
) -> tuple[str, int]:
    """A BroadcastJob-template AdvancedCronJob and, made by hand, its run of five minutes ago that
    is still active (no BroadcastJob worker runs here: it never finishes). Returns that run's name
    and the start of the current minute."""
    body = {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "AdvancedCronJob",
        "metadata": {"name": name, "namespace": stack.namespace},
        "spec": {
            "schedule": "* * * * *",
            "concurrencyPolicy": policy,
            "paused": paused,
            "template": {"broadcastJobTemplate": broadcast_template()},
        },
    }
    made = await stack.api.create(V1ALPHA1.path(stack.namespace), body)
    owner = {
        "apiVersion": "apps.kruise.io/v1beta1", "kind": "AdvancedCronJob", "name": name,
        "uid": made["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True,
    }  # fmt: skip
    minute = int(time.time()) // 60 * 60
    at = minute - 300
    child = {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "BroadcastJob",
        "metadata": {
            "name": f"{name}-{at}",
            "namespace": stack.namespace,
            "annotations": {SCHEDULED_AT: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))},
            "ownerReferences": [owner],
        },
        **broadcast_template(),
    }
    await stack.api.create(BROADCAST_JOBS.path(stack.namespace), child)
    return f"{name}-{at}", minute


async def test_replace_deletes_the_active_run_forbid_keeps_it_paused_waits(job_stack: JobStack) -> None:
    old_replaced, minute = await cron_with_an_active_run(job_stack, "swap", "Replace")
    old_kept, _ = await cron_with_an_active_run(job_stack, "hold", "Forbid")
    old_rest, _ = await cron_with_an_active_run(job_stack, "rest", "Allow", paused=True)

    async def replaced() -> list[str]:
        names = sorted(n for n in await broadcastjobs_of(job_stack) if n.startswith("swap-"))
        return names if old_replaced not in names and names else []

    [new] = await eventually_async(
        replaced, 90, 0.5, lambda: f"the active run replaced ({job_stack.log_text()[-3000:]})"
    )
    assert int(new.rsplit("-", 1)[1]) >= minute
    status = (await job_stack.api.get(ADVANCED_CRON_JOBS.path(job_stack.namespace, "swap")))["status"]
    assert status["type"] == "BroadcastJob"

    # Forbid: the worker has seen the active run (status.active names it) and started nothing.
    async def seen_active() -> JsonObject:
        cron = await job_stack.api.get(ADVANCED_CRON_JOBS.path(job_stack.namespace, "hold"))
        active = [ref.get("name") for ref in (cron.get("status") or {}).get("active") or ()]
        return cron if active == [old_kept] else {}

    await eventually_async(seen_active, 60, 0.5, "the Forbid cron job's active run in its status")
    # That pass found this minute's run due (the latest run is five minutes old) and skipped it; a
    # run it had started would be created in the same pass: watch for one a few seconds longer.
    for _ in range(6):
        runs = sorted(n for n in await broadcastjobs_of(job_stack) if n.startswith("hold-"))
        assert runs == [old_kept], "Forbid started a run while one was active"
        await asyncio.sleep(0.5)

    # paused: the status is kept (the active run listed) but no run starts; unpaused, the due run does.
    async def rest_seen() -> JsonObject:
        cron = await job_stack.api.get(ADVANCED_CRON_JOBS.path(job_stack.namespace, "rest"))
        active = [ref.get("name") for ref in (cron.get("status") or {}).get("active") or ()]
        return cron if active == [old_rest] else {}

    await eventually_async(rest_seen, 60, 0.5, "the paused cron job's active run in its status")
    assert sorted(n for n in await broadcastjobs_of(job_stack) if n.startswith("rest-")) == [old_rest]
    await job_stack.api.patch(
        V1ALPHA1.path(job_stack.namespace, "rest"), {"spec": {"paused": False}}, "merge", "test"
    )

    async def resumed() -> list[str]:
        names = sorted(n for n in await broadcastjobs_of(job_stack) if n.startswith("rest-"))
        return names if len(names) == 2 else []

    runs = await eventually_async(resumed, 90, 0.5, "a run once unpaused (Allow: next to the active one)")
    assert int(max(runs, key=lambda n: int(n.rsplit("-", 1)[1])).rsplit("-", 1)[1]) >= minute


async def test_imagelistpulljob_children_status_ttl_and_garbage_collection(job_stack: JobStack) -> None:
    await imagelistpulljob_walk.walk(job_stack)
