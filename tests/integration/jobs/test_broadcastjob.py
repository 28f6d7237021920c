"""BroadcastJob on the real control plane, NATS and kwok nodes, run by ``flotilla worker broadcastjob``.

Each job selects only the nodes the test creates (``kwok_nodes``: a pool label). kwok finishes a
pod when its template asks (annotation ``kwok.flotilla.dev/finish``, test infrastructure the
worker never reads). Expected values are kruise v1.9.1's (broadcastjob_controller.go): one pod
per eligible node bound by a ``metadata.name`` node-affinity term, phases, conditions, counts.
"""

from __future__ import annotations

from typing import Any

from flotilla.devcluster.kwok_nodes import FINISH_ANNOTATION
from flotilla.runtime.errors import NotFound
from flotilla.runtime.kube import EVENTS, PODS, JsonObject, Resource
from tests.integration.jobs.conftest import NODES, POOL_LABEL, AddNode, JobStack
from tests.support.polling import eventually_async
from workers.broadcastjob.worker import BROADCASTJOBS

V1ALPHA1 = Resource("apps.kruise.io", "v1alpha1", "broadcastjobs", "BroadcastJob")


def manifest(stack: JobStack, name: str, finish: str | None, **spec: Any) -> JsonObject:
    annotations = {FINISH_ANNOTATION: finish} if finish else {}
    template = {
        "metadata": {"labels": {"app": name}, "annotations": annotations},
        "spec": {
            "nodeSelector": {POOL_LABEL: stack.pool},
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox"}],
        },
    }
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "BroadcastJob",
        "metadata": {"name": name, "namespace": stack.namespace},
        "spec": {"template": template, **spec},
    }


async def create(stack: JobStack, body: JsonObject) -> None:
    """Apply as a user would, at v1alpha1 (the API server converts to the stored v1beta1)."""
    await stack.api.create(V1ALPHA1.path(stack.namespace), body)


async def status_of(stack: JobStack, name: str) -> dict[str, Any]:
    job = await stack.api.get(BROADCASTJOBS.path(stack.namespace, name))
    return dict(job.get("status") or {})


async def pods_of(stack: JobStack, name: str) -> list[JsonObject]:
    listing = await stack.api.get(PODS.path(stack.namespace), {"labelSelector": f"broadcastjob-name={name}"})
    return list(listing.get("items") or [])


def counts(status: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(status.get(k) for k in ("phase", "desired", "active", "succeeded", "failed"))


async def wait_counts(
    stack: JobStack, name: str, expected: tuple[Any, ...], within: float = 40
) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        status = await status_of(stack, name)
        return status if counts(status) == expected else {}

    found: dict[str, Any] = await eventually_async(
        check, within, 0.3, lambda: f"counts {expected} ({stack.log_text()[-3000:]})"
    )
    return found


async def event_reasons(stack: JobStack, name: str) -> list[str]:
    listing = await stack.api.get(
        EVENTS.path(stack.namespace),
        {"fieldSelector": f"involvedObject.name={name},involvedObject.kind=BroadcastJob"},
    )
    return sorted(str(e.get("reason")) for e in listing.get("items") or [])


def bound_node(pod: JsonObject) -> str:
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    [term] = terms["nodeSelectorTerms"]
    [field] = term["matchFields"]
    assert (field["key"], field["operator"]) == ("metadata.name", "In")
    [node] = field["values"]
    return str(node)


async def test_paused_then_always_runs_one_pod_per_node_to_completion_then_ttl_deletes(
    job_stack: JobStack, kwok_nodes: AddNode
) -> None:
    names = [(await kwok_nodes(s))["metadata"]["name"] for s in ("a", "b", "c")]
    policy = {"type": "Always", "ttlSecondsAfterFinished": 3}
    body = manifest(job_stack, "run", "Succeeded", parallelism="50%", completionPolicy=policy, paused=True)
    await create(job_stack, body)
    # paused: desired is counted, no pod is made
    await wait_counts(job_stack, "run", ("paused", 3, 0, 0, 0))
    assert await pods_of(job_stack, "run") == []
    await job_stack.api.patch(
        V1ALPHA1.path(job_stack.namespace, "run"), {"spec": {"paused": False}}, "merge", "test"
    )

    status = await wait_counts(job_stack, "run", ("completed", 3, 0, 3, 0))
    [condition] = status["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == ("Complete", "True", "Complete")
    assert condition["message"] == "Job completed, 3 pods succeeded, 0 pods failed"
    assert status["startTime"] <= status["completionTime"]
    pods = await pods_of(job_stack, "run")
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(names)
    assert all(bound_node(p) == p["spec"]["nodeName"] for p in pods)
    assert all(p["metadata"]["generateName"] == "run-" for p in pods)
    reasons = await event_reasons(job_stack, "run")
    assert reasons.count("SuccessfulCreate") == 3
    assert "JobComplete" in reasons
    assert "Continue" in reasons

    async def gone() -> bool:
        try:
            await job_stack.api.get(BROADCASTJOBS.path(job_stack.namespace, "run"))
        except NotFound:
            return True
        return False

    await eventually_async(gone, 30, 0.3, "the job deleted after ttlSecondsAfterFinished")


async def test_never_picks_up_a_node_added_later_and_drops_a_cordoned_one(
    job_stack: JobStack, kwok_nodes: AddNode
) -> None:
    first = [(await kwok_nodes(s))["metadata"]["name"] for s in ("a", "b")]
    await create(job_stack, manifest(job_stack, "keep", None, completionPolicy={"type": "Never"}))
    await wait_counts(job_stack, "keep", ("running", 2, 2, 0, 0))

    late = (await kwok_nodes("late"))["metadata"]["name"]
    await wait_counts(job_stack, "keep", ("running", 3, 3, 0, 0))

    async def scheduled() -> list[str] | None:
        nodes = sorted(str(p["spec"].get("nodeName", "")) for p in await pods_of(job_stack, "keep"))
        return nodes if nodes == sorted([*first, late]) else None

    await eventually_async(scheduled, 30, 0.3, "a pod scheduled on each of the three nodes")

    await job_stack.api.patch(NODES.path("", first[0]), {"spec": {"unschedulable": True}}, "merge", "test")
    # kruise: the pod no longer fits its node, so it is deleted (counted failed in that pass only:
    # the next pass counts the pods there are); the node leaves desired.
    await wait_counts(job_stack, "keep", ("running", 2, 2, 0, 0))

    async def left_cordoned_node() -> bool:
        return all(p["spec"].get("nodeName") != first[0] for p in await pods_of(job_stack, "keep"))

    await eventually_async(left_cordoned_node, 30, 0.3, "the cordoned node's pod gone")
    assert "SuccessfulDelete" in await event_reasons(job_stack, "keep")

    # a node removed: kruise lists the nodes there are, so desired drops at once (the pod bound to
    # the gone node stays counted until kube-controller-manager's pod GC deletes it).
    await job_stack.api.delete(NODES.path("", late))

    async def desired_one() -> dict[str, Any]:
        status = await status_of(job_stack, "keep")
        return status if (status.get("phase"), status.get("desired")) == ("running", 1) else {}

    await eventually_async(desired_one, 30, 0.3, "desired 1 once a node is removed")


async def test_failfast_fails_the_job_at_the_first_failed_pod(
    job_stack: JobStack, kwok_nodes: AddNode
) -> None:
    for suffix in ("a", "b"):
        await kwok_nodes(suffix)
    await create(job_stack, manifest(job_stack, "boom", "Failed", parallelism=1))

    status = await wait_counts(job_stack, "boom", ("failed", 2, 0, 0, 1))
    [condition] = status["conditions"]
    assert (condition["type"], condition["reason"]) == ("Failed", "Failed")
    assert condition["message"] == "failure policy is FailurePolicyTypeFailFast and failed pod is found"
    assert "completionTime" in status
    # parallelism 1: one pod ran, failed, and the job stopped there.
    assert len(await pods_of(job_stack, "boom")) == 1
    assert "failed pod is found" in await event_reasons(job_stack, "boom")


async def test_failure_policies_deadline_and_an_untolerated_taint(
    job_stack: JobStack, kwok_nodes: AddNode
) -> None:
    """One stack for four behaviours (a stack start costs more than the jobs): node c carries a
    taint no job tolerates, so every job's desired is the two nodes a and b."""
    names = [(await kwok_nodes(s))["metadata"]["name"] for s in ("a", "b", "c")]
    taint = {"key": "flotilla.dev/dedicated", "value": "other", "effect": "NoSchedule"}
    await job_stack.api.patch(NODES.path("", names[2]), {"spec": {"taints": [taint]}}, "merge", "test")
    await create(job_stack, manifest(job_stack, "goon", "Failed", failurePolicy={"type": "Continue"}))
    pause = {"type": "Pause"}
    await create(job_stack, manifest(job_stack, "halt", "Failed", parallelism=1, failurePolicy=pause))
    deadline = {"type": "Always", "activeDeadlineSeconds": 8}
    await create(job_stack, manifest(job_stack, "late", None, completionPolicy=deadline))

    # the tainted node is not eligible: two pods, which never finish (no finish annotation)
    await wait_counts(job_stack, "late", ("running", 2, 2, 0, 0))
    assert sorted(p["spec"]["nodeName"] for p in await pods_of(job_stack, "late")) == sorted(names[:2])

    # Continue: every node's pod ran and failed; the job completes with the failures counted.
    status = await wait_counts(job_stack, "goon", ("completed", 2, 0, 0, 2))
    [condition] = status["conditions"]
    assert (condition["type"], condition["reason"]) == ("Complete", "Complete")
    assert condition["message"] == "Job completed, 0 pods succeeded, 2 pods failed"

    # Pause: the first failed pod pauses the job; no second pod. (kruise sets spec.paused in memory
    # but writes only the status, so the stored spec stays unpaused: the phase is what a user sees.)
    async def paused() -> JsonObject:
        job = await job_stack.api.get(BROADCASTJOBS.path(job_stack.namespace, "halt"))
        return job if (job.get("status") or {}).get("phase") == "paused" else {}

    job = await eventually_async(paused, 40, 0.3, lambda: f"halt paused ({job_stack.log_text()[-3000:]})")
    assert not job["spec"].get("paused")
    assert len(await pods_of(job_stack, "halt")) == 1
    assert "Paused" in await event_reasons(job_stack, "halt")

    # past the deadline: kruise deletes the active pods, counts them failed and fails the job
    status = await wait_counts(job_stack, "late", ("failed", 2, 0, 0, 2), within=40)
    [condition] = status["conditions"]
    assert (condition["type"], condition["reason"]) == ("Failed", "Failed")
    assert condition["message"] == f"Job {job_stack.namespace}/late was active longer than specified deadline"
    assert "DeadlineExceeded" in await event_reasons(job_stack, "late")

    async def pods_gone() -> bool:
        return all(p["metadata"].get("deletionTimestamp") for p in await pods_of(job_stack, "late"))

    await eventually_async(pods_gone, 30, 0.3, "the job's active pods deleted")
