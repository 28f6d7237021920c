"""The CloneSet planner's configuration: kruise's feature gates and flags, as an argument.

The shell builds one :class:`PlannerConfig` from flags / environment at start-up
(:func:`planner_config` from ``flotilla worker cloneset --feature-gates``) and passes it to every
``plan`` call; planners never read gates or the environment themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from flotilla.runtime.features import Feature, FeatureGates


@dataclass(frozen=True)
class PlannerConfig:
    """Behaviour switches, named after the kruise feature gates / flags they mirror."""

    short_hash_label: bool = False
    """``CloneSetShortHash``: the pod's controller-revision-hash label is the bare hash."""
    partition_rollback: bool = False
    """``CloneSetPartitionRollback``: raising partition rolls updated pods back to the current revision."""
    preparing_update_as_update: bool = False
    """``PreparingUpdateAsUpdate``: pods in PreparingUpdate count as updated when scaling."""
    scaling_exclude_preparing_delete: bool = False
    """``--cloneset-scaling-exclude-preparing-delete``: PreparingDelete pods do not count toward replicas."""
    in_place_update_env_from_metadata: bool = True
    """``InPlaceUpdateEnvFromMetadata`` (beta, on; off with ``KruiseDaemon`` off): an in-place change of a
    label / annotation a container env reads waits for the container's restart."""
    pre_download_image: bool = False
    """``PreDownloadImageForInPlaceUpdate`` (alpha, off; off with ``KruiseDaemon`` off): ImagePullJobs
    pre-download the images of an in-place update (``predownload``)."""
    recreate_pod_when_change_vct: bool = False
    """``RecreatePodWhenChangeVCTInCloneSetGate`` (alpha, off): a revision whose volumeClaimTemplates
    hash differs from the pod's revision's is not rolled out in place (except under InPlaceOnly)."""
    pub_update_gate: bool = False
    """``PodUnavailableBudgetUpdateGate`` (alpha, off): a pod's PodUnavailableBudget is consulted before
    it is updated (``CheckBudget``)."""
    initial_batch_size: int = 1
    """Slow start: size of the first batch of pod creations (then 2x, 4x, ...)."""


def planner_config(gates: FeatureGates, base: PlannerConfig | None = None) -> PlannerConfig:
    """``base`` (default: all defaults) with the fields that mirror a kruise gate set from ``gates``."""
    base = base or PlannerConfig()
    return PlannerConfig(
        short_hash_label=gates[Feature.CLONE_SET_SHORT_HASH],
        partition_rollback=gates[Feature.CLONE_SET_PARTITION_ROLLBACK],
        preparing_update_as_update=gates[Feature.PREPARING_UPDATE_AS_UPDATE],
        in_place_update_env_from_metadata=gates[Feature.IN_PLACE_UPDATE_ENV_FROM_METADATA],
        pre_download_image=gates[Feature.PRE_DOWNLOAD_IMAGE_FOR_IN_PLACE_UPDATE],
        recreate_pod_when_change_vct=gates[Feature.RECREATE_POD_WHEN_CHANGE_VCT_IN_CLONE_SET_GATE],
        pub_update_gate=gates[Feature.POD_UNAVAILABLE_BUDGET_UPDATE_GATE],
        scaling_exclude_preparing_delete=base.scaling_exclude_preparing_delete,
        initial_batch_size=base.initial_batch_size,
    )
