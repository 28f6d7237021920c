"""In-place update for any workload: what can change in place, the patch, and when it is done.

Expected values are worked by hand from kruise's ``pkg/util/inplaceupdate``
(``defaultCalculateInPlaceUpdateSpec``, ``defaultPatchUpdateSpecToPod``,
``DefaultCheckInPlaceUpdateCompleted``) and the revision adapters (Advanced StatefulSet's
``revisionadapter.NewDefaultImpl`` writes only ``controller-revision-hash``, the full name).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from workers.podmechanics.inplace import (
    in_place_patch,
    in_place_refresh,
    in_place_spec,
    non_in_place_changes,
    update_completed,
)
from workers.podmechanics.pods import read_pod

STATE = "apps.kruise.io/inplace-update-state"
GRACE = "apps.kruise.io/inplace-update-grace"
T = "2026-01-01T12:00:00Z"


def _template(image: str, *, labels: dict[str, str] | None = None, port: int | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "db", "image": image}
    if port is not None:
        container["ports"] = [{"containerPort": port}]
    return {"metadata": {"labels": labels or {"app": "db"}}, "spec": {"containers": [container]}}


def _pod(image: str, image_id: str, *, running_image: str | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "db-0", "labels": {"app": "db", "controller-revision-hash": "db-old"}},
        "spec": {"containers": [{"name": "db", "image": image}]},
        "status": {
            "containerStatuses": [{"name": "db", "image": running_image or image, "imageID": image_id}]
        },
    }


def test_image_and_label_changes_are_in_place_others_recreate() -> None:
    spec = in_place_spec(_template("pg:1"), _template("pg:2", labels={"app": "db", "x": "1"}), "db-new", 0)
    assert spec is not None
    assert dict(spec.container_images) == {"db": "pg:2"}
    assert dict(spec.labels) == {"x": "1"}
    assert in_place_spec(_template("pg:1"), _template("pg:1", port=5432), "db-new", 0) is None
    assert non_in_place_changes(_template("pg:1"), _template("pg:1", port=5432)) == (
        "add /spec/containers/0/ports",
    )


def test_statefulset_patch_carries_its_revision_label_and_no_lifecycle_when_asked() -> None:
    spec = in_place_spec(_template("pg:1"), _template("pg:2"), "db-new", 0)
    assert spec is not None
    pod = read_pod(_pod("pg:1", "sha-1"))
    patch = in_place_patch(
        pod, spec, T, revision_labels={"controller-revision-hash": "db-new"}, set_updating=False
    )
    assert patch["spec"] == {"containers": [{"name": "db", "image": "pg:2"}]}
    labels = patch["metadata"]["labels"]
    assert labels == {"controller-revision-hash": "db-new"}
    annotations = patch["metadata"]["annotations"]
    assert "lifecycle.apps.kruise.io/timestamp" not in annotations
    assert orjson.loads(annotations[STATE]) == {
        "revision": "db-new",
        "updateTimestamp": T,
        "lastContainerStatuses": {"db": {"imageID": "sha-1"}},
        "updateImages": True,
        "containerBatchesRecord": [{"timestamp": T, "containers": ["db"]}],
    }
    assert annotations[GRACE] is None


def test_patch_moves_the_lifecycle_to_updating_by_default() -> None:
    spec = in_place_spec(_template("pg:1"), _template("pg:2"), "db-new", 0)
    assert spec is not None
    patch = in_place_patch(read_pod(_pod("pg:1", "sha-1")), spec, T, revision_labels={})
    assert patch["metadata"]["labels"]["lifecycle.apps.kruise.io/state"] == "Updating"
    assert patch["metadata"]["annotations"]["lifecycle.apps.kruise.io/timestamp"] == T


def test_grace_period_defers_the_image_change() -> None:
    spec = in_place_spec(_template("pg:1"), _template("pg:2"), "db-new", 30)
    assert spec is not None
    patch = in_place_patch(read_pod(_pod("pg:1", "sha-1")), spec, T, revision_labels={})
    assert "spec" not in patch
    grace = orjson.loads(patch["metadata"]["annotations"][GRACE])
    assert grace == {"revision": "db-new", "containerImages": {"db": "pg:2"}, "graceSeconds": 30}


def test_update_completes_when_the_kubelet_runs_the_new_image() -> None:
    state = {"revision": "db-new", "lastContainerStatuses": {"db": {"imageID": "sha-1"}}}
    started = _pod("pg:2", "sha-1", running_image="pg:1")
    started["metadata"]["annotations"] = {STATE: orjson.dumps(state).decode()}
    assert not update_completed(read_pod(started))
    done = _pod("pg:2", "sha-2")
    done["metadata"]["annotations"] = {STATE: orjson.dumps(state).decode()}
    assert update_completed(read_pod(done))


def test_refresh_waits_out_the_grace_period_then_applies_the_deferred_update() -> None:
    spec = in_place_spec(_template("pg:1"), _template("pg:2"), "db-new", 30)
    assert spec is not None
    started = _pod("pg:1", "sha-1")
    patch = in_place_patch(read_pod(started), spec, T, revision_labels={"controller-revision-hash": "db-new"})
    started["metadata"]["labels"].update(patch["metadata"]["labels"])
    started["metadata"]["annotations"] = {
        k: v for k, v in patch["metadata"]["annotations"].items() if v is not None
    }
    pod = read_pod(started)
    now = datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)
    assert in_place_refresh(pod, now, "t") == (None, "", 20.0)
    later = now + timedelta(seconds=25)
    finish, subresource, delay = in_place_refresh(pod, later, "t2")
    assert subresource == ""
    assert delay is None
    assert finish is not None
    assert finish["spec"] == {"containers": [{"name": "db", "image": "pg:2"}]}
    assert finish["metadata"]["annotations"][GRACE] is None


def test_refresh_sets_in_place_update_ready_once_done() -> None:
    pod = _pod("pg:2", "sha-2")
    pod["spec"]["readinessGates"] = [{"conditionType": "InPlaceUpdateReady"}]
    pod["status"]["conditions"] = [
        {"type": "InPlaceUpdateReady", "status": "False", "reason": "StartInPlaceUpdate"}
    ]
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    patch, subresource, delay = in_place_refresh(read_pod(pod), now, T)
    assert subresource == "status"
    assert delay is None
    assert patch == {
        "status": {
            "conditions": [
                {
                    "type": "InPlaceUpdateReady",
                    "status": "True",
                    "reason": None,
                    "message": None,
                    "lastTransitionTime": T,
                }
            ]
        }
    }


def test_update_of_a_tag_of_the_same_digest_completes_on_the_node_agents_plain_hash() -> None:
    # cloneset.go:717: nginx:alpine -> nginx:mainline-alpine, one digest; the runtime reports the
    # other tag, so the imageID check alone waits forever; the reported plainHash (the kubelet's
    # HashContainer of name + image, golden of its TestHashContainer) completes it
    state = {"revision": "db-new", "lastContainerStatuses": {"db": {"imageID": "sha-1"}}}
    pod = _pod("foo/image:v1", "sha-1", running_image="foo/image:v0")
    pod["spec"]["containers"][0]["name"] = pod["status"]["containerStatuses"][0]["name"] = "test_container"
    pod["status"]["containerStatuses"][0]["containerID"] = "containerd://new"
    state["lastContainerStatuses"] = {"test_container": {"imageID": "sha-1"}}
    meta = {
        "containers": [
            {
                "name": "test_container",
                "containerID": "containerd://new",
                "restartCount": 1,
                "hashes": {"plainHash": 0x8E45CBD0},
            }
        ]
    }
    pod["metadata"]["annotations"] = {STATE: orjson.dumps(state).decode()}
    assert not update_completed(read_pod(pod))
    pod["metadata"]["annotations"]["apps.kruise.io/runtime-containers-meta"] = orjson.dumps(meta).decode()
    assert update_completed(read_pod(pod))
    meta["containers"][0]["containerID"] = "containerd://old"  # the report of the old container
    pod["metadata"]["annotations"]["apps.kruise.io/runtime-containers-meta"] = orjson.dumps(meta).decode()
    assert not update_completed(read_pod(pod))
