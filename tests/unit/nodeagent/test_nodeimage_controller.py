"""The NodeImage worker's planner (workers.nodeimage.planner), pass by pass against kruise v1.9.1
``pkg/controller/nodeimage/nodeimage_controller.go``, worked by hand."""

from __future__ import annotations

from workers.nodeimage import planner
from workers.nodeimage.planner import Observed
from workers.podmechanics.kube_json import parse_time

T0 = "2026-01-01T00:00:00Z"


def _at(seconds: float) -> float:
    moment = parse_time(T0)
    assert moment is not None
    return moment.timestamp() + seconds


def _node(ready: str = "True", labels: dict[str, str] | None = None) -> dict[str, object]:
    condition = {"type": "Ready", "status": ready, "lastTransitionTime": T0}
    return {"metadata": {"name": "n1", "labels": labels or {}}, "status": {"conditions": [condition]}}


JOB_REF = {
    "apiVersion": "apps.kruise.io/v1beta1",
    "kind": "ImagePullJob",
    "namespace": "ns",
    "name": "j",
    "uid": "u1",
}
JOB = {"metadata": {"namespace": "ns", "name": "j", "uid": "u1"}}


def _node_image(
    tags: list[dict[str, object]], statuses: list[dict[str, object]] | None = None
) -> dict[str, object]:
    return {
        "metadata": {"name": "n1", "uid": "ni", "resourceVersion": "7", "labels": {}},
        "spec": {"images": {"app": {"tags": tags}}},
        "status": {"imageStatuses": {"app": {"tags": statuses or []}}} if statuses is not None else {},
    }


def test_a_ready_node_gets_its_nodeimage_after_the_creation_delay() -> None:
    early = planner.plan(Observed("n1", _node(), None), _at(10))
    assert early.create is None
    assert early.requeue_after == 20
    made = planner.plan(Observed("n1", _node(), None), _at(31))
    assert made.create == {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "NodeImage",
        "metadata": {"name": "n1"},
        "spec": {},
    }
    assert planner.plan(Observed("n1", _node("False"), None), _at(100)).create is None


def test_the_nodeimage_of_a_gone_node_is_deleted_unless_fake() -> None:
    assert planner.plan(Observed("n1", None, _node_image([])), _at(0)).delete
    fake = _node_image([])
    fake["metadata"]["labels"] = {planner.FAKE_LABEL: "true"}  # type: ignore[index]
    assert not planner.plan(Observed("n1", None, fake), _at(0)).delete


def test_labels_follow_the_node() -> None:
    obj = _node_image([])
    obj["spec"] = {}  # no image (an image without tags would be dropped in the same patch)
    obj["metadata"]["labels"] = {"old": "x", "zone": "a"}  # type: ignore[index]
    decided = planner.plan(Observed("n1", _node(labels={"zone": "b"}), obj), _at(0))
    assert decided.spec_patch == {"metadata": {"resourceVersion": "7", "labels": {"old": None, "zone": "b"}}}


def test_tags_without_created_at_or_with_gone_owners_are_dropped() -> None:
    tags = [
        {"tag": "a", "version": 0},
        {"tag": "b", "version": 0, "createdAt": T0, "ownerReferences": [JOB_REF]},
        {"tag": "c", "version": 0, "createdAt": T0, "ownerReferences": [JOB_REF]},
    ]
    # the job exists with another UID: its ownership is gone, so b and c lose their only owner
    other = {"metadata": {"namespace": "ns", "name": "j", "uid": "u2"}}
    decided = planner.plan(Observed("n1", _node(), _node_image(tags), {("ns", "j"): other}), _at(0))
    assert decided.spec_patch == {"metadata": {"resourceVersion": "7"}, "spec": {"images": {"app": None}}}
    assert "image app:a has no createAt field" in decided.reason
    assert "image app:b owners is cleared" in decided.reason


def test_a_finished_tag_goes_after_its_ttl() -> None:
    tags = [
        {
            "tag": "a",
            "version": 1,
            "createdAt": T0,
            "ownerReferences": [JOB_REF],
            "pullPolicy": {"ttlSecondsAfterFinished": 100},
        }
    ]
    done = [{"tag": "a", "version": 1, "phase": "Succeeded", "completionTime": T0}]
    obs = Observed("n1", _node(), _node_image(tags, done), {("ns", "j"): JOB})
    waiting = planner.plan(obs, _at(40))
    assert waiting.spec_patch is None
    assert waiting.requeue_after == 60
    gone = planner.plan(obs, _at(100))
    assert gone.spec_patch == {"metadata": {"resourceVersion": "7"}, "spec": {"images": {"app": None}}}


def test_a_missing_pull_secret_is_dropped_but_batch_ones_stay() -> None:
    obj = _node_image([{"tag": "a", "version": 0, "createdAt": T0}], [])
    refs = [
        {"namespace": "ns", "name": "gone"},
        {"namespace": "ns", "name": "here"},
        {"namespace": "k", "name": "b", "mode": "batch"},
    ]
    obj["spec"]["images"]["app"]["pullSecrets"] = refs  # type: ignore[index]
    decided = planner.plan(
        Observed("n1", _node(), obj, {}, {("ns", "gone"): False, ("ns", "here"): True}), _at(0)
    )
    assert decided.spec_patch is not None
    assert decided.spec_patch["spec"]["images"]["app"]["pullSecrets"] == refs[1:]


def test_a_tag_the_node_never_answered_fails_after_ten_minutes() -> None:
    tags = [{"tag": "a", "version": 2, "createdAt": T0, "ownerReferences": [JOB_REF]}]
    obs = Observed("n1", _node(), _node_image(tags, []), {("ns", "j"): JOB})
    early = planner.plan(obs, _at(100))
    assert early.status is None
    assert early.requeue_after == 500
    late = planner.plan(obs, _at(601))
    assert late.status is not None
    assert late.status["imageStatuses"]["app"]["tags"] == [
        {"tag": "a", "phase": "Failed", "completionTime": "2026-01-01T00:10:01Z", "version": 2,
         "message": "node has not responded for a long time"}
    ]  # fmt: skip
    assert (late.status["desired"], late.status["failed"], late.status["succeeded"]) == (1, 1, 0)
    text = "Failed to pull image app:a on node n1 for node has not responded for a long time"
    assert [(e.involved.get("kind"), e.reason, e.message) for e in late.events] == [
        ("ImagePullJob", "PullImageFailed", text),
        ("NodeImage", "PullImageFailed", text),
    ]


def test_a_pull_past_its_deadline_plus_the_response_timeout_fails() -> None:
    tags = [{"tag": "a", "version": 0, "createdAt": T0, "pullPolicy": {"activeDeadlineSeconds": 60}}]
    pulling = [{"tag": "a", "version": 0, "phase": "Pulling"}]
    obs = Observed("n1", _node(), _node_image(tags, pulling))
    assert planner.plan(obs, _at(600)).requeue_after == 60
    late = planner.plan(obs, _at(660))
    assert late.status is not None
    tag = late.status["imageStatuses"]["app"]["tags"][0]
    assert (tag["phase"], tag["message"]) == ("Failed", "pulling exceeds the activeDeadlineSeconds")


def test_an_answered_tag_changes_nothing() -> None:
    tags = [{"tag": "a", "version": 0, "createdAt": T0}]
    done = [{"tag": "a", "version": 0, "phase": "Succeeded", "completionTime": T0}]
    decided = planner.plan(Observed("n1", _node(), _node_image(tags, done)), _at(5000))
    assert (decided.spec_patch, decided.status, decided.events) == (None, None, ())
