"""The pull-secret copies of an ImagePullJob (workers.imagepulljob.secrets and its use in the
planner), worked by hand from kruise v1.9.1 ``pkg/controller/imagepulljob``
(``syncJobPullSecrets``, ``classifyPullSecretsForJob``, ``releaseImagePullJobSecrets``,
``claimImagePullJobSecrets``, ``generateSyncedSecret``; the cases of its
``imagepulljob_controller_test.go`` where they fit) and the e2e spec's checks (pullimages.go
"Secret is synced": one copy whose ``source-key`` names the source, the job in its references,
the source's data)."""

from __future__ import annotations

from typing import Any

from workers.imagepulljob import planner
from workers.imagepulljob.planner import PROTECTION_FINALIZER, Observed
from workers.imagepulljob.secrets import (
    MODE,
    REFERENCES,
    SOURCE_KEY,
    CreateCopy,
    DeleteCopy,
    PatchCopy,
    SecretsObserved,
    plan_secrets,
)
from workers.podmechanics.kube_json import parse_time

DAEMON = "kruise-daemon-config"
DATA = {".dockerconfigjson": "eyJhdXRocyI6e319"}
NEW_DATA = {".dockerconfigjson": "eyJhdXRocyI6eyJ4Ijp7fX19"}


def _job(name: str = "test-job", pull: tuple[str, ...] = ("pull-secret",), **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "default",
            "name": name,
            "uid": f"uid-{name}",
            "resourceVersion": "3",
            "finalizers": [PROTECTION_FINALIZER],
        },
        "spec": {"image": "reg.io/app:v2", "pullSecrets": list(pull)},
        "status": {"startTime": "2026-01-01T00:00:00Z", **status},
    }


def _source(name: str = "pull-secret", data: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "default",
            "name": name,
            "labels": {"team": "a"},
            "annotations": {"x": "y"},
        },
        "type": "kubernetes.io/dockerconfigjson",
        "data": dict(DATA if data is None else data),
    }


def _copy(name: str, refs: str, source: str = "default/pull-secret", **extra: Any) -> dict[str, Any]:
    annotations = {SOURCE_KEY: source, REFERENCES: refs, MODE: "batch"}
    return {
        "metadata": {
            "namespace": DAEMON,
            "name": name,
            "uid": f"uid-{name}",
            "resourceVersion": "7",
            "annotations": annotations,
            **extra,
        },
        "type": "kubernetes.io/dockerconfigjson",
        "data": dict(DATA),
    }


def _seen(
    *copies: dict[str, Any], sources: dict[str, Any] | None = None, state: str = "Active"
) -> SecretsObserved:
    found = {"pull-secret": _source()} if sources is None else sources
    return SecretsObserved(DAEMON, state, copies, found)


def test_a_running_job_without_pull_secrets_copies_nothing() -> None:
    assert plan_secrets(_job(pull=()), None) == plan_secrets(_job(pull=()), _seen())
    decided = plan_secrets(_job(pull=()), None)
    assert (decided.actions, decided.refs, decided.error) == ((), (), "")


def test_the_first_copy_is_created_with_the_annotations_and_the_source_data() -> None:
    decided = plan_secrets(_job(), _seen())
    [create] = decided.actions
    assert isinstance(create, CreateCopy)
    body = create.body
    name = body["metadata"]["name"]
    # generateSyncedSecret: "<source>-<6 characters>" in kruise-daemon-config
    assert name.startswith("pull-secret-")
    assert len(name) == len("pull-secret-") + 6
    assert body["metadata"]["namespace"] == DAEMON
    assert body["metadata"]["labels"] == {"team": "a"}
    assert body["metadata"]["annotations"] == {
        "x": "y",
        SOURCE_KEY: "default/pull-secret",
        REFERENCES: "default/test-job",
        MODE: "batch",
    }
    assert (body["type"], body["data"]) == ("kubernetes.io/dockerconfigjson", DATA)
    # the NodeImage names the new copy with mode batch
    assert decided.refs == ({"namespace": DAEMON, "name": name, "mode": "batch"},)
    # the same pass again (the create lost) names the same copy: a second create answers 409
    assert plan_secrets(_job(), _seen()).actions == decided.actions


def test_a_copy_of_another_job_is_reused_and_gets_this_job_in_its_references() -> None:
    # "job in other namespace with existing synced secret"
    decided = plan_secrets(_job(), _seen(_copy("pull-secret-abc123", "default/other-job")))
    assert decided.refs == ({"namespace": DAEMON, "name": "pull-secret-abc123", "mode": "batch"},)
    assert decided.actions == (
        PatchCopy(
            "pull-secret-abc123",
            {
                "metadata": {
                    "resourceVersion": "7",
                    "annotations": {REFERENCES: "default/other-job,default/test-job"},
                },
                "data": DATA,
            },
        ),
    )


def test_a_copy_already_up_to_date_is_not_written() -> None:
    # "skip update when no changes"
    decided = plan_secrets(_job(), _seen(_copy("pull-secret-abc123", "default/test-job")))
    assert decided.actions == ()
    assert decided.refs == ({"namespace": DAEMON, "name": "pull-secret-abc123", "mode": "batch"},)


def test_a_changed_source_is_copied_again_and_a_removed_key_goes() -> None:
    source = _source(data=NEW_DATA)
    stale = _copy("pull-secret-abc123", "default/test-job")
    stale["data"]["old-key"] = "b2xk"
    decided = plan_secrets(_job(), _seen(stale, sources={"pull-secret": source}))
    assert decided.actions == (
        PatchCopy(
            "pull-secret-abc123",
            {
                "metadata": {"resourceVersion": "7", "annotations": {REFERENCES: "default/test-job"}},
                "data": {**NEW_DATA, "old-key": None},
            },
        ),
    )


def test_the_copy_referencing_the_job_wins_else_the_first_by_name() -> None:
    # "multiple matched source secrets": target-secret-1 (first by name)
    others = [_copy(f"target-secret-{n}", "default/other-job") for n in (3, 2, 1)]
    assert [r["name"] for r in plan_secrets(_job(), _seen(*others)).refs] == ["target-secret-1"]
    # "... and multiple matched refer secrets": the last by name of those referencing the job
    mine = [_copy(f"target-secret-{n}", "default/other-job,default/test-job") for n in (6, 4, 5)]
    decided = plan_secrets(_job(), _seen(*others, *mine))
    assert [r["name"] for r in decided.refs] == ["target-secret-6"]
    assert decided.actions == ()


def test_a_missing_source_is_skipped() -> None:
    # "source secret not found": no copy, nothing named in the NodeImages
    decided = plan_secrets(_job(), _seen(sources={"pull-secret": None}))
    assert (decided.actions, decided.refs, decided.error) == ((), (), "")


def test_a_job_in_the_daemon_namespace_names_its_own_secrets() -> None:
    job = _job()
    job["metadata"]["namespace"] = DAEMON
    decided = plan_secrets(job, _seen())
    assert decided.actions == ()
    assert decided.refs == ({"namespace": DAEMON, "name": "pull-secret"},)


def test_a_missing_daemon_namespace_holds_a_running_job_with_pull_secrets() -> None:
    assert plan_secrets(_job(), _seen(state="Missing")).error == (
        "failed to sync secrets: namespace(kruise-daemon-config) is not found"
    )
    assert "being deleted" in plan_secrets(_job(), _seen(state="Terminating")).error
    # nothing to copy or release: no need for it
    finished = _job(completionTime="2026-01-01T00:01:00Z")
    assert plan_secrets(finished, _seen(state="Missing")).error == ""


def test_a_finished_job_releases_its_copies_shared_or_not() -> None:
    # "Secret only referenced by current job should be deleted"; "... also by others should only be updated"
    finished = _job(completionTime="2026-01-01T00:01:00Z")
    alone = _copy("pull-secret-aaaaaa", "default/test-job")
    shared = _copy("other-secret-bbbbbb", "default/other-job,default/test-job", source="default/other-secret")
    unrelated = _copy("pull-secret-cccccc", "default/other-job")
    decided = plan_secrets(finished, _seen(alone, shared, unrelated))
    assert decided.actions == (
        PatchCopy(
            "other-secret-bbbbbb",
            {"metadata": {"resourceVersion": "7", "annotations": {REFERENCES: "default/other-job"}}},
        ),
        DeleteCopy("pull-secret-aaaaaa", "uid-pull-secret-aaaaaa", "7"),
    )
    assert decided.refs == ()


def test_a_copy_being_deleted_is_left_alone() -> None:
    # "All secrets being deleted should be ignored"
    going = _copy("pull-secret-aaaaaa", "default/test-job", deletionTimestamp="2026-01-01T00:00:00Z")
    finished = _job(completionTime="2026-01-01T00:01:00Z")
    assert plan_secrets(finished, _seen(going)).actions == ()
    # for a running job it is not a candidate either: a new copy is made
    [create] = plan_secrets(_job(), _seen(going)).actions
    assert isinstance(create, CreateCopy)


def test_a_source_the_job_no_longer_names_is_released() -> None:
    dropped = _copy("old-secret-aaaaaa", "default/test-job", source="default/old-secret")
    decided = plan_secrets(_job(), _seen(dropped))
    assert decided.actions[0] == DeleteCopy("old-secret-aaaaaa", "uid-old-secret-aaaaaa", "7")
    assert isinstance(decided.actions[1], CreateCopy)


def test_two_jobs_share_one_copy_until_the_last_releases_it() -> None:
    copy = _copy("pull-secret-abc123", "default/job-a")
    decided = plan_secrets(_job("job-b"), _seen(copy))
    [claim] = decided.actions
    assert isinstance(claim, PatchCopy)
    assert claim.patch["metadata"]["annotations"] == {REFERENCES: "default/job-a,default/job-b"}
    both = _copy("pull-secret-abc123", "default/job-a,default/job-b")
    [release] = plan_secrets(_job("job-a", completionTime="2026-01-01T00:01:00Z"), _seen(both)).actions
    assert release == PatchCopy(
        "pull-secret-abc123",
        {"metadata": {"resourceVersion": "7", "annotations": {REFERENCES: "default/job-b"}}},
    )
    last = _copy("pull-secret-abc123", "default/job-b")
    deleting = _job("job-b")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:02:00Z"
    assert plan_secrets(deleting, _seen(last)).actions == (
        DeleteCopy("pull-secret-abc123", "uid-pull-secret-abc123", "7"),
    )


def _at(seconds: float) -> float:
    moment = parse_time("2026-01-01T00:00:00Z")
    assert moment is not None
    return moment.timestamp() + seconds


NODE = {"metadata": {"name": "n1", "resourceVersion": "9"}, "spec": {}, "status": {}}


def test_the_job_names_the_copy_in_its_nodeimages_and_syncs_secrets_first() -> None:
    copy = _copy("pull-secret-abc123", "default/other-job")
    decided = planner.plan(Observed(_job(), (NODE,), _seen(copy)), _at(1))
    assert [type(a) for a in decided.secrets] == [PatchCopy]
    [write] = decided.node_images
    ref = {"namespace": DAEMON, "name": "pull-secret-abc123", "mode": "batch"}
    assert write.patch["spec"]["images"]["reg.io/app"]["pullSecrets"] == [ref]
    # a NodeImage with the tag but not the copy is not synced (kruise: secretSynced false)
    tagged = {
        "metadata": {"name": "n1", "resourceVersion": "9"},
        "spec": {"images": {"reg.io/app": {"tags": [{"tag": "v2", "version": 0, "ownerReferences": [
            {"uid": "uid-test-job"}]}], "pullSecrets": [{"namespace": "default", "name": "pull-secret"}]}}},
        "status": {},
    }  # fmt: skip
    _, not_synced = planner.calculate_status(_job(), [tagged], _at(1), (ref,))
    assert not_synced == ["n1"]
    patch = planner.sync_node_image(_job(), tagged, _at(1), (ref,))
    assert patch is not None
    assert patch["spec"]["images"]["reg.io/app"]["pullSecrets"][-1] == ref


def test_a_finished_or_deleted_job_releases_before_its_finalizer_goes() -> None:
    mine = _copy("pull-secret-abc123", "default/test-job")
    finished = _job(completionTime="2026-01-01T00:01:00Z")
    decided = planner.plan(Observed(finished, (), _seen(mine)), _at(90))
    assert decided.finalizers == []
    assert decided.secrets == (DeleteCopy("pull-secret-abc123", "uid-pull-secret-abc123", "7"),)
    deleting = _job()
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:02:00Z"
    decided = planner.plan(Observed(deleting, (), _seen(mine)), _at(130))
    assert (decided.finalizers, len(decided.secrets)) == ([], 1)
    # without the finalizer there is nothing left to release (kruise's finalize returns at once)
    deleting["metadata"]["finalizers"] = []
    assert planner.plan(Observed(deleting, (), None), _at(130)).secrets == ()


def test_a_missing_daemon_namespace_is_retried_not_dead_lettered() -> None:
    decided = planner.plan(Observed(_job(), (NODE,), _seen(state="Missing")), _at(1))
    assert decided.retry
    assert not decided.error
    assert (decided.node_images, decided.status) == ((), None)
