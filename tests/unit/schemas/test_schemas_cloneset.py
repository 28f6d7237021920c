"""CloneSet model: wire names, kruise's defaults, unknown fields kept, int-or-percent resolution."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.kruise.base import resolve_int_or_percent
from schemas.kruise.cloneset import CloneSet


def _manifest(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "CloneSet",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]},
            },
            **spec,
        },
    }


def test_defaults_are_kruises() -> None:
    cs = CloneSet.from_wire(_manifest())
    assert cs.spec.replicas == 1
    assert cs.spec.update_strategy.type == "ReCreate"
    assert cs.spec.update_strategy.partition == 0
    assert cs.spec.update_strategy.max_unavailable == "20%"
    assert cs.spec.update_strategy.max_surge == 0
    assert cs.spec.scale_strategy.max_unavailable is None
    assert cs.spec.revision_history_limit == 10
    assert cs.spec.min_ready_seconds == 0
    assert cs.status.replicas == 0


def test_wire_names_and_unknown_fields_round_trip() -> None:
    manifest = _manifest(
        replicas=5,
        updateStrategy={
            "type": "InPlaceIfPossible",
            "partition": "30%",
            "maxSurge": 2,
            "inPlaceUpdateStrategy": {"gracePeriodSeconds": 10},
            "priorityStrategy": {
                "weightPriority": [{"weight": 50, "matchSelector": {"matchLabels": {"a": "b"}}}]
            },
            "scatterStrategy": [{"key": "zone", "value": "a"}],
            "aFieldFromTheFuture": {"x": 1},
        },
        scaleStrategy={"podsToDelete": ["web-abc"], "disablePVCReuse": True, "maxUnavailable": "10%"},
        lifecycle={"preDelete": {"finalizersHandler": ["example.com/hook"], "markPodNotReady": True}},
        volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}],
    )
    cs = CloneSet.from_wire(manifest)
    assert cs.spec.update_strategy.in_place_update_strategy is not None
    assert cs.spec.update_strategy.in_place_update_strategy.grace_period_seconds == 10
    assert cs.spec.scale_strategy.disable_pvc_reuse is True
    assert cs.spec.lifecycle is not None
    assert cs.spec.lifecycle.pre_delete is not None
    assert cs.spec.lifecycle.pre_delete.mark_pod_not_ready is True
    assert cs.to_wire(exclude_unset=True) == manifest


def test_status_parses_conditions() -> None:
    data = _manifest()
    data["status"] = {
        "replicas": 3,
        "updatedReadyReplicas": 2,
        "labelSelector": "app=web",
        "conditions": [
            {"type": "FailedScale", "status": "True", "lastTransitionTime": "2025-01-02T03:04:05Z"}
        ],
    }
    cs = CloneSet.from_wire(data)
    assert cs.status.updated_ready_replicas == 2
    assert cs.status.conditions is not None
    assert cs.status.conditions[0].status == "True"
    assert cs.to_wire(exclude_unset=True)["status"] == data["status"]


@pytest.mark.parametrize(
    ("value", "total", "round_up", "expected"),
    [
        (3, 10, True, 3),
        ("20%", 10, True, 2),
        ("25%", 10, True, 3),
        ("25%", 10, False, 2),
        ("100%", 7, False, 7),
    ],
)
def test_resolve_int_or_percent(value: int | str, total: int, round_up: bool, expected: int) -> None:
    assert resolve_int_or_percent(value, total, round_up=round_up) == expected


def test_resolve_int_or_percent_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="like '25%'"):
        resolve_int_or_percent("abc", 10, round_up=True)
