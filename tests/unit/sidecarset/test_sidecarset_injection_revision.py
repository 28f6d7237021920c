"""``injectionStrategy.revision``: the restored SidecarSet and which one a new pod gets.

Expected values worked by hand from kruise v1.9.1 ``getSuitableRevisionSidecarSet`` /
``selectRevisionRandomly`` (pkg/webhook/pod/mutating/sidecarset.go) and ``GetHistorySidecarSet`` /
``restoreRevisionInfo`` (pkg/control/sidecarcontrol/history_control.go).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.webhook.test_sidecarset_injection import (
    INJECTED,
    NOW,
    _apply,
    _pod,
    _sidecar,
    _sidecarset,
    _spec,
)
from webhook.sidecarset import InjectionError, inject
from webhook.sidecarsetrevision import RevisionChoiceError, choose, restore, wants_revision


def _set(policy: str = "Partial", partition: object = "30%", **strategy: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "logs",
            "labels": {"team": "a"},
            "annotations": {
                "kruise.io/sidecarset-hash": "H",
                "kruise.io/sidecarset-hash-without-image": "HW",
            },
        },
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "containers": [{"name": "log", "image": "log:v2"}],
            "updateStrategy": {
                "type": "RollingUpdate",
                "partition": partition,
                "selector": {"matchLabels": {"canary": "true"}},
                **strategy,
            },
            "injectionStrategy": {"revision": {"customVersion": "v1", "policy": policy}},
        },
        "status": {"latestRevision": "logs-new", "matchedPods": 4},
    }


REVISION = {
    "metadata": {
        "name": "logs-old",
        "annotations": {"kruise.io/sidecarset-hash": "OH", "kruise.io/sidecarset-hash-without-image": "OHW"},
    },
    "data": {
        "spec": {
            "$patch": "replace",
            "containers": [{"name": "log", "image": "log:v1"}],
            "initContainers": None,
            "volumes": None,
            "imagePullSecrets": None,
            "patchPodMetadata": None,
        }
    },
}


def test_wants_revision() -> None:
    assert wants_revision(_set())
    assert wants_revision({"spec": {"injectionStrategy": {"revision": {"revisionName": "logs-old"}}}})
    assert not wants_revision({"spec": {"injectionStrategy": {"revision": {"policy": "Always"}}}})
    assert not wants_revision({"spec": {}})


def test_restore_replaces_the_spec_with_the_recorded_one() -> None:
    latest = _set()
    old = restore(latest, REVISION)
    # $patch: replace on spec: only the recorded fields, nulls dropped as Go's omitempty does
    assert old["spec"] == {"containers": [{"name": "log", "image": "log:v1"}]}
    assert old["metadata"] == {
        "name": "logs",
        "labels": {"team": "a"},
        "annotations": {"kruise.io/sidecarset-hash": "OH", "kruise.io/sidecarset-hash-without-image": "OHW"},
    }
    assert old["status"] == {"latestRevision": "logs-old", "matchedPods": 4}
    assert latest["spec"]["containers"] == [{"name": "log", "image": "log:v2"}]


def test_choose_by_policy_selector_partition_and_paused() -> None:
    latest = _set()
    old = restore(latest, REVISION)
    canary = {"app": "web", "canary": "true"}
    # Partial: a pod the update selector does not select gets the pinned revision
    assert choose(latest, old, {"app": "web"}, 0.99) is old
    # selected: the pinned one with probability 30%
    assert choose(latest, old, canary, 0.3) is old
    assert choose(latest, old, canary, 0.31) is latest
    # an int partition: always the latest
    int_set = _set(partition=3)
    assert choose(int_set, old, canary, 0.0) is int_set
    # Always: the pinned one
    assert choose(_set("Always"), old, canary, 0.99) is old
    # paused update: the pinned one whatever the policy
    assert choose(_set(paused=True), old, canary, 0.99) is old
    with pytest.raises(RevisionChoiceError, match="not a percentage"):
        choose(_set(partition="30"), old, canary, 0.5)


def test_inject_uses_the_pinned_revision_when_given() -> None:
    latest = _sidecarset(
        "log",
        [_sidecar("logger", image="logger:2")],
        injectionStrategy={"revision": {"customVersion": "v1", "policy": "Always"}},
    )
    latest["status"] = {"latestRevision": "log-new"}
    revision = {
        "metadata": {
            "name": "log-old",
            "annotations": {
                "kruise.io/sidecarset-hash": "OH",
                "kruise.io/sidecarset-hash-without-image": "OHW",
            },
        },
        "data": {"spec": {"$patch": "replace", "containers": [_sidecar("logger")], "volumes": None}},
    }
    pod = _apply(_pod(), inject(_pod(), [latest], None, NOW, revisions={"log": revision}))
    assert pod["spec"]["containers"][0] == {"name": "logger", "image": "logger:1", "env": [INJECTED]}
    assert pod["metadata"]["annotations"]["kruise.io/sidecarset-hash"] == (
        '{"log":' + _spec("log", "OH", ["logger"], "log-old") + "}"
    )
    # the lookup was not made for this set: the latest
    pod = _apply(_pod(), inject(_pod(), [latest], None, NOW, revisions={}))
    assert pod["spec"]["containers"][0]["image"] == "logger:2"
    with pytest.raises(InjectionError, match=r'^ControllerRevision\.apps "log" not found$'):
        inject(_pod(), [latest], None, NOW, revisions={"log": None})
