"""Hot upgrade in the SidecarSet planner, worked by hand from kruise v1.9.1.

``findContainerToHotUpgrade`` / ``updatePodSidecarContainer`` (the idle container of the
``-1``/``-2`` pair gets the new image and becomes the working one, with the version annotations),
``flipPodSidecarContainerDo`` (once it runs, the old one goes back to the empty image) and
``IsPodReady`` (a pod whose idle container is not on the empty image is not ready). The pod starts
as kruise's webhook injects it: ``mesh-1`` working with the image, ``mesh-2`` on the empty image,
versions 1 / 0.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from workers.runtime import actions as runtime
from workers.sidecarset.planner import ObservedSidecarSet, plan
from workers.sidecarset.revisions import new_revision

NOW = datetime(2026, 11, 30, 2, 0, 0, tzinfo=UTC)
NEW, OLD, WO = "hash-new", "hash-old", "wo-hash"
EMPTY = "empty:1"


def sidecarset() -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "SidecarSet",
        "metadata": {
            "name": "mesh",
            "uid": "set-uid",
            "generation": 2,
            "resourceVersion": "77",
            "annotations": {"kruise.io/sidecarset-hash": NEW, "kruise.io/sidecarset-hash-without-image": WO},
        },
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "containers": [
                {
                    "name": "mesh",
                    "image": "mesh:v2",
                    "upgradeStrategy": {"upgradeType": "HotUpgrade", "hotUpgradeEmptyImage": EMPTY},
                }
            ],
        },
        "status": {},
    }


def pod(
    images: tuple[str, str],
    *,
    working: str,
    digest: str,
    running: tuple[str, str] | None = None,
    versions: dict[str, str] | None = None,
    state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    entry = {"updateTimestamp": "2026-11-30T01:00:00Z", "sidecarSetName": "mesh", "sidecarList": ["mesh"]}
    annotations = {
        "kruise.io/sidecarset-hash": json.dumps({"mesh": {**entry, "hash": digest}}),
        "kruise.io/sidecarset-hash-without-image": json.dumps({"mesh": {**entry, "hash": WO}}),
        "kruise.io/sidecarset-injected-list": "mesh",
        "kruise.io/sidecarset-working-hotupgrade-container": json.dumps({"mesh": working}),
        **(
            versions
            or {
                "version.sidecarset.kruise.io/mesh-1": "1",
                "versionalt.sidecarset.kruise.io/mesh-1": "0",
                "version.sidecarset.kruise.io/mesh-2": "0",
                "versionalt.sidecarset.kruise.io/mesh-2": "1",
            }
        ),
    }
    if state is not None:
        annotations["kruise.io/sidecarset-inplace-update-state"] = json.dumps(state)
    run = running or images
    return {
        "metadata": {
            "name": "p1",
            "namespace": "ns",
            "resourceVersion": "rv-p1",
            "labels": {"app": "web"},
            "annotations": annotations,
        },
        "spec": {
            "nodeName": "n1",
            "containers": [
                {"name": "mesh-1", "image": images[0]},
                {"name": "mesh-2", "image": images[1]},
                {"name": "app", "image": "app:v1"},
            ],
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": "mesh-1", "image": run[0], "imageID": f"kwok://{run[0]}", "ready": True},
                {"name": "mesh-2", "image": run[1], "imageID": f"kwok://{run[1]}", "ready": True},
                {"name": "app", "image": "app:v1", "imageID": "kwok://app:v1", "ready": True},
            ],
        },
    }


def run(p: dict[str, Any]) -> Any:
    raw = sidecarset()
    return plan(ObservedSidecarSet(raw, (p,), (new_revision(raw, "ns", 1, 0),), "ns"), NOW)


def pod_patches(result: Any) -> list[runtime.PatchObject]:
    return [
        a
        for a in result.actions
        if isinstance(a, runtime.PatchObject) and a.resource.plural == "pods" and not a.subresource
    ]


def test_the_idle_container_gets_the_new_image_and_becomes_the_working_one() -> None:
    # findContainerToHotUpgrade: mesh-2 runs the empty image -> upgrade mesh-2, the other is
    # mesh-1 (mesh:v1 != mesh:v2, so a change); versions: mesh-2 gets the set's resourceVersion,
    # its alt mesh-1's version ("1"), mesh-1's alt the set's resourceVersion
    [patch] = pod_patches(run(pod(("mesh:v1", EMPTY), working="mesh-1", digest=OLD)))
    assert patch.patch["spec"] == {"containers": [{"name": "mesh-2", "image": "mesh:v2"}]}
    annotations = patch.patch["metadata"]["annotations"]
    assert annotations["kruise.io/sidecarset-working-hotupgrade-container"] == '{"mesh":"mesh-2"}'
    assert annotations["version.sidecarset.kruise.io/mesh-2"] == "77"
    assert annotations["versionalt.sidecarset.kruise.io/mesh-2"] == "1"
    assert annotations["versionalt.sidecarset.kruise.io/mesh-1"] == "77"
    assert "version.sidecarset.kruise.io/mesh-1" not in annotations
    assert json.loads(annotations["kruise.io/sidecarset-hash"])["mesh"]["hash"] == NEW
    assert json.loads(annotations["kruise.io/sidecarset-inplace-update-state"])["mesh"][
        "lastContainerStatuses"
    ] == {"mesh-2": {"imageID": f"kwok://{EMPTY}"}}


def test_once_the_new_one_runs_the_old_one_goes_back_to_the_empty_image() -> None:
    state = {
        "mesh": {
            "revision": NEW,
            "updateTimestamp": "2026-11-30T01:00:00Z",
            "lastContainerStatuses": {"mesh-2": {"imageID": f"kwok://{EMPTY}"}},
        }
    }
    upgraded = pod(("mesh:v1", "mesh:v2"), working="mesh-2", digest=NEW, state=state)
    result = run(upgraded)
    [patch] = pod_patches(result)
    assert patch.patch["spec"] == {"containers": [{"name": "mesh-1", "image": EMPTY}]}
    annotations = patch.patch["metadata"]["annotations"]
    assert annotations["version.sidecarset.kruise.io/mesh-1"] == "0"
    assert annotations["versionalt.sidecarset.kruise.io/mesh-2"] == "0"
    assert "kruise.io/sidecarset-hash" not in annotations, "the flip does not touch the pod's hash"
    assert json.loads(annotations["kruise.io/sidecarset-inplace-update-state"])["mesh"][
        "lastContainerStatuses"
    ] == {"mesh-1": {"imageID": "kwok://mesh:v1"}, "mesh-2": {"imageID": f"kwok://{EMPTY}"}}
    [event] = [a for a in result.actions if isinstance(a, runtime.EmitEvent)]
    assert (event.involved.kind, event.involved.name, event.reason) == ("Pod", "p1", "ResetContainerSucceed")
    # IsPodReady: the idle container (mesh-1) is not on the empty image yet -> not ready
    [update] = [a for a in result.actions if isinstance(a, runtime.UpdateStatus)]
    assert (update.body["status"]["updatedPods"], update.body["status"]["readyPods"]) == (1, 0)


def test_no_flip_while_the_new_working_container_has_not_started() -> None:
    # mesh-2 asks for mesh:v2 but still runs the empty image whose imageID the state recorded:
    # IsPodStateConsistent(mesh-2) is false -> no flip, and the pod is updated -> nothing to do
    state = {
        "mesh": {
            "revision": NEW,
            "updateTimestamp": "2026-11-30T01:00:00Z",
            "lastContainerStatuses": {"mesh-2": {"imageID": f"kwok://{EMPTY}"}},
        }
    }
    waiting = pod(
        ("mesh:v1", "mesh:v2"), working="mesh-2", digest=NEW, running=("mesh:v1", EMPTY), state=state
    )
    assert pod_patches(run(waiting)) == []
