"""Advanced StatefulSet image pre-download on the real control plane (kruise ``doPreDownload``).

A set of 4 replicas, Parallel, InPlaceIfPossible, partition 2, with
``apps.kruise.io/image-predownload-parallelism: "2"``; once ready, a new image. The worker runs
with ``PreDownloadImageForInPlaceUpdate`` on (as kruise's e2e deployment, ``conftest``). Then
exactly one ImagePullJob with the fields kruise's ``CreateJobForWorkload`` writes (name
``<update revision>-<container>``, the template's labels plus the revision hash, controlled by
the set, the pods not yet at the update revision as ``podSelector``), kruise's Normal
``CreatedImagePullJob`` Event and the revision marked ``apps.kruise.io/pre-predownload-created``,
while the partition keeps web-0 and web-1 back. Partition 0: every pod updated in place, the
revisions agree, the job is deleted (``DeleteJobsForWorkload``). Environment limit: no node
agent here, so the job only exists (the real node's run pulls: ``make bench-inplace-real``).
"""

from __future__ import annotations

from flotilla.runtime.kube import JsonObject, Resource
from tests.integration.statefulset.test_statefulset_stack import _converged, _pods, _status, manifest
from tests.support.polling import eventually_async
from tests.support.workerstack import Stack
from workers.statefulset.builder import CONTROLLER_REVISIONS, STATEFULSETS

IMAGE_PULL_JOBS = Resource("apps.kruise.io", "v1beta1", "imagepulljobs")
EVENTS = Resource("", "v1", "events")
CREATED = "apps.kruise.io/pre-predownload-created"
NAMES = {"web-0", "web-1", "web-2", "web-3"}


async def _jobs_of_set(stack: Stack, uid: str) -> list[JsonObject]:
    listing = await stack.api.get(IMAGE_PULL_JOBS.path(stack.namespace))
    return [
        job
        for job in listing.get("items", [])
        if any(
            r.get("uid") == uid and r.get("controller") for r in job["metadata"].get("ownerReferences", [])
        )
    ]


async def test_new_image_gets_kruises_image_pull_job_and_it_goes_with_the_rollout(sts_stack: Stack) -> None:
    stack = sts_stack
    body = manifest(
        stack.namespace,
        4,
        podManagementPolicy="Parallel",
        updateStrategy={
            "rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "maxUnavailable": 2, "partition": 2}
        },
    )
    body["metadata"]["annotations"] = {"apps.kruise.io/image-predownload-parallelism": "2"}
    body["spec"]["template"]["spec"]["readinessGates"] = [{"conditionType": "InPlaceUpdateReady"}]
    created = await stack.api.create(STATEFULSETS.path(stack.namespace), body)
    uid = created["metadata"]["uid"]
    await eventually_async(lambda: _converged(stack, NAMES), within=60, interval=0.3, what="4 ready")
    uids = {n: p["metadata"]["uid"] for n, p in (await _pods(stack)).items()}
    first = (await _status(stack))["updateRevision"]
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.26"}]}}}}
    await stack.api.patch(STATEFULSETS.path(stack.namespace, "web"), patch, "merge")

    async def one_job() -> list[JsonObject]:
        jobs = await _jobs_of_set(stack, uid)
        return jobs if len(jobs) == 1 else []

    [job] = await eventually_async(one_job, within=30, interval=0.3, what="one ImagePullJob for the set")

    async def new_revision() -> str:
        # the job is created before the pass's status write (kruise's order): wait for the status
        name = str((await _status(stack)).get("updateRevision") or "")
        return name if name != first else ""

    revision_name = await eventually_async(
        new_revision, within=30, interval=0.3, what="the new updateRevision"
    )
    revision = await stack.api.get(CONTROLLER_REVISIONS.path(stack.namespace, revision_name))
    hash_value = revision["metadata"]["labels"]["controller.kubernetes.io/hash"]
    assert job["metadata"]["name"] == f"{revision_name}-main"
    assert job["metadata"]["labels"] == {"app": "web", "controller.kubernetes.io/hash": hash_value}
    [owner] = job["metadata"]["ownerReferences"]
    assert owner == {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "StatefulSet",
        "name": "web",
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    spec = job["spec"]
    assert spec["image"] == "nginx:1.26"
    assert spec["parallelism"] == 2
    assert spec["podSelector"] == {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "controller-revision-hash", "operator": "NotIn", "values": [revision_name, hash_value]}
        ],
    }
    assert spec["pullPolicy"] == {"backoffLimit": 1, "timeoutSeconds": 300}
    assert spec["completionPolicy"] == {"type": "Always", "ttlSecondsAfterFinished": 600}
    assert spec["sandboxConfig"] == {"labels": {"app": "web", "controller.kubernetes.io/hash": hash_value}}
    path = CONTROLLER_REVISIONS.path(stack.namespace, revision_name)

    async def marked() -> bool:
        labels = (await stack.api.get(path))["metadata"].get("labels", {})
        return bool(labels.get(CREATED) == "true")

    await eventually_async(
        marked, within=15, interval=0.3, what="the revision marked pre-predownload-created"
    )

    async def event_sent() -> bool:
        listing = await stack.api.get(
            EVENTS.path(stack.namespace), {"fieldSelector": "reason=CreatedImagePullJob"}
        )
        return any(
            e.get("type") == "Normal"
            and e.get("message") == f"created ImagePullJob {revision_name}-main for image: nginx:1.26"
            and e.get("involvedObject", {}).get("uid") == uid
            for e in listing.get("items", [])
        )

    await eventually_async(event_sent, within=15, interval=0.3, what="the CreatedImagePullJob Event")

    # the job stays while the revisions differ (partition 2 holds web-0 and web-1 back)
    assert [j["metadata"]["uid"] for j in await _jobs_of_set(stack, uid)] == [job["metadata"]["uid"]]

    # partition 0: the rollout completes, the revisions agree, the set's job is deleted
    await stack.api.patch(
        STATEFULSETS.path(stack.namespace, "web"),
        {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}},
        "merge",
    )

    async def cleaned_up() -> bool:
        status = await _status(stack)
        return status.get("currentRevision") == revision_name and not await _jobs_of_set(stack, uid)

    await eventually_async(cleaned_up, within=60, interval=0.3, what="rolled out, the ImagePullJob deleted")
    pods = await _pods(stack)
    assert {n: p["metadata"]["uid"] for n, p in pods.items()} == uids, "updated in place, not recreated"
