"""Image pre-download for in-place update (kruise ``createImagePullJobsForInPlaceUpdate``).

Expected values are worked out by hand from kruise v1.9.1's
``pkg/controller/cloneset/cloneset_predownload_image.go``, ``cloneset_controller.go`` (the
call site) and ``pkg/util/imagejob/utilfunction/imagejob_util.go`` (``CreateJobForWorkload``).
"""

from __future__ import annotations

from typing import Any

import pytest

from flotilla.runtime.features import feature_gates
from schemas.kruise.cloneset import CloneSet
from tests.unit.cloneset.cloneset_builders import NOW, UID, cloneset, pod, rev_name, revision
from workers.cloneset.actions import (
    Action,
    CreateImagePullJob,
    CreateRevision,
    DeleteImagePullJob,
    EmitEvent,
    MarkRevision,
    Plan,
)
from workers.cloneset.config import PlannerConfig, planner_config
from workers.cloneset.observed import ObservedCloneSet
from workers.cloneset.planner import plan
from workers.cloneset.predownload import (
    CREATED_LABEL,
    IGNORED_LABEL,
    PreDownloadInput,
    changed_images,
    image_pull_job,
    plan_predownload,
)
from workers.podmechanics.revisions import HASH_LABEL, template_of

ON = PlannerConfig(pre_download_image=True)
IN_PLACE = {"type": "InPlaceIfPossible", "partition": 1}


def with_meta(
    cs: CloneSet,
    annotations: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
    containers: list[dict[str, Any]] | None = None,
    pull_secrets: list[str] | None = None,
) -> CloneSet:
    wire = cs.to_wire()
    wire["metadata"]["annotations"] = dict(annotations or {})
    if status is not None:
        wire["status"] = status
    if containers is not None:
        wire["spec"]["template"]["spec"]["containers"] = containers
    if pull_secrets is not None:
        wire["spec"]["template"]["spec"]["imagePullSecrets"] = [{"name": n} for n in pull_secrets]
    return CloneSet.from_wire(wire)


def rollout(
    replicas: int = 5,
    strategy: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    *,
    old_image: str = "nginx:1",
    new_image: str = "nginx:2",
    env: str | None = None,
    status: dict[str, Any] | None = None,
) -> tuple[CloneSet, dict[str, Any]]:
    """A CloneSet whose template just changed from ``old_image`` to ``new_image``, and its old revision."""
    old = cloneset(replicas, image=old_image, strategy=strategy or IN_PLACE)
    old_rev = revision(old)
    state = (
        status if status is not None else {"currentRevision": rev_name(old), "updateRevision": rev_name(old)}
    )
    new = cloneset(replicas, image=new_image, env=env, strategy=strategy or IN_PLACE)
    return with_meta(new, annotations, state), old_rev


def predownload_steps(p: Plan) -> list[Action]:
    return [a for a in p.actions if isinstance(a, CreateImagePullJob | MarkRevision | DeleteImagePullJob)]


def run_plan(
    cs: CloneSet,
    revisions: list[dict[str, Any]],
    config: PlannerConfig = ON,
    jobs: list[dict[str, Any]] | None = None,
) -> Plan:
    pods = [pod(f"web-{i}", str(revisions[0]["metadata"]["name"])) for i in range(cs.spec.replicas)]
    observed = ObservedCloneSet.of(cs, pods, (), revisions, 7, image_pull_jobs=jobs or [])
    return plan(observed, config, NOW)


def test_gate_maps_from_kruise_feature_gates() -> None:
    assert PlannerConfig().pre_download_image is False  # kruise: alpha, default off
    assert planner_config(feature_gates()).pre_download_image is False
    assert (
        planner_config(feature_gates({"PreDownloadImageForInPlaceUpdate": True})).pre_download_image is True
    )
    # kruise: KruiseDaemon off disables pre-download (isPreDownloadDisabled).
    off = feature_gates({"PreDownloadImageForInPlaceUpdate": True, "KruiseDaemon": False})
    assert planner_config(off).pre_download_image is False


def test_e2e_spec_new_image_gets_one_job_with_parallelism_two() -> None:
    # The e2e "pre-download for new image": 5 replicas, InPlaceIfPossible, partition 1.
    cs, old_rev = rollout(annotations={"apps.kruise.io/image-predownload-parallelism": "2"})
    p = run_plan(cs, [old_rev])
    new_name = rev_name(cs)
    hash_value = new_name.rsplit("-", 1)[1]
    [create_rev] = [a for a in p.actions if isinstance(a, CreateRevision)]
    steps = predownload_steps(p)
    assert p.actions.index(create_rev) < p.actions.index(steps[0])  # the revision exists first
    assert steps == [
        CreateImagePullJob(
            {
                "apiVersion": "apps.kruise.io/v1beta1",
                "kind": "ImagePullJob",
                "metadata": {
                    "name": f"{new_name}-app",
                    "namespace": "ns",
                    "labels": {"app": "web", "controller.kubernetes.io/hash": hash_value},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps.kruise.io/v1alpha1",
                            "kind": "CloneSet",
                            "name": "web",
                            "uid": UID,
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": {
                    "image": "nginx:2",
                    "podSelector": {
                        "matchLabels": {"app": "web"},
                        "matchExpressions": [
                            {
                                "key": "controller-revision-hash",
                                "operator": "NotIn",
                                "values": [new_name, hash_value],
                            }
                        ],
                    },
                    "parallelism": 2,
                    "pullPolicy": {"backoffLimit": 1, "timeoutSeconds": 300},
                    "completionPolicy": {"type": "Always", "ttlSecondsAfterFinished": 600},
                    "sandboxConfig": {
                        "labels": {"app": "web", "controller.kubernetes.io/hash": hash_value},
                    },
                },
            },
            success_event=steps[0].success_event,  # type: ignore[union-attr]
            failure_event=steps[0].failure_event,  # type: ignore[union-attr]
        ),
        MarkRevision(new_name, "apps.kruise.io/pre-predownload-created", "1 ImagePullJob(s)"),
    ]
    job_step = steps[0]
    assert isinstance(job_step, CreateImagePullJob)
    assert job_step.success_event is not None
    assert job_step.failure_event is not None
    assert (job_step.success_event.type, job_step.success_event.reason, job_step.success_event.message) == (
        "Normal",
        "CreatedImagePullJob",
        f"created ImagePullJob {new_name}-app for image: nginx:2",
    )
    assert (job_step.failure_event.type, job_step.failure_event.reason) == (
        "Normal",
        "FailedCreateImagePullJob",
    )
    assert job_step.failure_event.message == f"failed to create ImagePullJob {new_name}-app: {{error}}"
    # No Event is planned outside the job step (kruise emits them on the outcome).
    assert not [a for a in p.actions if isinstance(a, EmitEvent) and "ImagePullJob" in a.event.reason]


def test_gate_off_plans_nothing() -> None:
    cs, old_rev = rollout(annotations={"apps.kruise.io/image-predownload-parallelism": "2"})
    assert predownload_steps(run_plan(cs, [old_rev], PlannerConfig())) == []


def _marked(cs: CloneSet, label: str) -> dict[str, Any]:
    rev = revision(cs)
    rev["metadata"]["labels"][label] = "true"
    return rev


@pytest.mark.parametrize("label", [CREATED_LABEL, IGNORED_LABEL])
def test_a_handled_revision_is_not_handled_again(label: str) -> None:
    cs, old_rev = rollout()
    assert predownload_steps(run_plan(cs, [old_rev, _marked(cs, label)])) == []


def test_second_pass_after_the_mark_creates_no_duplicate() -> None:
    cs, old_rev = rollout()
    first = predownload_steps(run_plan(cs, [old_rev, revision(cs, 2)]))
    assert [type(s).__name__ for s in first] == ["CreateImagePullJob", "MarkRevision"]
    assert predownload_steps(run_plan(cs, [old_rev, _marked(cs, CREATED_LABEL)])) == []


# (case, replicas, strategy, env change, expected: "jobs" or the ignored mark)
IGNORED_CASES = [
    ("recreate", 5, {"type": "ReCreate", "partition": 1}, None, "ignored"),
    ("in-place-only", 5, {"type": "InPlaceOnly", "partition": 1}, None, "jobs"),
    ("3 replicas: <= minimumReplicasToPreDownloadImage", 3, IN_PLACE, None, "ignored"),
    ("4 replicas", 4, IN_PLACE, None, "jobs"),
    (
        "partition 0, maxUnavailable 100%: one batch",
        5,
        {"type": "InPlaceIfPossible", "maxUnavailable": "100%"},
        None,
        "ignored",
    ),
    (
        "partition 0, maxUnavailable 5: one batch",
        5,
        {"type": "InPlaceIfPossible", "maxUnavailable": 5},
        None,
        "ignored",
    ),
    # 99% of 5 rounds down to 4 (GetValueFromIntOrPercent(..., false)): not one batch.
    (
        "partition 0, maxUnavailable 99%: 4 < 5",
        5,
        {"type": "InPlaceIfPossible", "maxUnavailable": "99%"},
        None,
        "jobs",
    ),
    ("partition 0, default maxUnavailable 20%", 5, {"type": "InPlaceIfPossible"}, None, "jobs"),
    (
        "partition 1, maxUnavailable 100%",
        5,
        {"type": "InPlaceIfPossible", "partition": 1, "maxUnavailable": "100%"},
        None,
        "jobs",
    ),
    ("env change: no in-place update", 5, IN_PLACE, "debug", "ignored"),
]


@pytest.mark.parametrize(
    ("case", "replicas", "strategy", "env", "expected"), IGNORED_CASES, ids=[c[0] for c in IGNORED_CASES]
)
def test_when_pre_download_applies(
    case: str, replicas: int, strategy: dict[str, Any], env: str | None, expected: str
) -> None:
    cs, old_rev = rollout(replicas, strategy, env=env)
    steps = predownload_steps(run_plan(cs, [old_rev]))
    if expected == "ignored":
        assert [(type(s).__name__, getattr(s, "label", "")) for s in steps] == [
            ("MarkRevision", IGNORED_LABEL)
        ]
        assert isinstance(steps[0], MarkRevision)
        assert steps[0].name == rev_name(cs)
    else:
        assert [type(s).__name__ for s in steps] == ["CreateImagePullJob", "MarkRevision"]
        assert isinstance(steps[1], MarkRevision)
        assert steps[1].label == CREATED_LABEL


# (annotation, status updatedReadyReplicas, status at the new revision?, expected to act)
MIN_READY_CASES = [
    ("2", 1, True, False),
    ("2", 2, True, True),
    ("2", 5, False, False),  # status.updateRevision is another revision: updated ready counts 0
    ("40%", 1, True, False),  # 40% of 5 rounds up to 2
    ("40%", 2, True, True),
    ("21%", 1, True, False),  # 21% of 5 = 1.05, rounds up to 2
    ("bogus", 0, True, True),  # malformed: kruise logs and uses 0
    ("0", 0, False, True),
]


@pytest.mark.parametrize(("value", "updated_ready", "at_new", "acts"), MIN_READY_CASES)
def test_min_updated_ready_pods(value: str, updated_ready: int, at_new: bool, acts: bool) -> None:
    cs, old_rev = rollout()
    old_name = str(old_rev["metadata"]["name"])
    status = {
        "currentRevision": old_name,
        "updateRevision": rev_name(cs) if at_new else old_name,
        "updatedReadyReplicas": updated_ready,
    }
    cs = with_meta(cs, {"apps.kruise.io/image-predownload-min-updated-ready-pods": value}, status)
    steps = predownload_steps(run_plan(cs, [old_rev, revision(cs, 2)]))
    assert bool(steps) is acts
    if acts:
        assert [type(s).__name__ for s in steps] == ["CreateImagePullJob", "MarkRevision"]


@pytest.mark.parametrize(
    ("annotations", "parallelism", "timeout"),
    [
        ({}, 1, 300),
        ({"apps.kruise.io/image-predownload-parallelism": "3"}, 3, 300),
        ({"apps.kruise.io/image-predownload-parallelism": "x"}, 1, 300),
        ({"apps.kruise.io/image-predownload-parallelism": "1.5"}, 1, 300),
        ({"apps.kruise.io/image-predownload-timeout-seconds": "60"}, 1, 60),
        ({"apps.kruise.io/image-predownload-timeout-seconds": "soon"}, 1, 300),
        ({"apps.kruise.io/image-predownload-timeout-seconds": "3000000000"}, 1, 300),  # not an int32
    ],
)
def test_parallelism_and_timeout_annotations(
    annotations: dict[str, str], parallelism: int, timeout: int
) -> None:
    cs, old_rev = rollout(annotations=annotations)
    [job, _] = predownload_steps(run_plan(cs, [old_rev]))
    assert isinstance(job, CreateImagePullJob)
    spec: Any = job.job["spec"]
    assert spec["parallelism"] == parallelism
    assert spec["pullPolicy"] == {"backoffLimit": 1, "timeoutSeconds": timeout}


def test_one_job_per_changed_or_new_container_with_pull_secrets() -> None:
    old = with_meta(
        cloneset(5, strategy=IN_PLACE),
        containers=[{"name": "app", "image": "nginx:1"}, {"name": "side", "image": "busybox:1"}],
        pull_secrets=["regcred"],  # unchanged: a pull-secret change is not in place
    )
    old_rev = revision(old)
    status = {"currentRevision": rev_name(old), "updateRevision": rev_name(old)}
    new = with_meta(
        cloneset(5, strategy=IN_PLACE),
        status=status,
        containers=[{"name": "app", "image": "nginx:1"}, {"name": "side", "image": "busybox:2"}],
        pull_secrets=["regcred"],
    )
    new_rev = revision(new, 2)
    given = PreDownloadInput(new, old_rev, new_rev, ())
    steps = plan_predownload(given)
    jobs = [s.job for s in steps if isinstance(s, CreateImagePullJob)]
    assert [(j["metadata"]["name"], j["spec"]["image"]) for j in jobs] == [  # type: ignore[index]
        (f"{rev_name(new)}-side", "busybox:2")
    ]
    assert jobs[0]["spec"]["pullSecrets"] == ["regcred"]  # type: ignore[index]
    # A container the old revision does not have is pulled too (diffImagesBetweenRevisions).
    added = dict(new_rev)
    added["data"] = {
        "spec": {
            "template": {
                "$patch": "replace",
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{"name": "app", "image": "nginx:1"}, {"name": "extra", "image": "redis:7"}]
                },
            }
        }
    }
    old_one = dict(old_rev)
    old_one["data"] = {
        "spec": {
            "template": {
                "$patch": "replace",
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1"}]},
            }
        }
    }
    assert changed_images(template_of(old_one), template_of(added)) == {"extra": "redis:7"}


def test_revisions_agree_again_deletes_only_the_clonesets_jobs() -> None:
    cs = cloneset(5, strategy=IN_PLACE)
    rev = revision(cs)
    name = rev_name(cs)
    cs = with_meta(cs, status={"currentRevision": name, "updateRevision": name})

    def job(job_name: str, owner_uid: str) -> dict[str, Any]:
        ref = {
            "apiVersion": "apps.kruise.io/v1alpha1",
            "kind": "CloneSet",
            "name": "web",
            "uid": owner_uid,
            "controller": True,
        }
        return {"metadata": {"name": job_name, "uid": f"uid-{job_name}", "ownerReferences": [ref]}}

    jobs = [job("web-old-app", UID), job("someone-else", "other-uid")]
    assert predownload_steps(run_plan(cs, [rev], jobs=jobs)) == [
        DeleteImagePullJob("web-old-app", "uid-web-old-app")
    ]
    assert predownload_steps(run_plan(cs, [rev], PlannerConfig(), jobs=jobs)) == []


def test_job_labels_carry_the_update_revision_hash() -> None:
    cs, old_rev = rollout()
    [job, _] = predownload_steps(run_plan(cs, [old_rev]))
    assert isinstance(job, CreateImagePullJob)
    labels: Any = job.job["metadata"]["labels"]  # type: ignore[index]
    assert labels[HASH_LABEL] == rev_name(cs).rsplit("-", 1)[1]


def test_sandbox_config_carries_template_annotations_when_there_are_some() -> None:
    cs = cloneset(5, strategy=IN_PLACE)
    wire = cs.to_wire()
    wire["spec"]["template"]["metadata"]["annotations"] = {"team": "a"}
    annotated = CloneSet.from_wire(wire)
    rev = revision(annotated)
    job: Any = image_pull_job(annotated, rev, "app", "nginx:2")
    assert job["spec"]["sandboxConfig"]["annotations"] == {"team": "a"}
    plain: Any = image_pull_job(cs, revision(cs), "app", "nginx:2")
    assert "annotations" not in plain["spec"]["sandboxConfig"]  # omitempty
