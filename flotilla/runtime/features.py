"""kruise's feature gates (v1.9.1): names, stages, defaults, and ``--feature-gates`` parsing.

The gate table mirrors kruise's ``pkg/features/kruise_features.go``; parsing follows Kubernetes'
``k8s.io/component-base/featuregate`` (``A=true,B=false``, ``AllAlpha`` / ``AllBeta`` for every
alpha / beta gate not named explicitly, ``unrecognized feature gate: X`` for an unknown name),
and :func:`feature_gates` then applies kruise's ``SetDefaultFeatureGates`` dependencies (gate
PodWebhook or KruiseDaemon off switches off the gates that need it, ...).

Called by the worker command line (``flotilla worker <type> --feature-gates``, env
``FLOTILLA_FEATURE_GATES``); a worker type maps the resolved :class:`FeatureGates` into its
planner's config. Planners never read gates themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

#: The environment variable a worker reads its gates from when ``--feature-gates`` is not given.
FEATURE_GATES_ENV = "FLOTILLA_FEATURE_GATES"

ALL_ALPHA = "AllAlpha"
ALL_BETA = "AllBeta"


class Stage(StrEnum):
    """Release stage of a gate (``featuregate.prerelease``)."""

    ALPHA = "ALPHA"
    BETA = "BETA"


class Feature(StrEnum):
    """kruise v1.9.1's feature gate names, exactly as ``--feature-gates`` spells them."""

    POD_WEBHOOK = "PodWebhook"
    KRUISE_DAEMON = "KruiseDaemon"
    DAEMON_WATCHING_POD = "DaemonWatchingPod"
    CLONE_SET_SHORT_HASH = "CloneSetShortHash"
    KRUISE_POD_READINESS_GATE = "KruisePodReadinessGate"
    PRE_DOWNLOAD_IMAGE_FOR_IN_PLACE_UPDATE = "PreDownloadImageForInPlaceUpdate"
    CLONE_SET_PARTITION_ROLLBACK = "CloneSetPartitionRollback"
    RESOURCES_DELETION_PROTECTION = "ResourcesDeletionProtection"
    WORKLOAD_SPREAD = "WorkloadSpread"
    POD_UNAVAILABLE_BUDGET_DELETE_GATE = "PodUnavailableBudgetDeleteGate"
    POD_UNAVAILABLE_BUDGET_UPDATE_GATE = "PodUnavailableBudgetUpdateGate"
    TEMPLATE_NO_DEFAULTS = "TemplateNoDefaults"
    IN_PLACE_UPDATE_ENV_FROM_METADATA = "InPlaceUpdateEnvFromMetadata"
    STATEFUL_SET_AUTO_DELETE_PVC = "StatefulSetAutoDeletePVC"
    SIDECAR_SET_PATCH_POD_METADATA_DEFAULTS_ALLOWED = "SidecarSetPatchPodMetadataDefaultsAllowed"
    SIDECAR_TERMINATOR = "SidecarTerminator"
    POD_PROBE_MARKER_GATE = "PodProbeMarkerGate"
    PRE_DOWNLOAD_IMAGE_FOR_DAEMON_SET_UPDATE = "PreDownloadImageForDaemonSetUpdate"
    CLONE_SET_EVENT_HANDLER_OPTIMIZATION = "CloneSetEventHandlerOptimization"
    PREPARING_UPDATE_AS_UPDATE = "PreparingUpdateAsUpdate"
    IMAGE_PULL_JOB_GATE = "ImagePullJobGate"
    RESOURCE_DISTRIBUTION_GATE = "ResourceDistributionGate"
    DELETION_PROTECTION_FOR_CRD_CASCADING_GATE = "DeletionProtectionForCRDCascadingGate"
    ENHANCED_LIVENESS_PROBE = "EnhancedLivenessProbe"
    RECREATE_POD_WHEN_CHANGE_VCT_IN_CLONE_SET_GATE = "RecreatePodWhenChangeVCTInCloneSetGate"
    STATEFUL_SET_START_ORDINAL = "StatefulSetStartOrdinal"
    POD_INDEX_LABEL = "PodIndexLabel"
    ENABLE_EXTERNAL_CERTS = "EnableExternalCerts"
    STATEFUL_SET_AUTO_RESIZE_PVC_GATE = "StatefulSetAutoResizePVCGate"
    FORCE_DELETE_TIMEOUT_EXPECTATION_GATE = "ForceDeleteTimeoutExpectationGate"
    IN_PLACE_WORKLOAD_VERTICAL_SCALING = "InPlaceWorkloadVerticalScaling"
    ENABLE_POD_PROBE_MARKER_ON_SERVERLESS = "EnablePodProbeMarkerOnServerless"
    ENABLE_SORT_SIDECAR_CONTAINER_BY_NAME = "EnableSortSidecarContainerByName"
    IN_PLACE_POD_VERTICAL_SCALING = "InPlacePodVerticalScaling"


@dataclass(frozen=True)
class FeatureSpec:
    """A gate's default and stage."""

    default: bool
    stage: Stage


_A, _B = Stage.ALPHA, Stage.BETA
F = Feature

#: kruise v1.9.1 ``defaultFeatureGates`` (pkg/features/kruise_features.go).
KRUISE_FEATURES: Mapping[Feature, FeatureSpec] = MappingProxyType(
    {
        F.POD_WEBHOOK: FeatureSpec(True, _B),
        F.KRUISE_DAEMON: FeatureSpec(True, _B),
        F.DAEMON_WATCHING_POD: FeatureSpec(True, _B),
        F.CLONE_SET_SHORT_HASH: FeatureSpec(False, _A),
        F.KRUISE_POD_READINESS_GATE: FeatureSpec(False, _A),
        F.PRE_DOWNLOAD_IMAGE_FOR_IN_PLACE_UPDATE: FeatureSpec(False, _A),
        F.CLONE_SET_PARTITION_ROLLBACK: FeatureSpec(False, _A),
        F.RESOURCES_DELETION_PROTECTION: FeatureSpec(False, _B),
        F.WORKLOAD_SPREAD: FeatureSpec(True, _B),
        F.POD_UNAVAILABLE_BUDGET_DELETE_GATE: FeatureSpec(True, _B),
        F.POD_UNAVAILABLE_BUDGET_UPDATE_GATE: FeatureSpec(False, _A),
        F.TEMPLATE_NO_DEFAULTS: FeatureSpec(False, _A),
        F.IN_PLACE_UPDATE_ENV_FROM_METADATA: FeatureSpec(True, _B),
        F.STATEFUL_SET_AUTO_DELETE_PVC: FeatureSpec(True, _B),
        F.SIDECAR_SET_PATCH_POD_METADATA_DEFAULTS_ALLOWED: FeatureSpec(False, _A),
        F.SIDECAR_TERMINATOR: FeatureSpec(False, _A),
        F.POD_PROBE_MARKER_GATE: FeatureSpec(True, _B),
        F.PRE_DOWNLOAD_IMAGE_FOR_DAEMON_SET_UPDATE: FeatureSpec(False, _A),
        F.CLONE_SET_EVENT_HANDLER_OPTIMIZATION: FeatureSpec(False, _A),
        F.PREPARING_UPDATE_AS_UPDATE: FeatureSpec(False, _A),
        F.IMAGE_PULL_JOB_GATE: FeatureSpec(False, _A),
        F.RESOURCE_DISTRIBUTION_GATE: FeatureSpec(False, _A),
        F.DELETION_PROTECTION_FOR_CRD_CASCADING_GATE: FeatureSpec(False, _A),
        F.ENHANCED_LIVENESS_PROBE: FeatureSpec(False, _A),
        F.RECREATE_POD_WHEN_CHANGE_VCT_IN_CLONE_SET_GATE: FeatureSpec(False, _A),
        F.STATEFUL_SET_START_ORDINAL: FeatureSpec(False, _A),
        F.POD_INDEX_LABEL: FeatureSpec(True, _B),
        F.ENABLE_EXTERNAL_CERTS: FeatureSpec(False, _A),
        F.STATEFUL_SET_AUTO_RESIZE_PVC_GATE: FeatureSpec(False, _A),
        F.FORCE_DELETE_TIMEOUT_EXPECTATION_GATE: FeatureSpec(False, _A),
        F.IN_PLACE_WORKLOAD_VERTICAL_SCALING: FeatureSpec(False, _A),
        F.ENABLE_POD_PROBE_MARKER_ON_SERVERLESS: FeatureSpec(False, _A),
        F.ENABLE_SORT_SIDECAR_CONTAINER_BY_NAME: FeatureSpec(False, _A),
        F.IN_PLACE_POD_VERTICAL_SCALING: FeatureSpec(False, _A),
    }
)

#: kruise ``SetDefaultFeatureGates``: when the first gate is off, these are forced off.
_NEEDS_POD_WEBHOOK = (
    F.KRUISE_POD_READINESS_GATE,
    F.POD_UNAVAILABLE_BUDGET_DELETE_GATE,
    F.POD_UNAVAILABLE_BUDGET_UPDATE_GATE,
    F.WORKLOAD_SPREAD,
    F.SIDECAR_SET_PATCH_POD_METADATA_DEFAULTS_ALLOWED,
    F.ENHANCED_LIVENESS_PROBE,
    F.ENABLE_POD_PROBE_MARKER_ON_SERVERLESS,
)
_NEEDS_KRUISE_DAEMON = (
    F.PRE_DOWNLOAD_IMAGE_FOR_IN_PLACE_UPDATE,
    F.DAEMON_WATCHING_POD,
    F.IN_PLACE_UPDATE_ENV_FROM_METADATA,
    F.PRE_DOWNLOAD_IMAGE_FOR_DAEMON_SET_UPDATE,
    F.POD_PROBE_MARKER_GATE,
    F.SIDECAR_TERMINATOR,
    F.IMAGE_PULL_JOB_GATE,
    F.ENHANCED_LIVENESS_PROBE,
)

#: What Go's ``strconv.ParseBool`` accepts.
_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


class FeatureGateError(ValueError):
    """``--feature-gates`` names an unknown gate or is malformed; the message says which."""


@dataclass(frozen=True)
class FeatureGates:
    """Every kruise gate resolved to on or off."""

    enabled: Mapping[Feature, bool]

    def __getitem__(self, feature: Feature) -> bool:
        return self.enabled[feature]

    def __str__(self) -> str:
        """``A=true,B=false,...`` sorted by name (Kubernetes' ``featureGate.String``)."""
        return ",".join(f"{k.value}={str(v).lower()}" for k, v in sorted(self.enabled.items()))


def parse_feature_gates(text: str) -> dict[str, bool]:
    """``"A=true, B=false"`` as a map, as Kubernetes' ``featureGate.Set`` reads the flag.

    Empty entries are skipped; keys and values are trimmed; values are Go booleans. Names are not
    checked here (see :func:`feature_gates`). Raises :class:`FeatureGateError`.
    """
    result: dict[str, bool] = {}
    for entry in text.split(","):
        if not entry:
            continue
        key, sep, raw = entry.partition("=")
        key = key.strip()
        if not sep:
            raise FeatureGateError(f"missing bool value for {key}")
        value = raw.strip()
        if value not in _BOOLS:
            raise FeatureGateError(
                f'invalid value of {key}={value}, err: strconv.ParseBool: parsing "{value}": invalid syntax'
            )
        result[key] = _BOOLS[value]
    return result


def feature_gates(overrides: Mapping[str, bool] | None = None) -> FeatureGates:
    """kruise's defaults with ``overrides`` applied, then kruise's gate dependencies.

    ``AllAlpha`` / ``AllBeta`` set every alpha / beta gate that ``overrides`` does not name.
    Raises :class:`FeatureGateError` (``unrecognized feature gate: X``) for an unknown name.
    """
    overrides = dict(overrides or {})
    known = {f.value: f for f in KRUISE_FEATURES}
    for name in sorted(overrides):
        if name not in known and name not in (ALL_ALPHA, ALL_BETA):
            raise FeatureGateError(f"unrecognized feature gate: {name}")
    enabled = {f: spec.default for f, spec in KRUISE_FEATURES.items()}
    explicit = {known[k]: v for k, v in overrides.items() if k in known}
    for special, stage in ((ALL_ALPHA, Stage.ALPHA), (ALL_BETA, Stage.BETA)):
        if special in overrides:
            for feature, spec in KRUISE_FEATURES.items():
                if spec.stage is stage and feature not in explicit:
                    enabled[feature] = overrides[special]
    enabled.update(explicit)
    _apply_dependencies(enabled)
    return FeatureGates(MappingProxyType(enabled))


def _apply_dependencies(enabled: dict[Feature, bool]) -> None:
    """kruise ``SetDefaultFeatureGates``, in its order."""
    if not enabled[F.POD_WEBHOOK]:
        enabled.update(dict.fromkeys(_NEEDS_POD_WEBHOOK, False))
    if not enabled[F.KRUISE_DAEMON]:
        enabled.update(dict.fromkeys(_NEEDS_KRUISE_DAEMON, False))
    if (
        enabled[F.PRE_DOWNLOAD_IMAGE_FOR_IN_PLACE_UPDATE]
        or enabled[F.PRE_DOWNLOAD_IMAGE_FOR_DAEMON_SET_UPDATE]
    ):
        enabled[F.IMAGE_PULL_JOB_GATE] = True
    if not enabled[F.RESOURCES_DELETION_PROTECTION]:
        enabled[F.DELETION_PROTECTION_FOR_CRD_CASCADING_GATE] = False


def feature_gates_from_flag(text: str | None) -> FeatureGates:
    """Parse a ``--feature-gates`` value (``None`` or empty: kruise's defaults)."""
    return feature_gates(parse_feature_gates(text or ""))
