"""ImageListPullJob on the real control plane, run by ``flotilla worker imagelistpulljob``: the
walk :func:`walk`, run by ``test_advancedcronjob.py``'s module, whose shared stack also runs this
worker (a module of its own would start a watcher and a worker for one test: ~28 s of setup).

No ImagePullJob worker and no node run here: the test plays the ImagePullJob controller and
writes the children's status through the API server's status subresource, as that worker
would. One walk through kruise's controller (``pkg/controller/imagelistpulljob``): a child per
image, owned and labelled, the template copied; an image swapped (one deleted, one created, the
third kept); the template changed (every child replaced); the status aggregated from the
children's; completion, ``ttlSecondsAfterFinished``, and the garbage collector removing the
children with their list job.
"""

from __future__ import annotations

import time

from flotilla.runtime.errors import NotFound
from flotilla.runtime.kube import JsonObject, Resource
from tests.integration.jobs.conftest import JobStack
from tests.support.polling import eventually_async
from workers.imagelistpulljob.planner import HASH_LABEL
from workers.imagelistpulljob.worker import IMAGELISTPULLJOBS, IMAGEPULLJOBS

V1ALPHA1 = Resource("apps.kruise.io", "v1alpha1", "imagelistpulljobs", "ImageListPullJob")
EVENTS = Resource("", "v1", "events", "Event")


async def children_of(stack: JobStack, uid: str) -> dict[str, JsonObject]:
    """The ImagePullJobs controlled by the list job ``uid``, by image."""
    listing = await stack.api.get(IMAGEPULLJOBS.path(stack.namespace))
    return {
        c["spec"]["image"]: c
        for c in listing.get("items") or []
        if any(
            r.get("uid") == uid and r.get("controller") for r in c["metadata"].get("ownerReferences") or ()
        )
    }


async def walk(job_stack: JobStack) -> None:
    """Children per image, owned and labelled; swapped; replaced; the status from theirs; TTL; GC."""
    ns = job_stack.namespace
    body = {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "ImageListPullJob",
        "metadata": {"name": "list", "namespace": ns},
        "spec": {
            "images": ["reg.io/a:v1", "reg.io/b:v1", "reg.io/c:v1"],
            "selector": {"names": ["node-x"]},
            "parallelism": 2,
            "pullPolicy": {"timeoutSeconds": 120, "backoffLimit": 1},
            "completionPolicy": {"type": "Always"},
        },
    }
    made = await job_stack.api.create(V1ALPHA1.path(ns), body)
    uid = made["metadata"]["uid"]

    def why() -> str:
        return job_stack.log_text()

    async def images_are(wanted: set[str], replaced: dict[str, str] | None = None) -> dict[str, JsonObject]:
        found = await children_of(job_stack, uid)
        if set(found) != wanted:
            return {}
        if replaced and any(found[i]["metadata"]["uid"] == old for i, old in replaced.items()):
            return {}
        return found

    first = await eventually_async(
        lambda: images_are({"reg.io/a:v1", "reg.io/b:v1", "reg.io/c:v1"}),
        30,
        0.3,
        lambda: f"3 children ({why()})",
    )
    job = await job_stack.api.get(IMAGELISTPULLJOBS.path(ns, "list"))
    hash_value = job["metadata"]["labels"][HASH_LABEL]
    for image, child in first.items():
        meta = child["metadata"]
        assert meta["name"].startswith("list-")
        assert meta["name"] != "list-"
        assert meta["labels"] == {HASH_LABEL: hash_value}
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "apps.kruise.io/v1beta1",
                "kind": "ImageListPullJob",
                "name": "list",
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        spec = child["spec"]
        assert spec["image"] == image
        assert spec["selector"] == {"names": ["node-x"]}
        assert spec["parallelism"] == 2
        assert spec["pullPolicy"] == {"timeoutSeconds": 120, "backoffLimit": 1}
        assert spec["completionPolicy"] == {"type": "Always"}

    async def status_is(**expected: object) -> JsonObject:
        status = (await job_stack.api.get(IMAGELISTPULLJOBS.path(ns, "list"))).get("status") or {}
        return status if all(status.get(k) == v for k, v in expected.items()) else {}

    status = await eventually_async(
        lambda: status_is(desired=3, active=0, completed=0, succeeded=0), 30, 0.3, lambda: f"status ({why()})"
    )
    assert status.get("startTime")
    assert "completionTime" not in status

    # b swapped for d: b's child deleted, d's created, a and c kept
    await job_stack.api.patch(
        IMAGELISTPULLJOBS.path(ns, "list"),
        {"spec": {"images": ["reg.io/a:v1", "reg.io/d:v1", "reg.io/c:v1"]}},
    )
    swapped = await eventually_async(
        lambda: images_are({"reg.io/a:v1", "reg.io/c:v1", "reg.io/d:v1"}),
        30,
        0.3,
        lambda: f"b -> d ({why()})",
    )
    for kept in ("reg.io/a:v1", "reg.io/c:v1"):
        assert swapped[kept]["metadata"]["uid"] == first[kept]["metadata"]["uid"]

    # the template changed: every child replaced by one with the new template and hash
    await job_stack.api.patch(IMAGELISTPULLJOBS.path(ns, "list"), {"spec": {"parallelism": 3}})
    old_uids = {image: child["metadata"]["uid"] for image, child in swapped.items()}
    children = await eventually_async(
        lambda: images_are(set(old_uids), old_uids), 30, 0.3, lambda: f"children replaced ({why()})"
    )
    new_hash = (await job_stack.api.get(IMAGELISTPULLJOBS.path(ns, "list")))["metadata"]["labels"][HASH_LABEL]
    assert new_hash != hash_value
    assert {c["spec"]["parallelism"] for c in children.values()} == {3}
    assert {c["metadata"]["labels"][HASH_LABEL] for c in children.values()} == {new_hash}

    # the children's status, as the ImagePullJob worker writes it
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    statuses = {
        "reg.io/a:v1": {"startTime": now, "desired": 2, "active": 1, "succeeded": 1},
        "reg.io/c:v1": {"startTime": now, "desired": 2, "succeeded": 1, "failed": 1},
        "reg.io/d:v1": {"startTime": now, "desired": 1, "succeeded": 1},
    }
    for image, child_status in statuses.items():
        name = children[image]["metadata"]["name"]
        await job_stack.api.patch(IMAGEPULLJOBS.path(ns, name, "status"), {"status": child_status})
    failed_name = children["reg.io/c:v1"]["metadata"]["name"]
    failed_entry = {
        "imagePullJob": failed_name,
        "name": "reg.io/c:v1",
        "message": "Please check for details which nodes failed by "
        f"'kubectl get ImagePullJob {failed_name}'.",
    }
    status = await eventually_async(
        lambda: status_is(desired=3, active=1, completed=2, succeeded=1, failedImageStatuses=[failed_entry]),
        30,
        0.3,
        lambda: f"aggregated status ({why()})",
    )
    assert "completionTime" not in status

    # a finishes: every child completed -> completionTime
    a_name = children["reg.io/a:v1"]["metadata"]["name"]
    await job_stack.api.patch(
        IMAGEPULLJOBS.path(ns, a_name, "status"), {"status": {"active": 0, "succeeded": 2}}
    )
    status = await eventually_async(
        lambda: status_is(desired=3, active=0, completed=3, succeeded=2),
        30,
        0.3,
        lambda: f"completed ({why()})",
    )
    assert status["completionTime"] >= status["startTime"]

    # a TTL set after completion applies (kruise reads it from the spec at each pass): the list job
    # is deleted and the garbage collector takes its children
    await job_stack.api.patch(
        IMAGELISTPULLJOBS.path(ns, "list"), {"spec": {"completionPolicy": {"ttlSecondsAfterFinished": 0}}}
    )

    async def gone() -> bool:
        try:
            await job_stack.api.get(IMAGELISTPULLJOBS.path(ns, "list"))
        except NotFound:
            return True
        return False

    await eventually_async(gone, 30, 0.3, lambda: f"list job deleted after its TTL ({why()})")

    async def no_children() -> bool:
        return not await children_of(job_stack, uid)

    await eventually_async(no_children, 60, 0.3, "children removed by the garbage collector")

    events = (await job_stack.api.get(EVENTS.path(ns))).get("items") or []
    reasons = {(e["reason"], e["message"]) for e in events if e["involvedObject"].get("uid") == uid}
    assert ("Successful create ImagePullJob", "Create 3 ImagePullJob") in reasons
    assert ("Successful delete ImagePullJob", "Delete 1 ImagePullJob") in reasons
    assert ("Successful delete ImagePullJob", "Delete 3 ImagePullJob") in reasons
