"""In-place updates in container launch priority batches, shared by CloneSet and Advanced StatefulSet.

Expected values are copied by hand from kruise v1.9.1's own tables: ``TestDefaultPatchUpdateSpecToPod``
(``inplace_update_defaults_test.go``: the four-container pod with ``KRUISE_CONTAINER_BARRIER``
keys p_20 / p_10 / p_0 / p_0, each batch's state and pod patch), ``TestRefresh``
(``inplace_update_test.go``: the next batch held while the previous containers' imageIDs are
unchanged, sent once they changed), ``TestGetContainerPriority`` (+ ``_EdgeCases``) and
``doPreCheckBeforeNext``; the e2e shapes are kruise's cloneset.go :910 / :1038 / :1146
(nginx p_0 + redis p_10: state records ``[redis]`` then ``[nginx]``; a redis that never gets
Ready leaves ``nextContainerImages: {nginx}`` and one batch).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from tests.unit.cloneset import cloneset_builders as cs_builders
from tests.unit.statefulset import sts_builders
from tests.unit.statefulset.test_statefulset_planner import REVS, A, B
from workers.podmechanics.inplace import (
    InPlaceSpec,
    in_place_patch,
    in_place_refresh,
    in_place_spec,
    next_batch,
    update_completed,
)
from workers.podmechanics.inplacebatches import batch_containers, pre_check_passed, update_priority
from workers.podmechanics.pods import read_pod
from workers.runtime import actions as runtime

STATE = "apps.kruise.io/inplace-update-state"
T = "2026-01-01T12:00:00Z"
T2 = "2026-01-01T12:05:00Z"
NOW = datetime(2026, 1, 1, 12, 5, tzinfo=UTC)


def _barrier(key: str) -> dict[str, Any]:
    return {
        "name": "KRUISE_CONTAINER_BARRIER",
        "valueFrom": {"configMapKeyRef": {"name": "p-barrier", "key": key}},
    }


def _env_from(source: str, key: str) -> dict[str, Any]:
    return {"name": "config", "valueFrom": {"fieldRef": {"fieldPath": f"metadata.{source}['{key}']"}}}


# kruise's givenPod of TestDefaultPatchUpdateSpecToPod
GIVEN: dict[str, Any] = {
    "metadata": {
        "name": "pod-0",
        "labels": {"label-k1": "foo", "label-k2": "foo"},
        "annotations": {"annotation-k1": "foo"},
    },
    "spec": {
        "containers": [
            {"name": "c1", "image": "c1-img", "env": [_barrier("p_20"), _env_from("labels", "label-k1")]},
            {"name": "c2", "image": "c2-img", "env": [_barrier("p_10"), _env_from("labels", "label-k2")]},
            {"name": "c3", "image": "c3-img", "env": [_barrier("p_0"), _env_from("labels", "label-k2")]},
            {
                "name": "c4",
                "image": "c4-img",
                "env": [_barrier("p_0"), _env_from("annotations", "annotation-k1")],
            },
        ]
    },
    "status": {
        "containerStatuses": [{"name": f"c{i}", "imageID": f"containerd://c{i}-img"} for i in range(1, 5)]
    },
}


def _ids(*names: str) -> dict[str, dict[str, str]]:
    return {name: {"imageID": f"containerd://{name}-img"} for name in names}


def _record(*batches: list[str]) -> list[dict[str, Any]]:
    return [{"timestamp": T, "containers": batch} for batch in batches]


K2 = {"labels": {"label-k2": "bar"}}
# (name, images, refs, state before, expected state, expected images written, expected labels, annotations)
PATCH_TABLE: list[
    tuple[
        str,
        dict[str, str],
        dict[str, Any],
        dict[str, Any],
        dict[str, Any],
        list[str],
        dict[str, str],
        dict[str, str],
    ]
] = [
    (
        "a single container image",
        {"c1": "c1-img-new"},
        {},
        {},
        {"lastContainerStatuses": _ids("c1"), "containerBatchesRecord": _record(["c1"])},
        ["c1"],
        {},
        {},
    ),
    (
        "two images of one priority",
        {"c3": "c3-img-new", "c4": "c4-img-new"},
        {},
        {},
        {"lastContainerStatuses": _ids("c3", "c4"), "containerBatchesRecord": _record(["c3", "c4"])},
        ["c3", "c4"],
        {},
        {},
    ),
    (
        "an image and an env from metadata of one priority",
        {"c3": "c3-img-new"},
        {"c4": {"annotations": {"annotation-k1": "bar"}}},
        {},
        {"lastContainerStatuses": _ids("c3"), "containerBatchesRecord": _record(["c3", "c4"])},
        ["c3"],
        {},
        {"annotation-k1": "bar"},
    ),
    (
        "two priorities, batch 1",
        {"c1": "c1-img-new", "c2": "c2-img-new"},
        {},
        {},
        {
            "lastContainerStatuses": _ids("c1"),
            "nextContainerImages": {"c2": "c2-img-new"},
            "preCheckBeforeNext": {"containersRequiredReady": ["c1"]},
            "containerBatchesRecord": _record(["c1"]),
        },
        ["c1"],
        {},
        {},
    ),
    (
        "two priorities, batch 2 (an imageID recorded before is kept)",
        {"c2": "c2-img-new"},
        {},
        {
            "lastContainerStatuses": {"c1": {"imageID": "containerd://c1-img-old"}},
            "nextContainerImages": {"c2": "c2-img-new"},
            "preCheckBeforeNext": {"containersRequiredReady": ["c1"]},
            "containerBatchesRecord": _record(["c1"]),
        },
        {
            "lastContainerStatuses": {"c1": {"imageID": "containerd://c1-img-old"}, **_ids("c2")},
            "containerBatchesRecord": _record(["c1"], ["c2"]),
        },
        ["c2"],
        {},
        {},
    ),
    (
        "three priorities, batch 1",
        {"c1": "c1-img-new", "c2": "c2-img-new", "c4": "c4-img-new"},
        {},
        {},
        {
            "lastContainerStatuses": _ids("c1"),
            "nextContainerImages": {"c2": "c2-img-new", "c4": "c4-img-new"},
            "preCheckBeforeNext": {"containersRequiredReady": ["c1"]},
            "containerBatchesRecord": _record(["c1"]),
        },
        ["c1"],
        {},
        {},
    ),
    (
        "three priorities, batch 2",
        {"c2": "c2-img-new", "c4": "c4-img-new"},
        {},
        {
            "lastContainerStatuses": _ids("c1"),
            "nextContainerImages": {"c2": "c2-img-new", "c4": "c4-img-new"},
            "preCheckBeforeNext": {"containersRequiredReady": ["c1"]},
            "containerBatchesRecord": _record(["c1"]),
        },
        {
            "lastContainerStatuses": _ids("c1", "c2"),
            "nextContainerImages": {"c4": "c4-img-new"},
            "preCheckBeforeNext": {"containersRequiredReady": ["c2"]},
            "containerBatchesRecord": _record(["c1"], ["c2"]),
        },
        ["c2"],
        {},
        {},
    ),
    (
        "three priorities, batch 3",
        {"c4": "c4-img-new"},
        {},
        {
            "lastContainerStatuses": _ids("c1", "c2"),
            "nextContainerImages": {"c4": "c4-img-new"},
            "preCheckBeforeNext": {"containersRequiredReady": ["c2"]},
            "containerBatchesRecord": _record(["c1"], ["c2"]),
        },
        {
            "lastContainerStatuses": _ids("c1", "c2", "c4"),
            "containerBatchesRecord": _record(["c1"], ["c2"], ["c4"]),
        },
        ["c4"],
        {},
        {},
    ),
    (
        "four containers with env from metadata, batch 1",
        {"c1": "c1-img-new", "c2": "c2-img-new", "c4": "c4-img-new"},
        {"c2": K2, "c3": K2},
        {},
        {
            "lastContainerStatuses": _ids("c1"),
            "nextContainerImages": {"c2": "c2-img-new", "c4": "c4-img-new"},
            "nextContainerRefMetadata": {"c2": K2, "c3": K2},
            "preCheckBeforeNext": {"containersRequiredReady": ["c1"]},
            "containerBatchesRecord": _record(["c1"]),
        },
        ["c1"],
        {},
        {},
    ),
    (
        "four containers with env from metadata, batch 2 (c3 shares c2's label, so goes with it)",
        {"c2": "c2-img-new", "c4": "c4-img-new"},
        {"c2": K2, "c3": K2},
        {
            "lastContainerStatuses": _ids("c1"),
            "nextContainerImages": {"c2": "c2-img-new", "c4": "c4-img-new"},
            "nextContainerRefMetadata": {"c2": K2, "c3": K2},
            "preCheckBeforeNext": {"containersRequiredReady": ["c1"]},
            "containerBatchesRecord": _record(["c1"]),
        },
        {
            "lastContainerStatuses": _ids("c1", "c2"),
            "nextContainerImages": {"c4": "c4-img-new"},
            "preCheckBeforeNext": {"containersRequiredReady": ["c2", "c3"]},
            "containerBatchesRecord": _record(["c1"], ["c2", "c3"]),
        },
        ["c2"],
        {"label-k2": "bar"},
        {},
    ),
    (
        "four containers with env from metadata, batch 3",
        {"c4": "c4-img-new"},
        {},
        {
            "lastContainerStatuses": _ids("c1", "c2"),
            "nextContainerImages": {"c4": "c4-img-new"},
            "preCheckBeforeNext": {"containersRequiredReady": ["c2", "c3"]},
            "containerBatchesRecord": _record(["c1"], ["c2", "c3"]),
        },
        {
            "lastContainerStatuses": _ids("c1", "c2", "c4"),
            "containerBatchesRecord": _record(["c1"], ["c2", "c3"], ["c4"]),
        },
        ["c4"],
        {},
        {},
    ),
]


@pytest.mark.parametrize(
    ("images", "refs", "before", "expected", "written", "labels", "annotations"),
    [case[1:] for case in PATCH_TABLE],
    ids=[case[0] for case in PATCH_TABLE],
)
def test_a_batch_updates_the_highest_priority_and_records_the_rest(
    images: dict[str, str],
    refs: dict[str, Any],
    before: dict[str, Any],
    expected: dict[str, Any],
    written: list[str],
    labels: dict[str, str],
    annotations: dict[str, str],
) -> None:
    batch = next_batch(read_pod(GIVEN), InPlaceSpec("rev", images, container_ref_metadata=refs), T, before)
    assert batch.state == expected
    assert list(batch.containers) == [{"name": name, "image": images[name]} for name in written]
    assert dict(batch.labels) == labels
    assert dict(batch.annotations) == annotations


def test_state_keys_keep_kruises_field_order() -> None:
    spec = InPlaceSpec("rev", {"c1": "c1-img-new", "c2": "c2-img-new"})
    state = next_batch(read_pod(GIVEN), spec, T).state
    assert list(state) == [
        "revision",
        "updateTimestamp",
        "lastContainerStatuses",
        "updateImages",
        "nextContainerImages",
        "preCheckBeforeNext",
        "containerBatchesRecord",
    ]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ([_barrier("p_5")], 5),
        ([_barrier("p_-3")], -3),
        ([_barrier("p_0")], 0),
        ([{"name": "OTHER_ENV", "value": "some-value"}], None),
        ([], None),
        ([{"name": "FIRST_ENV", "value": "v1"}, _barrier("p_10"), {"name": "LAST_ENV", "value": "v2"}], 10),
        ([_barrier("x_5")], 5),  # kruise cuts two characters whatever they are
        ([_barrier("p_abc")], 0),  # Atoi's error ignored
        ([_barrier("p_2147483647")], 2147483647),
        # kruise panics on these two (launchpriority raises); the in-place batch reads no priority
        ([{"name": "KRUISE_CONTAINER_BARRIER", "value": "direct-value"}], None),
        ([_barrier("p")], None),
        # the webhook's KRUISE_CONTAINER_PRIORITY alone sets no order: the barrier env does
        ([{"name": "KRUISE_CONTAINER_PRIORITY", "value": "10"}], None),
    ],
)
def test_update_priority_is_read_from_the_barrier_env_key(
    env: list[dict[str, Any]], expected: int | None
) -> None:
    assert update_priority({"name": "c", "env": env}) == expected


def test_unprioritised_containers_go_with_the_first_batch_and_shared_keys_close_transitively() -> None:
    containers = [
        {"name": "a", "env": [_barrier("p_5")]},
        {"name": "b", "env": [_barrier("p_1")]},
        {"name": "c", "env": [_barrier("p_0")]},
        {"name": "plain"},
    ]
    images = {"a": "a2", "plain": "p2", "b": "b2"}
    assert batch_containers(containers, images, {}) == ("a", "plain")
    # a writes label x, b reads x and writes y, c reads y: all three go at once
    refs = {"a": {"labels": {"x": "1"}}, "b": {"labels": {"x": "1", "y": "2"}}, "c": {"labels": {"y": "2"}}}
    assert batch_containers(containers, {}, refs) == ("a", "b", "c")
    # an annotation key does not pull a container reading a label of the same name
    refs = {"a": {"labels": {"x": "1"}}, "b": {"annotations": {"x": "1"}}}
    assert batch_containers(containers, {}, refs) == ("a",)


def test_pre_check_wants_each_named_container_ready_in_the_status() -> None:
    state = {"preCheckBeforeNext": {"containersRequiredReady": ["redis"]}}
    pod: dict[str, Any] = {"status": {"containerStatuses": [{"name": "redis", "ready": False}]}}
    assert not pre_check_passed(pod, state)
    pod["status"]["containerStatuses"][0]["ready"] = True
    assert pre_check_passed(pod, state)
    assert not pre_check_passed({"status": {}}, state), "not found in the status"
    assert pre_check_passed({"status": {}}, {}), "no pre-check"


def _refresh_pod(c1_image_id: str, *, c1_ready: bool | None = None) -> dict[str, Any]:
    """TestRefresh's pod: c1 updated in the first batch, c2 waiting."""
    state = {
        "revision": "new-revision",
        "updateTimestamp": T,
        "lastContainerStatuses": {"c1": {"imageID": "c1-img1-ID"}},
        "nextContainerImages": {"c2": "c2-img2"},
        "containerBatchesRecord": [{"timestamp": T, "containers": ["c1"]}],
    }
    if c1_ready is not None:
        state["preCheckBeforeNext"] = {"containersRequiredReady": ["c1"]}
    c1_status: dict[str, Any] = {"name": "c1", "imageID": c1_image_id}
    if c1_ready is not None:
        c1_status["ready"] = c1_ready
    return {
        "metadata": {
            "name": "pod-0",
            "labels": {"controller-revision-hash": "new-revision"},
            "annotations": {STATE: orjson.dumps(state).decode()},
        },
        "spec": {
            "containers": [{"name": "c1", "image": "c1-img2"}, {"name": "c2", "image": "c2-img1"}],
            "readinessGates": [{"conditionType": "InPlaceUpdateReady"}],
        },
        "status": {
            "containerStatuses": [c1_status, {"name": "c2", "imageID": "c2-img1-ID"}],
            "conditions": [
                {"type": "ContainersReady", "status": "True"},
                {"type": "InPlaceUpdateReady", "status": "False", "lastTransitionTime": T},
            ],
        },
    }


def test_refresh_holds_the_next_batch_while_the_previous_containers_run_the_old_image() -> None:
    pod = read_pod(_refresh_pod("c1-img1-ID"))
    assert in_place_refresh(pod, NOW, T2) == (None, "", None)
    assert not update_completed(pod)


def test_refresh_sends_the_next_batch_once_the_previous_containers_changed() -> None:
    pod = read_pod(_refresh_pod("c1-img2-ID"))
    assert not update_completed(pod), "a batch still waits"
    patch, subresource, delay = in_place_refresh(pod, NOW, T2)
    assert (subresource, delay) == ("", None)
    assert patch is not None
    assert patch["spec"] == {"containers": [{"name": "c2", "image": "c2-img2"}]}
    assert patch["metadata"]["labels"] == {}
    state = orjson.loads(patch["metadata"]["annotations"][STATE])
    assert state == {
        "revision": "new-revision",
        "updateTimestamp": T,
        "lastContainerStatuses": {"c1": {"imageID": "c1-img1-ID"}, "c2": {"imageID": "c2-img1-ID"}},
        "containerBatchesRecord": [
            {"timestamp": T, "containers": ["c1"]},
            {"timestamp": T2, "containers": ["c2"]},
        ],
    }


def test_a_previous_container_that_is_not_ready_holds_the_rest() -> None:
    # cloneset.go :1038: the new redis image exits at once (crash loop, never Ready): nginx waits
    crashing = read_pod(_refresh_pod("c1-img2-ID", c1_ready=False))
    assert in_place_refresh(crashing, NOW, T2) == (None, "", None)
    assert not update_completed(crashing)
    ready = read_pod(_refresh_pod("c1-img2-ID", c1_ready=True))
    patch, _subresource, _delay = in_place_refresh(ready, NOW, T2)
    assert patch is not None
    assert patch["spec"] == {"containers": [{"name": "c2", "image": "c2-img2"}]}


def _e2e_pod(*, redis_env: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """cloneset.go's pod after kruise's webhook: nginx p_0, redis p_10 (``KRUISE_CONTAINER_BARRIER``)."""
    return {
        "metadata": {
            "name": "clone-x-abcde",
            "labels": {"controller-revision-hash": "clone-old"},
            "annotations": {"config": "foo"},
        },
        "spec": {
            "containers": [
                {"name": "nginx", "image": "nginx:alpine", "env": [_barrier("p_0")]},
                {"name": "redis", "image": "redis:alpine", "env": [_barrier("p_10"), *(redis_env or [])]},
            ],
            "readinessGates": [{"conditionType": "InPlaceUpdateReady"}],
        },
        "status": {
            "containerStatuses": [
                {"name": "nginx", "image": "nginx:alpine", "imageID": "sha-nginx-1", "ready": True},
                {"name": "redis", "image": "redis:alpine", "imageID": "sha-redis-1", "ready": True},
            ],
            "conditions": [{"type": "InPlaceUpdateReady", "status": "False", "reason": "StartInPlaceUpdate"}],
        },
    }


def _apply(raw: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The pod after a strategic merge of ``patch`` (containers by name, null removes)."""
    out = copy.deepcopy(raw)
    for container in patch.get("spec", {}).get("containers", []):
        [target] = [c for c in out["spec"]["containers"] if c["name"] == container["name"]]
        target.update(container)
    for key in ("labels", "annotations"):
        for name, value in patch.get("metadata", {}).get(key, {}).items():
            if value is None:
                out["metadata"].setdefault(key, {}).pop(name, None)
            else:
                out["metadata"].setdefault(key, {})[name] = value
    return out


def _kubelet_restarts(raw: dict[str, Any], name: str, image: str, image_id: str) -> None:
    [status] = [s for s in raw["status"]["containerStatuses"] if s["name"] == name]
    status.update({"image": image, "imageID": image_id, "ready": True})


def test_two_images_with_priorities_update_redis_then_nginx() -> None:
    # cloneset.go :910: both images change; state records [redis] then [nginx]
    template = {
        "metadata": {},
        "spec": {
            "containers": [
                {"name": "nginx", "image": "nginx:alpine"},
                {"name": "redis", "image": "redis:alpine"},
            ]
        },
    }
    new = copy.deepcopy(template)
    new["spec"]["containers"][0]["image"] = "nginx:mainline-alpine"
    new["spec"]["containers"][1]["image"] = "busybox:1.36"
    spec = in_place_spec(template, new, "clone-new", 0)
    assert spec is not None
    raw = _e2e_pod()
    raw = _apply(
        raw, in_place_patch(read_pod(raw), spec, T, revision_labels={"controller-revision-hash": "clone-new"})
    )
    assert [c["image"] for c in raw["spec"]["containers"]] == ["nginx:alpine", "busybox:1.36"]
    first = orjson.loads(raw["metadata"]["annotations"][STATE])
    assert first["nextContainerImages"] == {"nginx": "nginx:mainline-alpine"}
    assert first["preCheckBeforeNext"] == {"containersRequiredReady": ["redis"]}
    assert [b["containers"] for b in first["containerBatchesRecord"]] == [["redis"]]
    # the kubelet restarts redis; not Ready yet (its postStart sleeps): nginx waits
    _kubelet_restarts(raw, "redis", "busybox:1.36", "sha-busybox")
    raw["status"]["containerStatuses"][1]["ready"] = False
    assert in_place_refresh(read_pod(raw), NOW, T2) == (None, "", None)
    raw["status"]["containerStatuses"][1]["ready"] = True
    patch, _subresource, _delay = in_place_refresh(read_pod(raw), NOW, T2)
    assert patch is not None
    raw = _apply(raw, dict(patch))
    assert [c["image"] for c in raw["spec"]["containers"]] == ["nginx:mainline-alpine", "busybox:1.36"]
    second = orjson.loads(raw["metadata"]["annotations"][STATE])
    assert [b["containers"] for b in second["containerBatchesRecord"]] == [["redis"], ["nginx"]]
    assert "nextContainerImages" not in second
    assert "preCheckBeforeNext" not in second
    assert second["lastContainerStatuses"] == {
        "nginx": {"imageID": "sha-nginx-1"},
        "redis": {"imageID": "sha-redis-1"},
    }
    assert not update_completed(read_pod(raw)), "nginx still runs its old image"
    _kubelet_restarts(raw, "nginx", "nginx:mainline-alpine", "sha-nginx-2")
    assert update_completed(read_pod(raw))
    done, subresource, _delay = in_place_refresh(read_pod(raw), NOW, T2)
    assert subresource == "status"
    assert done is not None
    assert done["status"]["conditions"][0]["status"] == "True"


def test_env_from_metadata_of_the_high_priority_container_goes_first() -> None:
    # cloneset.go :1146: nginx image + the "config" annotation redis reads; redis first
    redis_env = [
        {"name": "CONFIG", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['config']"}}}
    ]
    template = {
        "metadata": {"annotations": {"config": "foo"}},
        "spec": {
            "containers": [
                {"name": "nginx", "image": "nginx:alpine"},
                {"name": "redis", "image": "redis:alpine", "env": redis_env},
            ]
        },
    }
    new = copy.deepcopy(template)
    new["spec"]["containers"][0]["image"] = "nginx:mainline-alpine"
    new["metadata"]["annotations"]["config"] = "bar"
    spec = in_place_spec(template, new, "clone-new", 0)
    assert spec is not None
    raw = _e2e_pod(redis_env=redis_env)
    patch = in_place_patch(read_pod(raw), spec, T, revision_labels={})
    assert "spec" not in patch, "no image in the first batch"
    assert patch["metadata"]["annotations"]["config"] == "bar"
    state = orjson.loads(patch["metadata"]["annotations"][STATE])
    assert state["updateEnvFromMetadata"] is True
    assert state["nextContainerImages"] == {"nginx": "nginx:mainline-alpine"}
    assert [b["containers"] for b in state["containerBatchesRecord"]] == [["redis"]]


# -- the two workers' call sites: their per-pod refresh sends the next batch ------------------------


def _waiting_for_side(raw: dict[str, Any], revision: str, *, main: str, ready: bool) -> dict[str, Any]:
    """``raw`` (one container, ``main``) mid-update: ``main`` (p_10) done, ``side`` (p_0) waiting."""
    raw["spec"]["containers"][0]["env"] = [_barrier("p_10")]
    raw["spec"]["containers"].append({"name": "side", "image": "side:1", "env": [_barrier("p_0")]})
    raw["status"]["containerStatuses"][0]["ready"] = ready
    raw["status"]["containerStatuses"].append(
        {"name": "side", "image": "side:1", "imageID": "id-side-1", "ready": True}
    )
    state = {
        "revision": revision,
        "updateTimestamp": T,
        "lastContainerStatuses": {main: {"imageID": "id-before"}},
        "updateImages": True,
        "nextContainerImages": {"side": "side:2"},
        "preCheckBeforeNext": {"containersRequiredReady": [main]},
        "containerBatchesRecord": [{"timestamp": T, "containers": [main]}],
    }
    raw["metadata"].setdefault("annotations", {})[STATE] = orjson.dumps(state).decode()
    return raw


def test_cloneset_refresh_sends_the_next_batch_once_the_first_is_ready() -> None:
    cs = cs_builders.cloneset(1, strategy={"type": "InPlaceIfPossible"})
    rev = cs_builders.rev_name(cs)
    ready = _waiting_for_side(
        cs_builders.pod("web-a", rev, state="Updating", in_place_ready=False), rev, main="app", ready=True
    )
    writes = cs_builders.patched(cs_builders.run(cs, [ready]))["web-a"]
    [batch] = [w for w in writes if "spec" in w]
    assert batch["spec"] == {"containers": [{"name": "side", "image": "side:2"}]}
    state = orjson.loads(batch["metadata"]["annotations"][STATE])  # type: ignore[index]
    assert [b["containers"] for b in state["containerBatchesRecord"]] == [["app"], ["side"]]
    held = _waiting_for_side(
        cs_builders.pod("web-a", rev, state="Updating", in_place_ready=False), rev, main="app", ready=False
    )
    assert not [w for w in cs_builders.patched(cs_builders.run(cs, [held])).get("web-a", []) if "spec" in w]


def test_statefulset_refresh_sends_the_next_batch_once_the_first_is_ready() -> None:
    body = sts_builders.sts(
        1,
        image=sts_builders.IMAGE_B,
        updateStrategy={"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible"}},
        status={"currentRevision": A},
    )
    raw = _waiting_for_side(sts_builders.pod(0, B, image=sts_builders.IMAGE_B), B, main="main", ready=True)
    result = sts_builders.run(body, [raw], REVS)
    patches = [
        a.patch
        for a in result.actions
        if isinstance(a, runtime.PatchObject)
        and a.resource.plural == "pods"
        and a.subresource == ""
        and "spec" in a.patch
    ]
    assert [p["spec"] for p in patches] == [{"containers": [{"name": "side", "image": "side:2"}]}]


def test_a_first_batch_that_changes_no_image_writes_null_last_statuses_as_kruise() -> None:
    """kruise: ``LastContainerStatuses`` carries no omitempty (apis/apps/pub/inplace_update.go:60),
    a fresh state leaves it nil (pkg/util/inplaceupdate/inplace_update.go:379-385) and
    ``defaultPatchUpdateSpecToPod`` makes the map only for a container whose image changes
    (inplace_update_defaults.go:146-149) before it marshals the state (:213): a batch of c4's
    annotation alone is written with ``"lastContainerStatuses":null`` (and ``updateEnvFromMetadata``,
    which a spec with container ref metadata sets). By hand, in the struct's order."""
    spec = InPlaceSpec("rev", {}, container_ref_metadata={"c4": {"annotations": {"annotation-k1": "bar"}}})
    batch = next_batch(read_pod(GIVEN), spec, T)
    assert orjson.dumps(batch.state).decode() == (
        '{"revision":"rev","updateTimestamp":"2026-01-01T12:00:00Z","lastContainerStatuses":null,'
        '"updateEnvFromMetadata":true,'
        '"containerBatchesRecord":[{"timestamp":"2026-01-01T12:00:00Z","containers":["c4"]}]}'
    )
    assert dict(batch.annotations) == {"annotation-k1": "bar"}


@pytest.mark.parametrize("last", [None, {}], ids=["kruise's null", "older Flotilla's {}"])
def test_a_recorded_state_reads_the_same_with_null_or_empty_last_statuses(
    last: dict[str, Any] | None,
) -> None:
    state = {"revision": "rev", "updateTimestamp": T, "lastContainerStatuses": last}
    raw = copy.deepcopy(GIVEN)
    raw["metadata"]["annotations"] = {**raw["metadata"]["annotations"], STATE: orjson.dumps(state).decode()}
    assert update_completed(read_pod(raw)), "no container waits for an image"
    # a later batch that changes an image records it on either (kruise: nil or empty map alike)
    later = next_batch(read_pod(GIVEN), InPlaceSpec("rev", {"c1": "c1-img-new"}), T2, state)
    assert later.state["lastContainerStatuses"] == _ids("c1")
    # and one that changes none keeps what was recorded (Go decodes {} to an empty map, null to nil)
    unchanged = next_batch(
        read_pod(GIVEN), InPlaceSpec("rev", {}, container_ref_metadata={"c4": {}}), T2, state
    )
    assert unchanged.state["lastContainerStatuses"] == last


def test_a_recorded_last_status_of_an_unchanged_image_keeps_the_update_waiting() -> None:
    """The neighbour of the test above: c1's imageID recorded and still the running one."""
    state = {"revision": "rev", "updateTimestamp": T, "lastContainerStatuses": _ids("c1")}
    raw = copy.deepcopy(GIVEN)
    raw["metadata"]["annotations"] = {**raw["metadata"]["annotations"], STATE: orjson.dumps(state).decode()}
    assert not update_completed(read_pod(raw))
