"""The SidecarSet benchmark's pure parts (benchmarks/sidecarset.py): the same injected pods for
both variants, when each variant is done, how app-container restarts are counted, the table."""

from __future__ import annotations

import pytest

from benchmarks.sidecarset import (
    app_restarts,
    deployment_ready,
    injected_template,
    render_markdown,
    sidecarset_done,
    sidecarset_manifest,
)

pytestmark = pytest.mark.unit


def test_the_deployment_template_carries_the_sidecar_as_the_webhook_injects_it() -> None:
    stored = sidecarset_manifest("s")
    assert stored["metadata"]["annotations"]["kruise.io/sidecarset-hash"], (
        "stored as kruise's webhook stores it"
    )
    template = injected_template("s", stored)
    assert [c["name"] for c in template["spec"]["containers"]] == ["log", "app"], "BeforeAppContainer"
    assert template["metadata"]["labels"] == {"app": "s"}
    annotations = template["metadata"]["annotations"]
    assert annotations["kruise.io/sidecarset-injected-list"] == "s"
    assert "s" in annotations["kruise.io/sidecarset-hash"]


def _deployment(generation: int, observed: int, updated: int, ready: int, replicas: int) -> dict[str, object]:
    return {
        "metadata": {"generation": generation},
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "replicas": replicas,
        },
    }


def test_a_rolling_update_is_done_when_no_old_pod_is_left() -> None:
    assert deployment_ready(_deployment(2, 2, 10, 10, 10), 10, 2)
    # mid-rollout: the surge pods are counted in replicas
    assert not deployment_ready(_deployment(2, 2, 10, 10, 12), 10, 2)
    assert not deployment_ready(_deployment(2, 1, 10, 10, 10), 10, 2), "the controller has not seen the patch"
    assert not deployment_ready(_deployment(2, 2, 9, 10, 10), 10, 2)


def test_a_sidecarset_upgrade_is_done_when_every_matched_pod_is_updated_and_ready() -> None:
    status = {
        "observedGeneration": 2,
        "matchedPods": 4,
        "updatedPods": 4,
        "readyPods": 4,
        "updatedReadyPods": 4,
    }
    assert sidecarset_done({"status": status}, 4, 2)
    assert not sidecarset_done({"status": {**status, "observedGeneration": 1}}, 4, 2)
    assert not sidecarset_done({"status": {**status, "updatedReadyPods": 3}}, 4, 2)


def _pod(restarts: int) -> dict[str, object]:
    return {
        "status": {
            "containerStatuses": [
                {"name": "app", "restartCount": restarts},
                {"name": "log", "restartCount": 7},
            ]
        }
    }


def test_a_recreated_pod_counts_as_one_app_restart_and_a_kept_one_adds_its_own() -> None:
    before = {"a": _pod(0), "b": _pod(1), "c": _pod(0)}
    # a kept, b kept with one more app restart, c recreated as d (new UID)
    after = {"a": _pod(0), "b": _pod(2), "d": _pod(0)}
    assert app_restarts(before, after) == (1, 2)
    assert app_restarts(before, dict(before)) == (0, 0), "the sidecar's restarts are not the app's"


def test_the_table_shows_medians_the_paired_speed_up_and_the_restarts() -> None:
    records = [
        {"variant": "sidecarset", "repeat": 0, "seconds": 2.0, "app_restarts": 0},
        {"variant": "deployment", "repeat": 0, "seconds": 10.0, "app_restarts": 50},
        {"variant": "sidecarset", "repeat": 1, "seconds": 4.0, "app_restarts": 0},
        {"variant": "deployment", "repeat": 1, "seconds": 8.0, "app_restarts": 50},
    ]
    row = render_markdown(records, 50).splitlines()[2]
    # per-repeat ratios 5.0 and 2.0, median 3.5
    assert row == "| 50 | 3.00 (2.00-4.00, n=2) | 9.00 (8.00-10.00, n=2) | 3.50x | 0 / 50 |"
