"""Advanced StatefulSet (``apps.kruise.io/v1beta1``, also served as ``v1alpha1``).

Follows kruise-api ``apps/v1beta1/statefulset_types.go``: upstream StatefulSet semantics plus
in-place update, maxUnavailable for parallel rollouts, reserved ordinals, lifecycle hooks and
PVC retention. Defaults are kruise's (``apis/apps/defaults/v1beta1.go``, ``SetDefaultsStatefulSet``);
the CRD stores those marked ``DEFAULTED``. Left to the admission webhook because they are
conditional: ``rollingUpdate`` created when absent under type RollingUpdate, PVC retention
Retain/Retain (gate StatefulSetAutoDeletePVC) and volumeClaimUpdateStrategy OnDelete (gate
StatefulSetAutoResizePVCGate). Used by the StatefulSet worker's planner.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from schemas.kruise.base import (
    AGE_COLUMN,
    DEFAULTED,
    Bounds,
    Cel,
    Format,
    Int32,
    Int64,
    IntOrPercent,
    KruiseModel,
    KruiseResource,
    KubeObject,
    NonNegativeInt32,
    PrinterColumn,
    ResourceInfo,
    Schemaless,
)
from schemas.kruise.pub import (
    SELECTOR_MATCHES_TEMPLATE,
    ClaimTemplate,
    Condition,
    InPlaceUpdateStrategy,
    LabelSelector,
    Lifecycle,
    UpdatePriorityStrategy,
)
from schemas.kruise.rules import statefulset as rules

MAX_MIN_READY_SECONDS = 300
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
#: Upstream's label (``apps/v1.PodIndexLabel``), written by kruise since 1.7 as well.
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"

#: The pod template, with the fields kruise's StatefulSet rules check typed for CEL.
StatefulSetPodTemplate = Annotated[
    KubeObject, Schemaless(properties=rules.TEMPLATE_TYPED), *rules.TEMPLATE_CEL
]

PodManagementPolicy = Literal["OrderedReady", "Parallel"]
PodUpdatePolicy = Literal["ReCreate", "InPlaceIfPossible", "InPlaceOnly"]
RetentionPolicy = Literal["Retain", "Delete"]

#: A reserved ordinal: a number (``1``) or a range string (``"3-5"``).
ReservedOrdinal = Annotated[
    int | str,
    Format("int-or-string"),
    Bounds(max_length=24),
    Cel(
        "type(self) == int ? self >= 0 : self.matches('^[0-9]+(-[0-9]+)?$')",
        "reserveOrdinals entries must be a non-negative integer or a range like '3-5'",
    ),
]


class UnorderedUpdateStrategy(KruiseModel):
    """Update Pods in priority order instead of by ordinal (only with Parallel)."""

    priority_strategy: UpdatePriorityStrategy | None = None
    """Rules that order the Pods to update."""


class RollingUpdateStatefulSetStrategy(KruiseModel):
    """Parameters of a RollingUpdate."""

    partition: Annotated[NonNegativeInt32, DEFAULTED] = 0
    """Pods with an ordinal >= partition are updated (replicas - partition Pods). Default 0."""
    max_unavailable: Annotated[IntOrPercent, DEFAULTED] = 1
    """The most Pods unavailable during the update (absolute or percent, rounded down); only with
    Parallel podManagementPolicy. Default 1."""
    pod_update_policy: Annotated[PodUpdatePolicy, DEFAULTED] = "ReCreate"
    """ReCreate, InPlaceIfPossible or InPlaceOnly. Default ReCreate."""
    paused: bool = False
    """Stop updating Pods."""
    unordered_update: UnorderedUpdateStrategy | None = None
    """Update in priority order instead of by ordinal (only with Parallel)."""
    in_place_update_strategy: InPlaceUpdateStrategy | None = None
    """Strategies for in-place update."""
    min_ready_seconds: Annotated[Int32, *rules.MIN_READY_SECONDS_CEL, DEFAULTED] = 0
    """Seconds an updated Pod must be ready to count as available. Default 0, max 300."""


class StatefulSetUpdateStrategy(KruiseModel):
    """How Pods are updated when the template changes."""

    type: Annotated[Literal["RollingUpdate", "OnDelete"], DEFAULTED] = "RollingUpdate"
    """RollingUpdate (default) or OnDelete (update a Pod only when it is deleted)."""
    rolling_update: RollingUpdateStatefulSetStrategy = Field(default_factory=RollingUpdateStatefulSetStrategy)
    """Parameters of a RollingUpdate."""


class VolumeClaimUpdateStrategy(KruiseModel):
    """How PVCs follow changes of volumeClaimTemplates (feature StatefulSetAutoResizePVCGate)."""

    type: Literal["OnPodRollingUpdate", "OnDelete"] | None = None
    """OnPodRollingUpdate (update PVCs as their Pods roll) or OnDelete (when the PVC is deleted)."""


class StatefulSetScaleStrategy(KruiseModel):
    """How Pods are scaled."""

    max_unavailable: IntOrPercent | None = None
    """The most Pods unavailable while scaling (absolute or percent, rounded down); only with Parallel."""


class PersistentVolumeClaimRetentionPolicy(KruiseModel):
    """What happens to PVCs from volumeClaimTemplates when the set is deleted or scaled down."""

    when_deleted: RetentionPolicy = "Retain"
    """Retain (default) or Delete the PVCs when the StatefulSet is deleted."""
    when_scaled: RetentionPolicy = "Retain"
    """Retain (default) or Delete the PVCs of Pods removed by a scale-down."""


class StatefulSetOrdinals(KruiseModel):
    """Numbering of replica indices."""

    start: NonNegativeInt32 = 0
    """The first replica's index; indices are [start, start + replicas). Default 0."""


class StatefulSetSpec(KruiseModel):
    """The desired state of an Advanced StatefulSet."""

    replicas: Annotated[NonNegativeInt32, DEFAULTED] = 1
    """Desired number of Pods. Default 1."""
    selector: LabelSelector
    """Label query over Pods counted as replicas. It must match the Pod template's labels."""
    template: StatefulSetPodTemplate
    """The Pod template (a core/v1 PodTemplateSpec) the Pods are created from."""
    volume_claim_templates: list[ClaimTemplate] | None = None
    """PVCs (core/v1 PersistentVolumeClaim) per ordinal, named <claim>-<set>-<ordinal>."""
    volume_claim_update_strategy: VolumeClaimUpdateStrategy = Field(default_factory=VolumeClaimUpdateStrategy)
    """How PVCs follow volumeClaimTemplates changes."""
    service_name: str | None = None
    """The headless Service governing the set; Pods get DNS names <pod>.<serviceName>."""
    pod_management_policy: Annotated[PodManagementPolicy, DEFAULTED] = "OrderedReady"
    """OrderedReady (default: one by one in ordinal order, waiting for Ready) or Parallel."""
    update_strategy: Annotated[StatefulSetUpdateStrategy, DEFAULTED] = Field(
        default_factory=StatefulSetUpdateStrategy
    )
    """How Pods are updated when the template changes."""
    revision_history_limit: Annotated[NonNegativeInt32, DEFAULTED] = 10
    """How many old ControllerRevisions to keep. Default 10."""
    reserve_ordinals: Annotated[list[ReservedOrdinal], Bounds(max_items=1024)] | None = None
    """Ordinals to skip (numbers or ranges like '3-5'); replicas still counts running Pods."""
    lifecycle: Lifecycle | None = None
    """Lifecycle hooks: preDelete and inPlaceUpdate."""
    scale_strategy: StatefulSetScaleStrategy | None = None
    """How Pods are scaled."""
    persistent_volume_claim_retention_policy: PersistentVolumeClaimRetentionPolicy | None = None
    """What happens to PVCs when the set is deleted or scaled down (default Retain / Retain)."""
    ordinals: StatefulSetOrdinals | None = None
    """Numbering of replica indices (start)."""

    cel_rules = (SELECTOR_MATCHES_TEMPLATE, *rules.SPEC_CEL)


class VolumeClaimStatus(KruiseModel):
    """Compatibility of existing PVCs with one volume claim template."""

    volume_claim_name: str
    """Name of the volume claim template."""
    compatible_replicas: Int32 = 0
    """Replicas whose PVC matches the template."""
    compatible_ready_replicas: Int32 = 0
    """Replicas whose PVC matches the template and is resized."""


class StatefulSetStatus(KruiseModel):
    """The observed state of an Advanced StatefulSet, written by the controller."""

    observed_generation: Int64 = 0
    """The most recent generation observed by the controller."""
    replicas: Int32 = 0
    """Number of Pods created by the controller."""
    ready_replicas: Int32 = 0
    """Number of Pods with a Ready condition."""
    available_replicas: Int32 = 0
    """Number of Pods ready for at least minReadySeconds."""
    current_replicas: Int32 = 0
    """Number of Pods at currentRevision."""
    updated_replicas: Int32 = 0
    """Number of Pods at updateRevision."""
    updated_ready_replicas: Int32 = 0
    """Number of Pods at updateRevision that are ready."""
    updated_available_replicas: Int32 = 0
    """Number of Pods at updateRevision that are available."""
    current_revision: str | None = None
    """The revision of the Pods in [0, currentReplicas)."""
    update_revision: str | None = None
    """The latest revision of the template."""
    collision_count: Int32 | None = None
    """Count of hash collisions when naming ControllerRevisions."""
    conditions: list[Condition] | None = None
    """Latest observations of the set's state (FailedCreatePod, FailedUpdatePod)."""
    label_selector: str | None = None
    """The selector in string form, for the scale subresource (HPA)."""
    volume_claims: list[VolumeClaimStatus] | None = None
    """Compatibility of existing PVCs with the volumeClaimTemplates."""


class StatefulSet(KruiseResource):
    """Advanced StatefulSet: StatefulSet with in-place update, parallel rollout and reserved ordinals."""

    info = ResourceInfo(
        group="apps.kruise.io",
        versions=("v1beta1", "v1alpha1"),
        kind="StatefulSet",
        plural="statefulsets",
        short_names=("sts", "asts"),
        scale=True,
        printer_columns=(
            PrinterColumn("DESIRED", "integer", ".spec.replicas", "The desired number of pods."),
            PrinterColumn("CURRENT", "integer", ".status.replicas", "The number of currently all pods."),
            PrinterColumn("UPDATED", "integer", ".status.updatedReplicas", "The number of pods updated."),
            PrinterColumn("READY", "integer", ".status.readyReplicas", "The number of pods ready."),
            AGE_COLUMN,
            PrinterColumn(
                "CONTAINERS",
                "string",
                ".spec.template.spec.containers[*].name",
                "The containers of currently advanced statefulset.",
                priority=1,
            ),
            PrinterColumn(
                "IMAGES",
                "string",
                ".spec.template.spec.containers[*].image",
                "The images of currently advanced statefulset.",
                priority=1,
            ),
        ),
    )

    spec: StatefulSetSpec
    """The desired state of the StatefulSet."""
    status: StatefulSetStatus = Field(default_factory=StatefulSetStatus)
    """The observed state of the StatefulSet."""
