"""The ImagePullJob worker's planner (workers.imagepulljob.planner), against kruise v1.9.1
``pkg/controller/imagepulljob`` (``calculateStatus``, ``syncNodeImages``, ``getImagePullPolicy``,
``formatStatusMessage``), worked by hand."""

from __future__ import annotations

from typing import Any

from workers.imagepulljob import planner
from workers.imagepulljob.planner import PROTECTION_FINALIZER, Observed
from workers.imagepulljob.secrets import SecretsObserved
from workers.podmechanics.kube_json import parse_time

T0 = "2026-01-01T00:00:00Z"
IMAGE = "reg.io/app:v2"


def _at(seconds: float) -> float:
    moment = parse_time(T0)
    assert moment is not None
    return moment.timestamp() + seconds


def _job(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "ns",
            "name": "j",
            "uid": "u1",
            "resourceVersion": "3",
            "finalizers": [PROTECTION_FINALIZER],
        },
        "spec": {"image": IMAGE, **spec},
        "status": {"startTime": T0},
    }


OWNER = {
    "apiVersion": "apps.kruise.io/v1beta1",
    "kind": "ImagePullJob",
    "name": "j",
    "namespace": "ns",
    "uid": "u1",
}


def _ni(name: str, phase: str | None = None, version: int = 0, owned: bool = True) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": name, "resourceVersion": "9"}, "spec": {}, "status": {}}
    if owned:
        tag = {"tag": "v2", "version": version, "ownerReferences": [OWNER], "createdAt": T0}
        obj["spec"] = {"images": {"reg.io/app": {"tags": [tag]}}}
    if phase is not None:
        obj["status"] = {
            "imageStatuses": {"reg.io/app": {"tags": [{"tag": "v2", "version": version, "phase": phase}]}}
        }
    return obj


def test_a_new_job_gets_the_protection_finalizer_first() -> None:
    job = _job()
    job["metadata"]["finalizers"] = []
    assert planner.plan(Observed(job, ()), _at(0)).finalizers == [PROTECTION_FINALIZER]


def test_status_counts_and_progress_message() -> None:
    nodes = [_ni("a", "Succeeded"), _ni("b", "Failed"), _ni("c", "Pulling"), _ni("d"), _ni("e", owned=False)]
    status, not_synced = planner.calculate_status(_job(), nodes, _at(5))
    assert not_synced == ["e"]  # not synced: neither active nor finished (kruise: continue)
    assert status == {
        "startTime": T0, "desired": 5, "active": 2, "succeeded": 1, "failed": 1,
        "failedNodes": ["b"], "message": "job is running, progress 40.0%",
    }  # fmt: skip


def test_a_status_of_another_version_is_still_active() -> None:
    status, _ = planner.calculate_status(_job(), [_ni("a", "Succeeded", version=1) | {}], _at(5))
    assert status["succeeded"] == 1
    stale = _ni("a", "Succeeded", version=1)
    stale["spec"]["images"]["reg.io/app"]["tags"][0]["version"] = 2
    status, _ = planner.calculate_status(_job(), [stale], _at(5))
    assert (status["active"], status["succeeded"]) == (1, 0)


def test_always_completes_when_every_node_finished() -> None:
    status, _ = planner.calculate_status(_job(), [_ni("a", "Succeeded"), _ni("b", "Failed")], _at(5))
    assert status["completionTime"] == "2026-01-01T00:00:05Z"
    assert status["message"] == "job has completed"
    never, _ = planner.calculate_status(
        _job(completionPolicy={"type": "Never"}), [_ni("a", "Succeeded")], _at(5)
    )
    assert "completionTime" not in never
    assert never["message"] == "job is running, progress 100.0%"


def test_the_deadline_fails_what_is_left() -> None:
    job = _job(completionPolicy={"type": "Always", "activeDeadlineSeconds": 60})
    nodes = [_ni("a", "Succeeded"), _ni("b", "Pulling"), _ni("c", owned=False)]
    assert planner.calculate_status(job, nodes, _at(59))[0].get("completionTime") is None
    status, not_synced = planner.calculate_status(job, nodes, _at(60))
    assert not_synced == []
    assert status == {
        "startTime": T0, "desired": 3, "completionTime": "2026-01-01T00:01:00Z", "succeeded": 1,
        "failed": 2, "failedNodes": ["b", "c"], "message": "job exceeds activeDeadlineSeconds",
    }  # fmt: skip


def test_parallelism_bounds_the_nodes_given_the_tag() -> None:
    nodes = [_ni("a", "Pulling"), _ni("b", owned=False), _ni("c", owned=False), _ni("d", owned=False)]
    decided = planner.plan(Observed(_job(parallelism=3), nodes), _at(1))
    assert [w.name for w in decided.node_images] == ["b", "c"]  # 3 - 1 active
    assert planner.plan(Observed(_job(), nodes), _at(1)).node_images == ()  # default 1, 1 active


def test_the_tag_written_into_a_nodeimage() -> None:
    job = _job(
        pullPolicy={"timeoutSeconds": 20, "backoffLimit": 2}, imagePullPolicy="Always", pullSecrets=["s"]
    )
    node = _ni("b", owned=False)
    node["status"] = {
        "imageStatuses": {"reg.io/app": {"tags": [{"tag": "v2", "version": 4, "phase": "Succeeded"}]}}
    }
    copy = {"namespace": "kruise-daemon-config", "name": "s-0a1b2c", "mode": "batch"}
    patch = planner.sync_node_image(job, node, _at(1), (copy,))
    assert patch is not None
    tag = patch["spec"]["images"]["reg.io/app"]["tags"][0]
    policy = tag.pop("pullPolicy")
    assert tag == {
        "tag": "v2",
        "version": 5,
        "ownerReferences": [OWNER],
        "createdAt": "2026-01-01T00:00:01Z",
        "imagePullPolicy": "Always",
    }
    # Always without TTL or deadline: timeout x backoffLimit + 300 + a jitter below 300
    assert (policy["timeoutSeconds"], policy["backoffLimit"]) == (20, 2)
    assert 20 * 2 + 300 <= policy["ttlSecondsAfterFinished"] < 20 * 2 + 600
    assert "activeDeadlineSeconds" not in policy
    assert patch["spec"]["images"]["reg.io/app"]["pullSecrets"] == [copy]  # the copy, not ns/s
    assert patch["metadata"] == {"resourceVersion": "9"}


def test_a_tag_another_job_owns_gets_this_job_too_and_a_new_version() -> None:
    node = _ni("b", version=3)
    other = {**OWNER, "name": "k", "uid": "u9"}
    node["spec"]["images"]["reg.io/app"]["tags"][0]["ownerReferences"] = [other]
    patch = planner.sync_node_image(_job(), node, _at(1))
    assert patch is not None
    tag = patch["spec"]["images"]["reg.io/app"]["tags"][0]
    assert (tag["version"], tag["ownerReferences"]) == (4, [other, OWNER])
    assert planner.sync_node_image(_job(), _ni("a"), _at(1)) is None  # already owned


def test_never_policy_deadline_and_ttl() -> None:
    policy = planner.tag_pull_policy(_job(completionPolicy={"type": "Never"}), "n1")
    assert policy["activeDeadlineSeconds"] == 1800
    assert 24 * 3600 - 600 <= policy["ttlSecondsAfterFinished"] < 24 * 3600 + 600
    long = planner.tag_pull_policy(
        _job(completionPolicy={"type": "Never"}, pullPolicy={"timeoutSeconds": 3600}), "n1"
    )
    assert long["activeDeadlineSeconds"] == 3600


def test_a_finished_job_is_deleted_after_its_ttl() -> None:
    job = _job(completionPolicy={"type": "Always", "ttlSecondsAfterFinished": 30})
    job["status"]["completionTime"] = T0
    no_copies = SecretsObserved("kruise-daemon-config", "Active", (), {})
    assert planner.plan(Observed(job, (), no_copies), _at(0)).finalizers == []
    job["metadata"]["finalizers"] = []
    assert planner.plan(Observed(job, ()), _at(10)).requeue_after == 20
    assert planner.plan(Observed(job, ()), _at(30)).delete
