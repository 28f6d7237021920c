"""kruise-daemon's image puller as pure functions (nodeagent.imagepull.puller, imageref, secrets),
worked by hand from kruise v1.9.1 ``pkg/daemon/imagepuller`` and ``pkg/daemon/util``."""

from __future__ import annotations

import base64
import json

import pytest

from nodeagent.imagepull import puller
from nodeagent.imagepull.puller import PullTask
from nodeagent.imagepull.secrets import registry_auths
from schemas.kruise.rules.imageref import ImageRefError, name_and_tag


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("nginx", ("nginx", "latest")),
        ("nginx:1.25", ("nginx", "1.25")),
        ("docker.io/library/nginx:1.25", ("nginx", "1.25")),
        ("docker.io/openkruise/kruise-manager:v1", ("openkruise/kruise-manager", "v1")),
        ("docker.io/library/a/b:x", ("library/a/b", "x")),
        ("127.0.0.1:5000/flotilla/busybox:v2", ("127.0.0.1:5000/flotilla/busybox", "v2")),
        ("localhost/busybox", ("localhost/busybox", "latest")),
        ("reg.io/a/b@sha256:" + "a" * 64, ("reg.io/a/b", "sha256:" + "a" * 64)),
        # docker v2.8.2's splitDockerDomain: the legacy index.docker.io is docker.io
        ("index.docker.io/library/nginx:1.25", ("nginx", "1.25")),
        # a digest stands in for the tag (getAPITagFromNamedRef)
        ("nginx:1.25@sha256:" + "b" * 64, ("nginx", "sha256:" + "b" * 64)),
    ],
)
def test_name_and_tag_as_normalize_image_ref_to_name_tag(ref: str, expected: tuple[str, str]) -> None:
    assert name_and_tag(ref) == expected


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", "invalid reference format"),
        # kruise's own case (TestNormalizeImageRefToNameTag): ParseNormalizedNamed refuses it
        ("INVALID_IMAGE_REF", "invalid reference format: repository name must be lowercase"),
        ("Team/app:v1", "invalid reference format: repository name must be lowercase"),
    ],
)
def test_a_bad_reference_is_refused_with_dockers_message(ref: str, message: str) -> None:
    with pytest.raises(ImageRefError) as refused:
        name_and_tag(ref)
    assert str(refused.value) == message


def _node_image(
    tags: list[dict[str, object]], statuses: list[dict[str, object]] | None = None
) -> dict[str, object]:
    obj: dict[str, object] = {
        "metadata": {"name": "n1"},
        "spec": {"images": {"reg.io/app": {"tags": tags, "pullSecrets": [{"namespace": "ns", "name": "s"}]}}},
    }
    if statuses is not None:
        obj["status"] = {"imageStatuses": {"reg.io/app": {"tags": statuses}}}
    return obj


def test_sync_starts_a_task_per_unfinished_tag_and_keeps_finished_statuses() -> None:
    done = {"tag": "v1", "phase": "Succeeded", "version": 2, "completionTime": "2026-01-01T00:00:00Z"}
    obj = _node_image(
        [
            {"tag": "v1", "version": 2},
            {"tag": "v2", "version": 0, "pullPolicy": {"timeoutSeconds": 5, "backoffLimit": -1}},
        ],
        [done],
    )
    decided = puller.sync_tags(obj, {})
    assert decided.kept == {("reg.io/app", "v1"): done}
    assert [t.key for t in decided.start] == [("reg.io/app", "v2")]
    task = decided.start[0]
    # backoffLimit < 0 -> kruise's default 3; timeoutSeconds taken; secrets by (namespace, name)
    assert (task.timeout_seconds, task.backoff_limit, task.pull_secrets) == (5, 3, (("ns", "s"),))
    assert decided.stop == ()
    assert decided.wanted == {("reg.io/app", "v1"), ("reg.io/app", "v2")}


def test_sync_restarts_a_tag_whose_version_moved_and_stops_unwanted_ones() -> None:
    stale = {"tag": "v1", "phase": "Succeeded", "version": 1, "completionTime": "2026-01-01T00:00:00Z"}
    obj = _node_image([{"tag": "v1", "version": 2}], [stale])
    decided = puller.sync_tags(obj, {("reg.io/app", "v1"): 1, ("reg.io/app", "gone"): 0})
    assert decided.stop == (("reg.io/app", "gone"), ("reg.io/app", "v1"))
    assert [(t.key, t.version) for t in decided.start] == [(("reg.io/app", "v1"), 2)]
    assert decided.kept == {}


def test_a_running_task_of_the_same_version_is_left_alone() -> None:
    obj = _node_image([{"tag": "v1", "version": 0}])
    decided = puller.sync_tags(obj, {("reg.io/app", "v1"): 0})
    assert (decided.start, decided.stop) == ((), ())


def test_attempt_timeout_is_bounded_by_the_deadline() -> None:
    task = PullTask("a", "v1", 0, timeout_seconds=600, active_deadline_seconds=30)
    assert puller.attempt(task, 10).timeout == 20
    assert puller.attempt(task, 30) == puller.Attempt(None, "pulling exceeds the activeDeadlineSeconds")
    assert puller.attempt(PullTask("a", "v1", 0, timeout_seconds=7), 1000).timeout == 7


def test_backoff_doubles_from_one_second_to_thirty() -> None:
    assert [puller.backoff(n) for n in (1, 2, 3, 5, 6, 9)] == [1, 2, 4, 16, 30, 30]


def test_messages_as_kruise_and_go_grpc_print_them() -> None:
    assert puller.pull_error("r/a:v9", "NOT_FOUND", "no such tag") == (
        'Failed to pull image reference "r/a:v9": rpc error: code = NotFound desc = no such tag'
    )
    assert puller.pull_error("r/a:v9", "UNKNOWN", "denied", with_auth=True) == (
        "rpc error: code = Unknown desc = denied"
    )
    assert puller.go_code("DEADLINE_EXCEEDED") == "DeadlineExceeded"
    assert puller.canceled(PullTask("r/a", "v9", 0)) == "pulling image r/a:v9 is canceled"


def test_node_status_counts_and_sorts_tags_of_the_spec_only() -> None:
    obj = {
        "spec": {
            "images": {
                "a": {"tags": [{"tag": "v2"}, {"tag": "v1"}, {"tag": "v3"}]},
                "b": {"tags": [{"tag": "x"}]},
            }
        }
    }
    tags = {
        ("a", "v2"): {"tag": "v2", "phase": "Failed"},
        ("a", "v1"): {"tag": "v1", "phase": "Succeeded"},
        ("a", "v3"): {"tag": "v3", "phase": "Waiting"},
        ("a", "old"): {"tag": "old", "phase": "Succeeded"},
    }
    status = puller.node_status(obj, tags)
    assert status == {
        "desired": 4,
        "succeeded": 1,
        "failed": 1,
        "pulling": 0,
        "waiting": 1,
        "imageStatuses": {"a": {"tags": [tags[("a", "v1")], tags[("a", "v2")], tags[("a", "v3")]]}},
    }
    assert puller.still_pulling(obj, status)  # 2 finished of 4 desired


def test_still_pulling_when_a_status_is_for_another_version() -> None:
    obj = {"spec": {"images": {"a": {"tags": [{"tag": "v1", "version": 3}]}}}}
    done = {"desired": 1, "succeeded": 1, "imageStatuses": {"a": {"tags": [{"tag": "v1", "version": 2}]}}}
    assert puller.still_pulling(obj, done)
    done["imageStatuses"]["a"]["tags"][0]["version"] = 3  # type: ignore[index]
    assert not puller.still_pulling(obj, done)


def _secret(config: dict[str, object], key: str = ".dockerconfigjson") -> dict[str, object]:
    return {"data": {key: base64.b64encode(json.dumps(config).encode()).decode()}}


def test_registry_auths_match_the_image_registry() -> None:
    auth = base64.b64encode(b"bob:pw2").decode()
    secrets = [
        _secret(
            {
                "auths": {
                    "https://reg.io/v1/": {"username": "al", "password": "pw1"},
                    "other.io": {"auth": auth},
                }
            }
        ),
        _secret({"reg.io": {"auth": auth}}, ".dockercfg"),
        _secret({"auths": {"index.docker.io": {"username": "hub", "password": "h"}}}),
    ]
    assert registry_auths(secrets, "reg.io/app") == [("al", "pw1"), ("bob", "pw2")]
    assert registry_auths(secrets, "nginx") == [("hub", "h")]
    assert registry_auths(secrets, "elsewhere.io/x") == []
    assert registry_auths([{"data": {".dockerconfigjson": "!!"}}], "reg.io/app") == []
