"""Image pre-download for in-place update on the real control plane (e2e "pre-download for new image").

kruise v1.9.1 ``test/e2e/apps/v1alpha1/cloneset.go`` ("CloneSet pre-download images"): a CloneSet
of 5 replicas, InPlaceIfPossible, partition 1, minReadySeconds 10; once available, the
annotation ``apps.kruise.io/image-predownload-parallelism: "2"`` and a new image; then exactly one
ImagePullJob for the CloneSet (listed at v1alpha1, as the e2e does) with the new image and
parallelism 2. The worker runs with the gates kruise's e2e gives kruise-manager
(``E2E_FEATURE_GATES``: PreDownloadImageForInPlaceUpdate on). Beyond the spec: the job survives
many reconciles as one job (a lost mark makes the worker create it again: 409, still one), it is
deleted once the rollout completes (revisions agree, as kruise's ``DeleteJobsForWorkload``), and
with the gate off no job appears. Environment limit: no node agent pulls (issue #17), so the job
only exists; its status is nobody's to write here.
"""

from __future__ import annotations

import asyncio

import pytest

from flotilla.conformance.kruise_manager import E2E_FEATURE_GATES
from flotilla.runtime.kube import JsonObject, Resource
from tests.integration.cloneset.conftest import Stack
from tests.integration.cloneset.test_cloneset_stack import cloneset, eventually, manifest, status_is
from workers.cloneset.lowering import CLONESETS, CONTROLLER_REVISIONS

IMAGE_PULL_JOBS_V1ALPHA1 = Resource("apps.kruise.io", "v1alpha1", "imagepulljobs")
CREATED = "apps.kruise.io/pre-predownload-created"
IGNORED = "apps.kruise.io/image-predownload-ignored"
GATE_ON = [f"--feature-gates={E2E_FEATURE_GATES}"]
GATE_OFF = [f"--feature-gates={E2E_FEATURE_GATES},PreDownloadImageForInPlaceUpdate=false"]


async def _jobs_of_cloneset(stack: Stack) -> list[JsonObject]:
    """ImagePullJobs the CloneSet controls (the e2e's ``ListImagePullJobsForCloneSet``)."""
    uid = (await cloneset(stack))["metadata"]["uid"]
    listing = await stack.api.get(IMAGE_PULL_JOBS_V1ALPHA1.path(stack.namespace))
    return [
        job
        for job in listing.get("items", [])
        if any(
            r.get("uid") == uid and r.get("controller") for r in job["metadata"].get("ownerReferences", [])
        )
    ]


async def _start_rollout(stack: Stack) -> None:
    body = manifest(stack.namespace, 5, strategy={"type": "InPlaceIfPossible", "partition": 1})
    body["spec"]["minReadySeconds"] = 10
    body["spec"]["progressDeadlineSeconds"] = 600
    created = await stack.api.create(CLONESETS.path(stack.namespace), body)
    assert created["spec"]["updateStrategy"]["maxUnavailable"] == "20%"
    await eventually(lambda: status_is(stack, replicas=5, availableReplicas=5), 120, "5 available")
    patch = {
        "metadata": {"annotations": {"apps.kruise.io/image-predownload-parallelism": "2"}},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}},
    }
    await stack.api.patch(CLONESETS.path(stack.namespace, "web"), patch, "merge")


async def _update_revision(stack: Stack) -> JsonObject:
    status = (await cloneset(stack)).get("status") or {}
    name = str(status.get("updateRevision", ""))
    return await stack.api.get(CONTROLLER_REVISIONS.path(stack.namespace, name))


@pytest.mark.parametrize("cloneset_worker_args", [GATE_ON])
async def test_new_image_gets_one_image_pull_job_with_parallelism_two(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    await _start_rollout(stack)
    await eventually(lambda: status_is(stack, observedGeneration=2), 60, "the new template observed")

    async def one_job() -> bool:
        return len(await _jobs_of_cloneset(stack)) == 1

    await eventually(one_job, 10, "one ImagePullJob for the CloneSet")
    [job] = await _jobs_of_cloneset(stack)
    revision = await _update_revision(stack)
    revision_name = revision["metadata"]["name"]
    hash_value = revision["metadata"]["labels"]["controller.kubernetes.io/hash"]
    assert job["spec"]["image"] == "nginx:2"
    assert job["spec"]["parallelism"] == 2
    assert job["metadata"]["name"] == f"{revision_name}-app"
    [owner] = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("CloneSet", "web", True)
    assert job["spec"]["podSelector"] == {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "controller-revision-hash", "operator": "NotIn", "values": [revision_name, hash_value]}
        ],
    }
    assert job["spec"]["completionPolicy"] == {"type": "Always", "ttlSecondsAfterFinished": 600}
    assert job["spec"]["pullPolicy"] == {"backoffLimit": 1, "timeoutSeconds": 300}
    path = CONTROLLER_REVISIONS.path(stack.namespace, revision_name)

    async def marked() -> bool:
        labels = (await stack.api.get(path))["metadata"].get("labels", {})
        return bool(labels.get(CREATED) == "true")

    await eventually(marked, 10, "the update revision marked pre-predownload-created")

    # The rollout goes on (4 pods in place, partition 1): many reconciles, still one job.
    await eventually(
        lambda: status_is(stack, updatedReplicas=4, updatedReadyReplicas=4), 120, "4 pods updated in place"
    )
    assert [j["metadata"]["uid"] for j in await _jobs_of_cloneset(stack)] == [job["metadata"]["uid"]]

    # A lost mark: the worker plans the creation again; the API server answers 409, still one job.
    path = CONTROLLER_REVISIONS.path(stack.namespace, revision_name)
    await stack.api.patch(
        path, [{"op": "remove", "path": "/metadata/labels/" + CREATED.replace("/", "~1")}], "json"
    )
    await stack.api.patch(
        CLONESETS.path(stack.namespace, "web"), {"metadata": {"annotations": {"poke": "1"}}}, "merge"
    )
    await eventually(marked, 30, "the revision marked again")
    assert [j["metadata"]["uid"] for j in await _jobs_of_cloneset(stack)] == [job["metadata"]["uid"]]

    # Partition 0: every pod updates, the revisions agree, the job is deleted.
    await stack.api.patch(
        CLONESETS.path(stack.namespace, "web"), {"spec": {"updateStrategy": {"partition": 0}}}, "merge"
    )

    async def no_job() -> bool:
        return not await _jobs_of_cloneset(stack)

    await eventually(no_job, 120, "the ImagePullJob deleted once every pod is updated")
    status = (await cloneset(stack))["status"]
    assert status["currentRevision"] == status["updateRevision"]


@pytest.mark.parametrize("cloneset_worker_args", [GATE_OFF])
async def test_gate_off_creates_no_image_pull_job(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    await _start_rollout(stack)
    await eventually(
        lambda: status_is(stack, observedGeneration=2, updatedReplicas=4, updatedReadyReplicas=4),
        120,
        "4 pods updated in place",
    )
    await asyncio.sleep(3)  # the e2e's window for the job
    assert await _jobs_of_cloneset(stack) == []
    labels = (await _update_revision(stack))["metadata"].get("labels", {})
    assert CREATED not in labels
    assert IGNORED not in labels
