"""Advanced StatefulSet model: kruise's defaults, ranges in reserveOrdinals, round trip."""

from __future__ import annotations

from typing import Any

from schemas.kruise.statefulset import StatefulSet


def _manifest(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "main", "image": "postgres:16"}]},
            },
            **spec,
        },
    }


def test_defaults_are_kruises() -> None:
    sts = StatefulSet.from_wire(_manifest())
    assert sts.spec.replicas == 1
    assert sts.spec.pod_management_policy == "OrderedReady"
    assert sts.spec.update_strategy.type == "RollingUpdate"
    rolling = sts.spec.update_strategy.rolling_update
    assert rolling.partition == 0
    assert rolling.max_unavailable == 1
    assert rolling.pod_update_policy == "ReCreate"
    assert rolling.min_ready_seconds == 0
    assert sts.spec.revision_history_limit == 10
    assert sts.spec.persistent_volume_claim_retention_policy is None


def test_round_trip_with_every_kruise_extension() -> None:
    manifest = _manifest(
        replicas=4,
        podManagementPolicy="Parallel",
        reserveOrdinals=[1, "3-5"],
        ordinals={"start": 2},
        scaleStrategy={"maxUnavailable": "50%"},
        persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Retain"},
        volumeClaimUpdateStrategy={"type": "OnPodRollingUpdate"},
        lifecycle={"inPlaceUpdate": {"labelsHandler": {"ready-for-update": "true"}}},
        updateStrategy={
            "type": "RollingUpdate",
            "rollingUpdate": {
                "partition": 2,
                "maxUnavailable": "25%",
                "podUpdatePolicy": "InPlaceIfPossible",
                "unorderedUpdate": {"priorityStrategy": {"orderPriority": [{"orderedKey": "rank"}]}},
                "minReadySeconds": 30,
            },
        },
    )
    sts = StatefulSet.from_wire(manifest)
    assert sts.spec.reserve_ordinals == [1, "3-5"]
    assert sts.spec.ordinals is not None
    assert sts.spec.ordinals.start == 2
    assert sts.to_wire(exclude_unset=True) == manifest
