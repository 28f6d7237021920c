"""The immutable snapshot one Advanced StatefulSet reconcile plans from, and the planner's config.

The shell reads the set (parsed into the schemas model, plus its raw JSON for metadata and
Events) and, as raw JSON, the pods, PVCs and ControllerRevisions its selector matches (and,
when a pass may delete them, its ImagePullJobs).
:class:`PlannerConfig` carries the kruise feature gates the planner honours; the shell builds it
from ``--feature-gates``. Built by ``worker.observe`` (and by tests), read by ``planner.plan``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flotilla.runtime.features import Feature, FeatureGates
from schemas.kruise.statefulset import StatefulSet
from workers.podmechanics.kube_json import JsonObject


@dataclass(frozen=True)
class ObservedStatefulSet:
    statefulset: StatefulSet
    raw: JsonObject
    pods: tuple[JsonObject, ...] = ()
    claims: tuple[JsonObject, ...] = ()
    revisions: tuple[JsonObject, ...] = ()
    image_pull_jobs: tuple[JsonObject, ...] = ()
    """ImagePullJobs the set may own, read only when this pass may delete them (``predownload``)."""

    @classmethod
    def of(
        cls,
        raw: JsonObject,
        pods: Iterable[JsonObject] = (),
        claims: Iterable[JsonObject] = (),
        revisions: Iterable[JsonObject] = (),
        image_pull_jobs: Iterable[JsonObject] = (),
    ) -> ObservedStatefulSet:
        return cls(
            StatefulSet.from_wire(dict(raw)),
            raw,
            tuple(pods),
            tuple(claims),
            tuple(revisions),
            tuple(image_pull_jobs),
        )


@dataclass(frozen=True)
class PlannerConfig:
    """Behaviour switches, named after the kruise feature gates they mirror."""

    pod_index_label: bool = True
    """``PodIndexLabel`` (beta, on): pods carry ``apps.kubernetes.io/pod-index``."""
    start_ordinal: bool = False
    """``StatefulSetStartOrdinal`` (alpha, off): ``spec.ordinals.start`` is honoured."""
    auto_delete_pvc: bool = True
    """``StatefulSetAutoDeletePVC`` (beta, on): ``persistentVolumeClaimRetentionPolicy`` is honoured."""
    in_place_update_env_from_metadata: bool = True
    """``InPlaceUpdateEnvFromMetadata`` (beta, on): an in-place change of a label / annotation a
    container env reads waits for the container's restart."""
    pre_download_image: bool = False
    """``PreDownloadImageForInPlaceUpdate`` (alpha, off; off with ``KruiseDaemon`` off): ImagePullJobs
    pre-download the images of an in-place update (``predownload``)."""


def planner_config(gates: FeatureGates, base: PlannerConfig | None = None) -> PlannerConfig:
    del base
    return PlannerConfig(
        pod_index_label=gates[Feature.POD_INDEX_LABEL],
        start_ordinal=gates[Feature.STATEFUL_SET_START_ORDINAL],
        auto_delete_pvc=gates[Feature.STATEFUL_SET_AUTO_DELETE_PVC],
        in_place_update_env_from_metadata=gates[Feature.IN_PLACE_UPDATE_ENV_FROM_METADATA],
        pre_download_image=gates[Feature.PRE_DOWNLOAD_IMAGE_FOR_IN_PLACE_UPDATE],
    )
