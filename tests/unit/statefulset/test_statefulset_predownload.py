"""Advanced StatefulSet image pre-download (kruise ``doPreDownload``).

Expected values are worked out by hand from kruise v1.9.1's
``pkg/controller/statefulset/statefulset_predownload_image.go``, ``stateful_set_control.go``
(``doPreDownload``, called in ``updateStatefulSet`` before any pod is touched),
``statefulset_controller.go`` (the gate: ``PreDownloadImageForInPlaceUpdate`` and ``KruiseDaemon``)
and ``pkg/util/imagejob/utilfunction`` (``CreateJobForWorkload``, ``DeleteJobsForWorkload``). The
revisions are the real planner's (``REV_A`` / ``REV_B``: the template at ``nginx:1.25`` /
``nginx:1.26``); the act tests fake only the API calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flotilla.runtime.errors import AlreadyExists, KubeError, Terminal
from flotilla.runtime.features import feature_gates
from schemas.bus.envelope import Envelope, EventType, ReconcileKey
from tests.unit.statefulset.sts_builders import IMAGE_B, NOW, UID, pod, sts
from tests.unit.statefulset.test_statefulset_planner import REV_A, REV_B, A, B
from workers.runtime import actions as runtime
from workers.statefulset import act as act_module
from workers.statefulset import predownload
from workers.statefulset.builder import StatefulSetPlan
from workers.statefulset.observed import ObservedStatefulSet, PlannerConfig, planner_config
from workers.statefulset.planner import plan
from workers.statefulset.predownload import image_pull_jobs

ON = PlannerConfig(pre_download_image=True)
IN_PLACE = {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible"}}
CREATED = "apps.kruise.io/pre-predownload-created"
IGNORED = "apps.kruise.io/image-predownload-ignored"
HASH_B = REV_B["metadata"]["labels"]["controller.kubernetes.io/hash"]
STEADY_A = {"currentRevision": A, "updateRevision": A}


@pytest.fixture(autouse=True)
def _no_jobs_seen_gone() -> Iterator[None]:
    """Each test starts as a process whose LISTs never found a set's jobs gone."""
    predownload.JOBS_GONE.clear()
    yield
    predownload.JOBS_GONE.clear()


def run_pre(
    body: dict[str, Any],
    revisions: list[dict[str, Any]],
    *,
    config: PlannerConfig = ON,
    jobs: list[dict[str, Any]] | None = None,
    pods: list[dict[str, Any]] | None = None,
) -> StatefulSetPlan:
    replicas = int(body["spec"]["replicas"])
    found = [pod(i, A) for i in range(replicas)] if pods is None else pods
    observed = ObservedStatefulSet.of(body, found, (), revisions, jobs or ())
    return plan(observed, config, NOW)


def rollout(
    replicas: int = 5,
    strategy: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """The set whose template just went from nginx:1.25 (revision A) to nginx:1.26."""
    body = sts(
        replicas, image=IMAGE_B, status=status or STEADY_A, updateStrategy=strategy or IN_PLACE, **spec
    )
    body["metadata"]["annotations"] = dict(annotations or {})
    return body


def _pre(result: StatefulSetPlan) -> list[tuple[str, str, str]]:
    """The plan's pre-download writes: (verb, resource, name), in plan order."""
    indices = {i for i, _ in result.best_effort}
    out: list[tuple[str, str, str]] = []
    for i, action in enumerate(result.actions):
        if i not in indices:
            continue
        match action:
            case runtime.CreateObject(resource, _, body):
                out.append(("create", resource.plural, body["metadata"]["name"]))
            case runtime.PatchObject(resource, _, name, patch, "merge", ""):
                [(label, value)] = patch["metadata"]["labels"].items()
                assert value == "true"
                out.append(("mark", resource.plural, f"{name} {label}"))
            case runtime.DeleteObject(resource, _, name, _uid, _rv):
                out.append(("delete", resource.plural, name))
    return out


def _job(result: StatefulSetPlan) -> dict[str, Any]:
    [body] = [
        a.body
        for a in result.actions
        if isinstance(a, runtime.CreateObject) and a.resource.plural == "imagepulljobs"
    ]
    return dict(body)


def test_gate_maps_from_kruise_feature_gates() -> None:
    assert PlannerConfig().pre_download_image is False  # kruise: alpha, default off
    assert planner_config(feature_gates()).pre_download_image is False
    on = feature_gates({"PreDownloadImageForInPlaceUpdate": True})
    assert planner_config(on).pre_download_image is True
    # kruise's statefulset Add: KruiseDaemon off sets isPreDownloadDisabled
    off = feature_gates({"PreDownloadImageForInPlaceUpdate": True, "KruiseDaemon": False})
    assert planner_config(off).pre_download_image is False


def test_new_image_gets_kruises_image_pull_job_before_any_pod_write() -> None:
    result = run_pre(rollout(annotations={"apps.kruise.io/image-predownload-parallelism": "2"}), [REV_A])
    # the revision is created first (getStatefulSetRevisions), then doPreDownload, then the pods
    assert _pre(result) == [
        ("create", "imagepulljobs", f"{B}-main"),
        ("mark", "controllerrevisions", f"{B} {CREATED}"),
    ]
    plurals = [getattr(a, "resource", None) for a in result.actions]
    names = [p.plural if p is not None else "" for p in plurals]
    first_job = names.index("imagepulljobs")
    assert names.index("controllerrevisions") < first_job
    assert "pods" not in names[:first_job]
    assert _job(result) == {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "ImagePullJob",
        "metadata": {
            "name": f"{B}-main",
            "namespace": "ns",
            "labels": {"app": "web", "controller.kubernetes.io/hash": HASH_B},
            "ownerReferences": [
                {
                    "apiVersion": "apps.kruise.io/v1beta1",
                    "kind": "StatefulSet",
                    "name": "web",
                    "uid": UID,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "image": IMAGE_B,
            "podSelector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "controller-revision-hash", "operator": "NotIn", "values": [B, HASH_B]}
                ],
            },
            "parallelism": 2,
            "pullPolicy": {"backoffLimit": 1, "timeoutSeconds": 300},
            "completionPolicy": {"type": "Always", "ttlSecondsAfterFinished": 600},
            "sandboxConfig": {"labels": {"app": "web", "controller.kubernetes.io/hash": HASH_B}},
        },
    }
    # kruise's Events on the set (both Normal), sent once the create's outcome is known
    [(_, create_how), (_, _mark_how)] = result.best_effort
    assert create_how.success is not None
    assert create_how.failure is not None
    assert (create_how.success.type, create_how.success.reason, create_how.success.message) == (
        "Normal",
        "CreatedImagePullJob",
        f"created ImagePullJob {B}-main for image: nginx:1.26",
    )
    assert (create_how.failure.type, create_how.failure.reason, create_how.failure.message) == (
        "Normal",
        "FailedCreateImagePullJob",
        f"failed to create ImagePullJob {B}-main: {{error}}",
    )


def test_gate_off_plans_no_pre_download() -> None:
    assert _pre(run_pre(rollout(), [REV_A], config=PlannerConfig())) == []


@pytest.mark.parametrize(
    ("replicas", "strategy", "ignored"),
    [
        (5, {"type": "OnDelete"}, True),  # update type OnDelete
        (5, {"rollingUpdate": {}}, True),  # podUpdatePolicy defaults to ReCreate
        (5, {"rollingUpdate": {"podUpdatePolicy": "ReCreate"}}, True),
        (3, IN_PLACE, True),  # replicas <= minimumReplicasToPreDownloadImage (3)
        (4, IN_PLACE, False),
        # every pod in one batch: partition 0 and maxUnavailable >= replicas
        (5, {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "maxUnavailable": 5}}, True),
        (5, {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "maxUnavailable": "100%"}}, True),
        (5, {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "maxUnavailable": "80%"}}, False),
        # a partition keeps some pods back: not one batch (kruise reads the partition as an int)
        (
            5,
            {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "maxUnavailable": 5, "partition": 1}},
            False,
        ),
        (5, {"rollingUpdate": {"podUpdatePolicy": "InPlaceOnly"}}, False),
    ],
)
def test_when_pre_download_is_ignored(replicas: int, strategy: dict[str, Any], ignored: bool) -> None:
    # maxUnavailable other than 1 needs Parallel (kruise's validateMaxUnavailableField)
    result = run_pre(rollout(replicas, strategy, podManagementPolicy="Parallel"), [REV_A])
    if ignored:
        assert _pre(result) == [("mark", "controllerrevisions", f"{B} {IGNORED}")]
    else:
        assert _pre(result) == [
            ("create", "imagepulljobs", f"{B}-main"),
            ("mark", "controllerrevisions", f"{B} {CREATED}"),
        ]


def test_a_change_that_is_not_in_place_is_ignored() -> None:
    body = rollout()
    body["spec"]["template"]["spec"]["containers"][0]["command"] = ["sleep", "1"]  # not in place
    result = run_pre(body, [REV_A])
    [(verb, plural, what)] = _pre(result)
    assert (verb, plural) == ("mark", "controllerrevisions")
    assert what.endswith(f" {IGNORED}")
    assert not what.startswith(f"{B} ")  # another template, another revision


@pytest.mark.parametrize(
    ("annotation", "status", "created"),
    [
        # updatedReadyReplicas counts only while the status names this update revision
        ("2", {"currentRevision": A, "updateRevision": B, "updatedReadyReplicas": 1}, False),
        ("2", {"currentRevision": A, "updateRevision": B, "updatedReadyReplicas": 2}, True),
        ("2", {"currentRevision": A, "updateRevision": A, "updatedReadyReplicas": 5}, False),
        # percent of replicas (5), rounded up: 30% -> 2, 40% -> 2
        ("30%", {"currentRevision": A, "updateRevision": B, "updatedReadyReplicas": 1}, False),
        ("30%", {"currentRevision": A, "updateRevision": B, "updatedReadyReplicas": 2}, True),
        ("40%", {"currentRevision": A, "updateRevision": B, "updatedReadyReplicas": 2}, True),
        # malformed: kruise logs the error and goes on with 0
        ("soon", {"currentRevision": A, "updateRevision": B, "updatedReadyReplicas": 0}, True),
    ],
)
def test_min_updated_ready_pods(annotation: str, status: dict[str, Any], created: bool) -> None:
    body = rollout(
        annotations={"apps.kruise.io/image-predownload-min-updated-ready-pods": annotation}, status=status
    )
    result = run_pre(body, [REV_A, REV_B])
    expected = [("create", "imagepulljobs", f"{B}-main"), ("mark", "controllerrevisions", f"{B} {CREATED}")]
    assert _pre(result) == (expected if created else [])


@pytest.mark.parametrize("label", [CREATED, IGNORED])
def test_a_marked_update_revision_is_handled_once(label: str) -> None:
    marked = {
        **REV_B,
        "metadata": {**REV_B["metadata"], "labels": {**REV_B["metadata"]["labels"], label: "true"}},
    }
    status = {"currentRevision": A, "updateRevision": B}
    assert _pre(run_pre(rollout(status=status), [REV_A, marked])) == []


def test_partitioned_rollout_pulls_on_the_nodes_of_every_pod_not_yet_updated() -> None:
    # partition 3 of 5: kruise's job selects every pod not at the update revision (no partition
    # narrowing); the pods at B are left out by the NotIn requirement
    strategy = {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "partition": 3}}
    pods = [pod(0, A), pod(1, A), pod(2, A), pod(3, A), pod(4, B, image=IMAGE_B)]
    result = run_pre(rollout(strategy=strategy), [REV_A], pods=pods)
    selector = _job(result)["spec"]["podSelector"]
    assert selector["matchExpressions"] == [
        {"key": "controller-revision-hash", "operator": "NotIn", "values": [B, HASH_B]}
    ]


def job_owned_by(name: str, owner_uid: str) -> dict[str, Any]:
    ref = {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "StatefulSet",
        "name": "web",
        "uid": owner_uid,
        "controller": True,
    }
    return {"metadata": {"name": name, "uid": f"uid-{name}", "ownerReferences": [ref]}}


def test_revisions_agree_again_deletes_only_the_sets_jobs() -> None:
    body = sts(5, updateStrategy=IN_PLACE, status=STEADY_A)
    jobs = [job_owned_by(f"{A}-main", UID), job_owned_by("someone-else", "other-uid")]
    result = run_pre(body, [REV_A], jobs=jobs)
    assert _pre(result) == [("delete", "imagepulljobs", f"{A}-main")]
    [delete] = [a for a in result.actions if isinstance(a, runtime.DeleteObject)]
    assert delete.uid == f"uid-{A}-main"
    assert _pre(run_pre(body, [REV_A], jobs=jobs, config=PlannerConfig())) == []


def _recording(fail: dict[str, KubeError], sent: list[str], emitted: list[tuple[str, str, str]]) -> object:
    async def execute(api: object, action: runtime.Action, manager: str) -> None:
        del api, manager
        if isinstance(action, runtime.EmitEvent):
            emitted.append((action.type, action.reason, action.message))
            return
        resource = getattr(action, "resource", None)
        what = f"{type(action).__name__} {resource.plural if resource else ''}"
        sent.append(what)
        if what in fail:
            raise fail[what]

    return execute


async def test_act_runs_pre_download_best_effort(monkeypatch: pytest.MonkeyPatch) -> None:
    # kruise only logs a failed job create (with a Normal FailedCreateImagePullJob Event) and a
    # failed revision mark; the pass goes on to the pods and the status
    result = run_pre(rollout(), [REV_A])
    sent: list[str] = []
    emitted: list[tuple[str, str, str]] = []
    forbidden = Terminal("imagepulljobs.apps.kruise.io is forbidden: no", status=403)
    fail: dict[str, KubeError] = {
        "CreateObject imagepulljobs": forbidden,
        "PatchObject controllerrevisions": Terminal("conflict", status=409),
    }
    monkeypatch.setattr(runtime, "execute_action", _recording(fail, sent, emitted))
    await act_module.act(object(), None, result)  # type: ignore[arg-type]
    assert "PatchObject statefulsets" in sent  # the status write still went out, last
    assert sent[-1] == "PatchObject statefulsets"
    assert (
        "Normal",
        "FailedCreateImagePullJob",
        f"failed to create ImagePullJob {B}-main: imagepulljobs.apps.kruise.io is forbidden: no",
    ) in emitted
    assert not any(reason == "CreatedImagePullJob" for _, reason, _ in emitted)


async def test_act_takes_an_existing_job_as_done(monkeypatch: pytest.MonkeyPatch) -> None:
    # the name is deterministic: AlreadyExists is the job of an earlier pass (no Event, as kruise)
    result = run_pre(rollout(), [REV_A])
    sent: list[str] = []
    emitted: list[tuple[str, str, str]] = []
    exists = AlreadyExists("already exists", status=409)
    monkeypatch.setattr(
        runtime, "execute_action", _recording({"CreateObject imagepulljobs": exists}, sent, emitted)
    )
    await act_module.act(object(), None, result)  # type: ignore[arg-type]
    assert "PatchObject controllerrevisions" in sent  # the revision still gets its mark
    assert [r for _, r, _ in emitted if "ImagePullJob" in r] == []
    # and when the create succeeds: kruise's Normal CreatedImagePullJob
    emitted.clear()
    monkeypatch.setattr(runtime, "execute_action", _recording({}, [], emitted))
    await act_module.act(object(), None, result)  # type: ignore[arg-type]
    assert (
        "Normal",
        "CreatedImagePullJob",
        f"created ImagePullJob {B}-main for image: nginx:1.26",
    ) in emitted


class _Reader:
    def __init__(self) -> None:
        self.lists: list[tuple[str, str]] = []

    async def get(self, resource: object, namespace: str, name: str) -> None:
        raise AssertionError("no GET")

    async def list(
        self, resource: Any, namespace: str, label_selector: str = "", field_selector: str = ""
    ) -> list[dict[str, Any]]:
        del namespace, field_selector
        self.lists.append((resource.plural, label_selector))
        return [job_owned_by(f"{A}-main", UID)]


@pytest.mark.parametrize(
    ("status", "marked", "reads"),
    [
        (STEADY_A, True, True),  # the revisions agree and jobs were made: this pass may delete them
        (STEADY_A, False, False),  # no revision says jobs were created
        ({"currentRevision": A, "updateRevision": B}, True, False),  # mid-rollout: nothing to delete
        ({}, True, False),
    ],
)
async def test_observe_reads_the_jobs_only_when_the_pass_may_delete_them(
    status: dict[str, Any], marked: bool, reads: bool
) -> None:
    revision = dict(REV_A)
    if marked:
        revision["metadata"] = {
            **REV_A["metadata"],
            "labels": {**REV_A["metadata"]["labels"], CREATED: "true"},
        }
    reader = _Reader()
    found = await image_pull_jobs(reader, "ns", "app=web", {"status": status}, [revision])
    assert reader.lists == ([("imagepulljobs", "app=web")] if reads else [])
    assert len(found) == (1 if reads else 0)


class _JobsReader:
    """Answers the jobs LIST with ``jobs`` (changed between reconciles); counts the LISTs."""

    def __init__(self) -> None:
        self.jobs: list[dict[str, Any]] = []
        self.lists = 0

    async def get(self, resource: object, namespace: str, name: str) -> None:
        raise AssertionError("no GET")

    async def list(
        self, resource: Any, namespace: str, label_selector: str = "", field_selector: str = ""
    ) -> list[dict[str, Any]]:
        assert (resource.plural, namespace, label_selector) == ("imagepulljobs", "ns", "app=web")
        self.lists += 1
        return list(self.jobs)


def _marked(revision: dict[str, Any]) -> dict[str, Any]:
    labels = {**revision["metadata"]["labels"], CREATED: "true"}
    return {**revision, "metadata": {**revision["metadata"], "labels": labels}}


async def test_the_jobs_are_not_listed_again_once_a_list_found_them_gone() -> None:
    # after a pre-downloaded rollout to A the mark stays on revision A until history pruning
    # drops it; kruise checks its cache each pass, Flotilla lists the jobs until one LIST finds
    # none of the set's left, then only when the state could hold a new job, on the watcher's
    # resync trigger, or JOBS_RESYNC later
    reader = _JobsReader()
    body = sts(5, updateStrategy=IN_PLACE, status=STEADY_A)
    body["metadata"]["generation"] = 3
    revisions = [_marked(REV_A)]
    set_event = Envelope(ReconcileKey("statefulset/ns/web"), EventType.MODIFIED, "StatefulSet", UID, "9", 0.0)
    resync = Envelope(ReconcileKey("statefulset/ns/web"), EventType.RESYNC, "StatefulSet", UID, "9", 0.0)

    async def reconcile(at: float, trigger: Envelope = set_event, raw: dict[str, Any] = body) -> int:
        await image_pull_jobs(reader, "ns", "app=web", raw, revisions, trigger, at)
        return reader.lists

    reader.jobs = [job_owned_by(f"{A}-main", UID), job_owned_by("someone-else", "other-uid")]
    assert await reconcile(100.0) == 1  # the set's job is there: this pass deletes it
    reader.jobs = [job_owned_by("someone-else", "other-uid")]
    assert await reconcile(101.0) == 2  # looked again: gone (another owner's job is not the set's)
    assert await reconcile(102.0) == 2
    assert await reconcile(101.0 + predownload.JOBS_RESYNC - 1) == 2
    assert await reconcile(103.0, resync) == 3
    assert await reconcile(103.0 + predownload.JOBS_RESYNC) == 4
    newer = {**body, "metadata": {**body["metadata"], "generation": 4}}  # e.g. a rollback's template
    assert await reconcile(500.0, raw=newer) == 5
    assert await reconcile(501.0, raw=newer) == 5
    revisions.append(_marked(REV_B))  # jobs were made for another revision since
    assert await reconcile(502.0, raw=newer) == 6
    recreated = {**newer, "metadata": {**newer["metadata"], "uid": "uid-web-2"}}
    assert await reconcile(503.0, raw=recreated) == 7
    # mid-rollout nothing is deleted, nothing is read; agreeing again at B: read
    rolling = {**recreated, "status": {"currentRevision": A, "updateRevision": B}}
    assert await reconcile(504.0, raw=rolling) == 7
    at_b = {**recreated, "status": {"currentRevision": B, "updateRevision": B}}
    assert await reconcile(505.0, raw=at_b) == 8
