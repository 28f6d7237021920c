"""The SidecarSet planner: tables worked by hand from kruise v1.9.1's sidecarset controller.

Each expected value comes from reading ``pkg/controller/sidecarset/sidecarset_processor.go``
(``calculateStatus``, ``updatePodSidecarContainer``), ``sidecarset_strategy.go``
(``GetNextUpgradePods``, ``calculateUpgradeCount``) and ``pkg/control/sidecarcontrol`` for the
pods given, never from the planner.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from workers.podmechanics.kube_json import name_of
from workers.runtime import actions as runtime
from workers.sidecarset.control import INPLACE_UPDATE_STATE_ANNOTATION
from workers.sidecarset.planner import CONTROLLER_REVISIONS, ObservedSidecarSet, plan
from workers.sidecarset.revisions import new_revision
from workers.sidecarset.strategy import partition_count

NOW = datetime(2026, 11, 30, 2, 0, 0, tzinfo=UTC)
NEW, OLD, WO = "hash-new", "hash-old", "wo-hash"
STAMP = "2026-11-30T01:00:00Z"


def sidecarset(image: str = "log:v2", **strategy: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "SidecarSet",
        "metadata": {
            "name": "logs",
            "uid": "set-uid",
            "generation": 3,
            "resourceVersion": "77",
            "annotations": {"kruise.io/sidecarset-hash": NEW, "kruise.io/sidecarset-hash-without-image": WO},
        },
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "containers": [{"name": "log", "image": image}],
            "updateStrategy": {"type": "RollingUpdate", **strategy},
        },
        "status": {},
    }


def _spec_entry(digest: str, revision: str = "") -> dict[str, Any]:
    entry: dict[str, Any] = {
        "updateTimestamp": STAMP,
        "hash": digest,
        "sidecarSetName": "logs",
        "sidecarList": ["log"],
    }
    if revision:
        entry["controllerRevision"] = revision
    return entry


def pod(
    name: str,
    *,
    digest: str = OLD,
    without_image: str = WO,
    image: str = "log:v1",
    ready: bool = True,
    created: str = "2026-11-30T00:00:00Z",
    running_image: str | None = None,
    state: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    annotations = {
        "kruise.io/sidecarset-hash": json.dumps({"logs": _spec_entry(digest)}),
        "kruise.io/sidecarset-hash-without-image": json.dumps({"logs": _spec_entry(without_image)}),
        "kruise.io/sidecarset-injected-list": "logs",
    }
    if state is not None:
        annotations[INPLACE_UPDATE_STATE_ANNOTATION] = json.dumps(state)
    run = running_image or image
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "resourceVersion": f"rv-{name}",
            "creationTimestamp": created,
            "labels": {"app": "web", **(labels or {})},
            "annotations": annotations,
        },
        "spec": {
            "nodeName": "node-1",
            "containers": [{"name": "log", "image": image}, {"name": "app", "image": "app:v1"}],
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [
                {"name": "log", "image": run, "imageID": f"kwok://{run}", "ready": ready},
                {"name": "app", "image": "app:v1", "imageID": "kwok://app:v1", "ready": True},
            ],
        },
    }


def observed(
    set_raw: dict[str, Any], pods: list[dict[str, Any]], revisions: tuple[Any, ...] = ()
) -> ObservedSidecarSet:
    return ObservedSidecarSet(set_raw, tuple(pods), revisions, "flotilla-system")


def _with_revision(set_raw: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    return (new_revision(set_raw, "flotilla-system", 1, 0),)


def upgraded(result: Any) -> list[str]:
    return [
        a.name
        for a in result.actions
        if isinstance(a, runtime.PatchObject) and a.resource.plural == "pods" and not a.subresource
    ]


def status_of(result: Any) -> dict[str, Any]:
    [update] = [a for a in result.actions if isinstance(a, runtime.UpdateStatus)]
    return dict(update.body["status"])


def test_status_counts_matched_updated_ready() -> None:
    # calculateStatus: p1 updated+ready, p2 updated not ready, p3 old ready, p4 old ready;
    # p5 is not injected by "logs" (getMatchingPods drops it)
    set_raw = sidecarset()
    stray = pod("p5")
    stray["metadata"]["annotations"]["kruise.io/sidecarset-injected-list"] = "other"
    pods = [
        pod("p1", digest=NEW, image="log:v2"),
        pod("p2", digest=NEW, image="log:v2", ready=False),
        pod("p3"),
        pod("p4"),
        stray,
    ]
    result = plan(observed(set_raw, pods, _with_revision(set_raw)), NOW)
    status = status_of(result)
    assert {k: status[k] for k in ("matchedPods", "updatedPods", "readyPods", "updatedReadyPods")} == {
        "matchedPods": 4,
        "updatedPods": 2,
        "readyPods": 3,
        "updatedReadyPods": 1,
    }
    assert status["observedGeneration"] == 3
    assert status["collisionCount"] == 0
    assert status["latestRevision"] == _with_revision(set_raw)[0]["metadata"]["name"]
    # maxUnavailable 1 (default) is spent by p2 (updated, not ready): nothing more this pass
    assert upgraded(result) == []


def test_partition_and_max_unavailable() -> None:
    # 6 pods: p0 updated but not ready (unavailable 1); p1..p5 wait. partition 2 keeps 2 behind
    # -> 3 candidates; maxUnavailable 2 -> one more ready pod may go.
    set_raw = sidecarset(partition=2, maxUnavailable=2)
    pods = [pod("p0", digest=NEW, image="log:v2", ready=False)]
    pods += [pod(f"p{i}", created=f"2026-11-30T00:00:0{i}Z") for i in range(1, 6)]
    result = plan(observed(set_raw, pods, _with_revision(set_raw)), NOW)
    # ActivePods order among equals: newer first -> p5
    assert upgraded(result) == ["p5"]


def test_not_ready_pods_go_first_and_cost_nothing() -> None:
    # maxUnavailable 1: p2 (old, not ready) sorts first (not ready < ready) and does not count;
    # then one ready pod, the newest (p3).
    set_raw = sidecarset()
    pods = [
        pod("p1", created="2026-11-30T00:00:01Z"),
        pod("p2", ready=False, created="2026-11-30T00:00:02Z"),
        pod("p3", created="2026-11-30T00:00:03Z"),
    ]
    result = plan(observed(set_raw, pods, _with_revision(set_raw)), NOW)
    assert upgraded(result) == ["p2", "p3"]


def test_partition_percent_as_kruise_scales_it() -> None:
    # CalculatePartitionReplicas: rounded up; below 100% at least one pod is updated
    assert partition_count("50%", 4) == 2
    assert partition_count("30%", 4) == 2
    assert partition_count("99%", 4) == 3
    assert partition_count("100%", 4) == 4
    assert partition_count(7, 4) == 4


def test_upgrade_patch_is_what_kruise_writes() -> None:
    set_raw = sidecarset()
    other = {"updateTimestamp": STAMP, "hash": "x", "sidecarSetName": "other", "sidecarList": ["o"]}
    p = pod("p1")
    p["metadata"]["annotations"]["kruise.io/sidecarset-hash"] = json.dumps(
        {"other": other, "logs": _spec_entry(OLD)}
    )
    revision = _with_revision(set_raw)[0]["metadata"]["name"]
    result = plan(observed(set_raw, [p], _with_revision(set_raw)), NOW)
    [patch] = [a for a in result.actions if isinstance(a, runtime.PatchObject) and not a.subresource]
    assert patch.patch_type == "strategic"
    assert patch.patch["spec"] == {"containers": [{"name": "log", "image": "log:v2"}]}
    assert patch.patch["metadata"]["resourceVersion"] == "rv-p1"
    annotations = patch.patch["metadata"]["annotations"]
    # UpdatePodSidecarSetHash: map by name (sorted), SidecarSetUpgradeSpec field order
    assert annotations["kruise.io/sidecarset-hash"] == (
        '{"logs":{"updateTimestamp":"2026-11-30T02:00:00Z","hash":"hash-new","sidecarSetName":"logs",'
        f'"sidecarList":["log"],"controllerRevision":"{revision}"}},'
        '"other":{"updateTimestamp":"2026-11-30T01:00:00Z","hash":"x","sidecarSetName":"other","sidecarList":["o"]}}'
    )
    # UpdatePodAnnotationsInUpgrade: revision = the set's hash, the changed container's old imageID
    assert annotations[INPLACE_UPDATE_STATE_ANNOTATION] == (
        '{"logs":{"revision":"hash-new","updateTimestamp":"2026-11-30T02:00:00Z",'
        '"lastContainerStatuses":{"log":{"imageID":"kwok://log:v1"}}}}'
    )
    [condition] = [
        a for a in result.actions if isinstance(a, runtime.PatchObject) and a.subresource == "status"
    ]
    assert condition.patch["status"]["conditions"][0] == {
        "type": "SidecarSetUpgradable",
        "status": "True",
        "reason": "AllSidecarsetUpgradable",
        "message": '{"logs":true}',
        "lastTransitionTime": "2026-11-30T02:00:00Z",
    }


def test_change_beyond_image_is_not_upgradable() -> None:
    # IsSidecarSetUpgradable: the pod's hash-without-image differs -> not upgradable, condition
    # False (UpdateImmutableField) and the NotUpgradablePods Event; the pod is not touched.
    set_raw = sidecarset()
    result = plan(observed(set_raw, [pod("p1", without_image="older")], _with_revision(set_raw)), NOW)
    assert upgraded(result) == []
    [condition] = [
        a for a in result.actions if isinstance(a, runtime.PatchObject) and a.subresource == "status"
    ]
    assert condition.patch["status"]["conditions"][0]["status"] == "False"
    assert condition.patch["status"]["conditions"][0]["reason"] == "UpdateImmutableField"
    assert condition.patch["status"]["conditions"][0]["message"] == '{"logs":false}'
    [event] = [a for a in result.actions if isinstance(a, runtime.EmitEvent)]
    assert event.reason == "NotUpgradablePods"
    assert (
        event.message
        == "SidecarSet in-place update detected 1 not upgradable pod(s) in this round, will skip them."
    )


def test_in_flight_upgrade_is_unavailable_until_the_new_image_runs() -> None:
    # p1 was patched (spec log:v2, hash new) but still runs log:v1 with the imageID recorded in
    # the in-place state: IsPodStateConsistent is false -> it is unavailable, not ready for status
    set_raw = sidecarset()
    state = {
        "logs": {
            "revision": NEW,
            "updateTimestamp": STAMP,
            "lastContainerStatuses": {"log": {"imageID": "kwok://log:v1"}},
        }
    }
    pods = [pod("p1", digest=NEW, image="log:v2", running_image="log:v1", state=state), pod("p2")]
    result = plan(observed(set_raw, pods, _with_revision(set_raw)), NOW)
    assert upgraded(result) == []
    assert status_of(result)["readyPods"] == 1
    assert status_of(result)["updatedReadyPods"] == 0


def test_not_update_and_paused_write_status_only() -> None:
    for strategy in ({"type": "NotUpdate"}, {"paused": True}):
        set_raw = sidecarset(**strategy)
        result = plan(observed(set_raw, [pod("p1")], _with_revision(set_raw)), NOW)
        assert upgraded(result) == []
        assert status_of(result)["matchedPods"] == 1


def test_update_strategy_selector_limits_the_pods() -> None:
    set_raw = sidecarset(selector={"matchLabels": {"canary": "true"}}, maxUnavailable=5)
    pods = [pod("p1"), pod("p2", labels={"canary": "true"})]
    assert upgraded(plan(observed(set_raw, pods, _with_revision(set_raw)), NOW)) == ["p2"]


def test_revisions_created_reused_rolled_back_truncated() -> None:
    set_raw = sidecarset()
    first = plan(observed(set_raw, []), NOW)
    [create] = [a for a in first.actions if isinstance(a, runtime.CreateObject)]
    assert create.resource == CONTROLLER_REVISIONS
    assert create.namespace == "flotilla-system"
    body = create.body
    assert body["metadata"]["labels"] == {"kruise.io/sidecarset-name": "logs"}
    assert body["metadata"]["ownerReferences"][0]["kind"] == "SidecarSet"
    assert body["revision"] == 1
    assert body["data"]["spec"]["containers"] == [{"name": "log", "image": "log:v2"}]
    assert body["data"]["spec"]["$patch"] == "replace"
    # the same spec again: reused, nothing created
    again = plan(
        observed(
            {**set_raw, "status": {"latestRevision": body["metadata"]["name"], "collisionCount": 0}},
            [],
            (body,),
        ),
        NOW,
    )
    assert not [a for a in again.actions if isinstance(a, runtime.CreateObject)]
    # v1 (revision 1), v2 (revision 2); the spec goes back to v1 -> v1 renumbered 3
    v1 = new_revision(sidecarset("log:v1"), "flotilla-system", 1, 0)
    v2 = new_revision(sidecarset("log:v2"), "flotilla-system", 2, 0)
    back = plan(observed(sidecarset("log:v1"), [], (v1, v2)), NOW)
    renumber = [
        a for a in back.actions if isinstance(a, runtime.PatchObject) and a.resource == CONTROLLER_REVISIONS
    ]
    assert [(a.name, a.patch) for a in renumber] == [(name_of(v1), {"revision": 3})]
    # revisionHistoryLimit 1 with v1, v2, and now v3: v1 is named by a pod, so only v2 goes
    limited = sidecarset("log:v3")
    limited["spec"]["revisionHistoryLimit"] = 1
    named = pod("p1")
    named["metadata"]["annotations"]["kruise.io/sidecarset-hash"] = json.dumps(
        {"logs": _spec_entry(OLD, name_of(v1))}
    )
    trimmed = plan(observed(limited, [named], (v1, v2)), NOW)
    deleted = [a.name for a in trimmed.actions if isinstance(a, runtime.DeleteObject)]
    assert deleted == [name_of(v2)]


def test_invalid_spec_is_refused_without_writes() -> None:
    set_raw = sidecarset()
    set_raw["spec"]["containers"] = []
    result = plan(observed(set_raw, [pod("p1")]), NOW)
    *events, mark = result.actions
    assert events
    assert all(isinstance(a, runtime.EmitEvent) and a.type == "Warning" for a in events)
    # no status conditions in a SidecarSet: the refused generation is marked instead, once
    assert isinstance(mark, runtime.PatchObject)
    assert mark.patch == {"metadata": {"annotations": {"flotilla.dev/spec-refused-generation": "3"}}}
    set_raw["metadata"].setdefault("annotations", {})["flotilla.dev/spec-refused-generation"] = "3"
    assert plan(observed(set_raw, [pod("p1")]), NOW).actions == ()
