"""The ImageListPullJob worker's planner and shell plan (workers.imagelistpulljob), against kruise
v1.9.1 ``pkg/controller/imagelistpulljob/imagelistpulljob_controller.go``, worked by hand:
``Reconcile`` (TTL, order of writes), ``calculateStatus``, ``computeImagePullJobActions`` /
``filterImagesAndImagePullJobs`` / ``isConsistentVersion``, ``newImagePullJobs``,
``getOwnedImagePullJob`` and ``syncImagePullJob``'s Events.
"""

from __future__ import annotations

import copy
from typing import Any

from workers.imagelistpulljob import planner, worker
from workers.imagelistpulljob.planner import HASH_LABEL, Observed
from workers.podmechanics.kube_json import parse_time
from workers.runtime import actions as runtime

T0 = "2026-01-01T00:00:00Z"
T10 = "2026-01-01T00:00:10Z"
TEMPLATE: dict[str, Any] = {
    "selector": {"names": ["n1", "n2"]},
    "parallelism": 2,
    "pullPolicy": {"timeoutSeconds": 300, "backoffLimit": 1},
    "completionPolicy": {"type": "Always"},
    "pullSecrets": ["reg"],
}


def _at(seconds: float) -> float:
    moment = parse_time(T0)
    assert moment is not None
    return moment.timestamp() + seconds


def _job(images: tuple[str, ...] = ("reg.io/a:v1", "reg.io/b:v1"), **spec: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "ImageListPullJob",
        "metadata": {"namespace": "ns", "name": "list", "uid": "u1", "resourceVersion": "5"},
        "spec": {"images": list(images), **copy.deepcopy(TEMPLATE), **spec},
        "status": {},
    }
    job["metadata"]["labels"] = {HASH_LABEL: planner.template_hash(job)}
    return job


def _child(
    job: dict[str, Any], image: str, name: str, status: dict[str, Any] | None = None, **meta: Any
) -> dict[str, Any]:
    child = planner.new_child(job, image, planner.template_hash(job))
    child["metadata"].pop("generateName")
    child["metadata"].update(name=name, uid=f"uid-{name}", **meta)
    child["status"] = status or {}
    return child


def test_a_new_list_gets_one_owned_imagepulljob_per_image_and_a_start_time() -> None:
    job = _job()
    del job["metadata"]["labels"]
    decided = planner.plan(Observed(job, ()), _at(0))
    hash_value = planner.template_hash(job)
    assert decided.label_patch == {"metadata": {"labels": {HASH_LABEL: hash_value}}}
    owner = {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "ImageListPullJob",
        "name": "list",
        "uid": "u1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert list(decided.creates) == [
        {
            "apiVersion": "apps.kruise.io/v1beta1",
            "kind": "ImagePullJob",
            "metadata": {
                "namespace": "ns",
                "generateName": "list-",
                "labels": {HASH_LABEL: hash_value},
                "ownerReferences": [owner],
            },
            "spec": {"image": image, **TEMPLATE},
        }
        for image in ("reg.io/a:v1", "reg.io/b:v1")
    ]
    assert decided.deletes == ()
    assert decided.events == (planner.Event("Successful create ImagePullJob", "Create 2 ImagePullJob"),)
    # calculateStatus runs on the children read before the creates: none counted yet
    assert decided.status == {"startTime": T0, "desired": 2, "active": 0, "completed": 0, "succeeded": 0}


def test_status_counts_children_that_started_and_lists_those_with_failed_nodes() -> None:
    job = _job(("reg.io/a:v1", "reg.io/b:v1", "reg.io/c:v1", "reg.io/d:v1"))
    job["status"] = {"startTime": T0, "desired": 4}
    children = [
        # a: 3 nodes, one pulling, one failed -> active, in failedImageStatuses, not completed
        _child(
            job,
            "reg.io/a:v1",
            "list-aaaaa",
            {"startTime": T0, "desired": 3, "active": 1, "succeeded": 1, "failed": 1},
        ),
        # b: all succeeded -> completed and succeeded
        _child(job, "reg.io/b:v1", "list-bbbbb", {"startTime": T0, "desired": 2, "succeeded": 2}),
        # c: finished with a failure -> completed, not succeeded, listed
        _child(
            job, "reg.io/c:v1", "list-ccccc", {"startTime": T0, "desired": 2, "succeeded": 1, "failed": 1}
        ),
        # d: not started by its controller yet -> not counted at all (desired 0 == 0 would count)
        _child(job, "reg.io/d:v1", "list-ddddd", {}),
    ]
    decided = planner.plan(Observed(job, children), _at(10))
    assert decided.creates == ()
    assert decided.deletes == ()
    assert decided.events == ()
    assert decided.label_patch is None
    assert decided.status == {
        "startTime": T0,
        "desired": 4,
        "active": 1,
        "completed": 2,
        "succeeded": 1,
        "failedImageStatuses": [
            {
                "imagePullJob": name,
                "name": image,
                "message": "Please check for details which nodes failed by "
                f"'kubectl get ImagePullJob {name}'.",
            }
            for image, name in (("reg.io/a:v1", "list-aaaaa"), ("reg.io/c:v1", "list-ccccc"))
        ],
    }


def test_always_completes_when_every_child_finished_and_never_does_not() -> None:
    for policy, completed in (("Always", True), ("Never", False)):
        job = _job(completionPolicy={"type": policy})
        job["status"] = {"startTime": T0, "desired": 2, "active": 1, "completed": 1, "succeeded": 1}
        children = [
            _child(job, "reg.io/a:v1", "list-a", {"startTime": T0, "desired": 2, "succeeded": 2}),
            _child(job, "reg.io/b:v1", "list-b", {"startTime": T0, "desired": 1, "failed": 1}),
        ]
        status = planner.plan(Observed(job, children), _at(10)).status
        assert status is not None
        assert status["completed"] == 2
        assert status["succeeded"] == 1
        assert status["active"] == 0
        assert ("completionTime" in status) is completed, policy
        if completed:
            assert status["completionTime"] == T10


def test_an_unchanged_status_is_not_written() -> None:
    job = _job()
    job["status"] = {"startTime": T0, "desired": 2, "active": 1, "completed": 0, "succeeded": 0}
    children = [
        _child(job, "reg.io/a:v1", "list-a", {"startTime": T0, "desired": 2, "active": 1}),
        _child(job, "reg.io/b:v1", "list-b", {}),
    ]
    decided = planner.plan(Observed(job, children), _at(10))
    assert decided.status is None
    assert decided.creates == ()
    assert decided.deletes == ()


def test_an_image_left_out_deletes_its_job_and_a_new_one_is_created() -> None:
    job = _job(("reg.io/a:v1", "reg.io/c:v1"))
    children = [_child(job, "reg.io/a:v1", "list-a"), _child(job, "reg.io/b:v1", "list-b")]
    decided = planner.plan(Observed(job, children), _at(0))
    assert [c["spec"]["image"] for c in decided.creates] == ["reg.io/c:v1"]
    assert decided.deletes == (planner.DeleteChild("list-b", "uid-list-b", "reg.io/b:v1"),)
    assert decided.events == (
        planner.Event("Successful create ImagePullJob", "Create 1 ImagePullJob"),
        planner.Event("Successful delete ImagePullJob", "Delete 1 ImagePullJob"),
    )
    # the removed child still counted in this pass's status (kruise lists before it deletes)
    assert decided.status is not None
    assert decided.status["desired"] == 2


def test_a_changed_template_replaces_every_child() -> None:
    old = _job()
    children = [_child(old, "reg.io/a:v1", "list-a"), _child(old, "reg.io/b:v1", "list-b")]
    job = _job(parallelism=5)
    job["metadata"]["labels"] = dict(old["metadata"]["labels"])  # the label still has the old hash
    decided = planner.plan(Observed(job, children), _at(0))
    new_hash = planner.template_hash(job)
    assert new_hash != planner.template_hash(old)
    assert decided.label_patch == {"metadata": {"labels": {HASH_LABEL: new_hash}}}
    assert [(c["spec"]["image"], c["spec"]["parallelism"]) for c in decided.creates] == [
        ("reg.io/a:v1", 5),
        ("reg.io/b:v1", 5),
    ]
    assert all(c["metadata"]["labels"] == {HASH_LABEL: new_hash} for c in decided.creates)
    assert [d.name for d in decided.deletes] == ["list-a", "list-b"]
    assert [e.message for e in decided.events] == ["Create 2 ImagePullJob", "Delete 2 ImagePullJob"]


def test_a_child_without_the_hash_label_is_kept_when_its_template_is_the_same() -> None:
    job = _job(("reg.io/a:v1",))
    same = _child(job, "reg.io/a:v1", "list-a")
    del same["metadata"]["labels"]
    assert planner.plan(Observed(job, [same]), _at(0)).creates == ()
    other = copy.deepcopy(same)
    other["spec"]["parallelism"] = 9
    decided = planner.plan(Observed(job, [other]), _at(0))
    assert [c["spec"]["image"] for c in decided.creates] == ["reg.io/a:v1"]
    assert [d.name for d in decided.deletes] == ["list-a"]


def test_children_being_deleted_or_of_another_owner_are_not_its_own() -> None:
    job = _job(("reg.io/a:v1", "reg.io/b:v1"))
    going = _child(job, "reg.io/a:v1", "list-a", deletionTimestamp=T0)
    foreign = _child(job, "reg.io/b:v1", "list-b")
    foreign["metadata"]["ownerReferences"][0]["uid"] = "another"
    decided = planner.plan(Observed(job, [going, foreign]), _at(0))
    assert [c["spec"]["image"] for c in decided.creates] == ["reg.io/a:v1", "reg.io/b:v1"]
    assert decided.deletes == ()


def test_a_list_job_being_deleted_gets_nothing_new() -> None:
    job = _job()
    job["metadata"]["deletionTimestamp"] = T0
    decided = planner.plan(Observed(job, ()), _at(0))
    assert decided.creates == ()
    assert decided.status is None
    assert not decided.delete_job


def test_a_finished_list_waits_for_its_ttl_then_is_deleted() -> None:
    job = _job(completionPolicy={"type": "Always", "ttlSecondsAfterFinished": 60})
    job["status"] = {"startTime": T0, "completionTime": T0, "desired": 2, "completed": 2}
    children = [_child(job, "reg.io/c:v1", "list-c")]  # an image change after completion is ignored
    waiting = planner.plan(Observed(job, children), _at(45))
    assert waiting.requeue_after == 15
    assert not waiting.delete_job
    assert waiting.creates == ()
    assert waiting.deletes == ()
    assert waiting.status is None
    assert planner.plan(Observed(job, children), _at(60)).delete_job
    no_ttl = _job()
    no_ttl["status"] = job["status"]
    kept = planner.plan(Observed(no_ttl, ()), _at(10_000))
    assert not kept.delete_job
    assert kept.requeue_after is None
    assert kept.status is None


def test_the_template_hash_ignores_images_and_key_order_and_is_label_safe() -> None:
    one = _job(("reg.io/a:v1",))
    two = _job(("reg.io/z:v9", "reg.io/y:v8"))
    assert planner.template_hash(one) == planner.template_hash(two)
    reordered = dict(reversed(list(one["spec"].items())))
    assert planner.template_hash({"spec": reordered}) == planner.template_hash(one)
    assert planner.template_hash(_job(pullSecrets=["other"])) != planner.template_hash(one)
    assert set(planner.template_hash(one)) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_the_shell_writes_in_kruises_order_and_replaces_the_whole_status() -> None:
    job = _job(("reg.io/a:v1",))
    job["metadata"]["labels"] = {}
    job["status"] = {"startTime": T0, "desired": 2, "failedImageStatuses": [{"name": "reg.io/b:v1"}]}
    stale = _child(job, "reg.io/b:v1", "list-b")
    snapshot = worker.Snapshot("ns", "list", Observed(job, [stale]))
    actions = worker.plan(snapshot, worker.Config(), _at(0)).actions
    kinds = [(type(a).__name__, a.resource.kind if hasattr(a, "resource") else None) for a in actions]
    assert kinds == [
        ("PatchObject", "ImageListPullJob"),
        ("CreateObject", "ImagePullJob"),
        ("EmitEvent", None),
        ("DeleteObject", "ImagePullJob"),
        ("EmitEvent", None),
        ("PatchObject", "ImageListPullJob"),
    ]
    status_patch = actions[-1]
    assert isinstance(status_patch, runtime.PatchObject)
    assert status_patch.subresource == "status"
    assert status_patch.patch == {
        "status": {
            "failedImageStatuses": None,
            "startTime": T0,
            "desired": 1,
            "active": 0,
            "completed": 0,
            "succeeded": 0,
        }
    }
    delete = actions[3]
    assert isinstance(delete, runtime.DeleteObject)
    assert (delete.name, delete.uid) == ("list-b", "uid-list-b")


def test_the_shell_refuses_a_spec_kruises_webhook_would_refuse() -> None:
    job = _job(("reg.io/a:v1", "reg.io/a:v1"))
    snapshot = worker.Snapshot("ns", "list", Observed(job, ()))
    actions = worker.plan(snapshot, worker.Config(), _at(0)).actions
    assert not any(isinstance(a, runtime.CreateObject) for a in actions)
    events = [a for a in actions if isinstance(a, runtime.EmitEvent)]
    assert [(e.type, e.message) for e in events] == [("Warning", "images cannot have duplicate values")]
