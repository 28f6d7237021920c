"""CloneSet (``apps.kruise.io/v1alpha1``): the model the CloneSet worker plans against.

Field names, enums and defaults follow kruise-api ``apps/v1alpha1/cloneset_types.go``; the
defaults are the ones kruise's defaulting webhook fills (``apis/apps/defaults/v1alpha1.go``,
``SetDefaultsCloneSet``), so a planner reads effective values (``spec.update_strategy.max_unavailable``
is ``"20%"`` when the user left it out). Fields marked ``DEFAULTED`` carry that default in the CRD
too; ``inPlaceUpdateStrategy: {}`` (only for the InPlace* types) is left to the admission webhook.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from schemas.kruise.base import (
    AGE_COLUMN,
    DEFAULTED,
    Bounds,
    Format,
    Int32,
    Int64,
    IntOrString,
    KruiseModel,
    KruiseResource,
    KubeObject,
    NonNegativeInt32,
    PrinterColumn,
    ResourceInfo,
    Schemaless,
    Time,
)
from schemas.kruise.pub import (
    SELECTOR_MATCHES_TEMPLATE,
    ClaimTemplate,
    Condition,
    InPlaceUpdateStrategy,
    LabelSelector,
    Lifecycle,
    UpdatePriorityStrategy,
    UpdateScatterStrategy,
)
from schemas.kruise.rules import cloneset as rules

CLONESET_INSTANCE_ID_LABEL = "apps.kruise.io/cloneset-instance-id"
SCALING_EXCLUDE_PREPARING_DELETE_LABEL = "apps.kruise.io/cloneset-scaling-exclude-preparing-delete"
DEFAULT_MAX_UNAVAILABLE = "20%"

CloneSetUpdateStrategyType = Literal["ReCreate", "InPlaceIfPossible", "InPlaceOnly"]

#: The pod template, with the fields kruise's CloneSet rules check typed for CEL.
CloneSetPodTemplate = Annotated[KubeObject, Schemaless(properties=rules.TEMPLATE_TYPED), *rules.TEMPLATE_CEL]
#: int-or-string kruise scales (``GetScaledValueFromIntOrPercent``): any int, or a percentage (may be
#: a decimal or above 100%); a string without ``%`` is refused with kruise's message.
_ScaledPartition = Annotated[int | str, Format("int-or-string"), Bounds(max_length=64), *rules.PARTITION_CEL]
_ScaledMaxUnavailable = Annotated[
    int | str, Format("int-or-string"), Bounds(max_length=64), *rules.MAX_UNAVAILABLE_CEL
]
_ScaledMaxSurge = Annotated[int | str, Format("int-or-string"), Bounds(max_length=64), *rules.MAX_SURGE_CEL]


class CloneSetScaleStrategy(KruiseModel):
    """How Pods are created and deleted when scaling."""

    pods_to_delete: list[str] | None = None
    """Names of Pods to delete first. Names of Pods that no longer exist are removed from the list."""
    max_unavailable: IntOrString | None = None
    """The most new Pods that may be unavailable while scaling up (absolute or percent of replicas).
    Scaling up waits while more are unavailable. Unset means unlimited. Only applies to scale-up."""
    disable_pvc_reuse: bool = Field(default=False, alias="disablePVCReuse")
    """Do not reuse the PVCs of a Pod that was deleted; delete them together with the Pod."""


class CloneSetUpdateStrategy(KruiseModel):
    """How Pods are updated when the template changes."""

    type: Annotated[CloneSetUpdateStrategyType, DEFAULTED] = "ReCreate"
    """ReCreate (delete and create Pods), InPlaceIfPossible (update in place when only images,
    metadata-derived env or resources changed, else recreate) or InPlaceOnly. Default ReCreate."""
    partition: Annotated[_ScaledPartition, DEFAULTED] = 0
    """Number (or percent of replicas, rounded up) of Pods to keep at the old revision. Default 0."""
    max_unavailable: Annotated[_ScaledMaxUnavailable, DEFAULTED] = DEFAULT_MAX_UNAVAILABLE
    """The most Pods that may be unavailable during update or scale (absolute or percent, rounded up;
    rounded down when maxSurge > 0). Default 20%."""
    max_surge: Annotated[_ScaledMaxSurge, DEFAULTED] = 0
    """The most Pods above replicas during update or specified deletion (absolute or percent, rounded
    up). Default 0. Not allowed with InPlaceOnly."""
    paused: bool = False
    """Stop updating Pods (scaling continues)."""
    priority_strategy: UpdatePriorityStrategy | None = None
    """Rules that order the Pods to update."""
    scatter_strategy: UpdateScatterStrategy | None = None
    """Spread Pods with the given labels evenly across the update order (applied after priority)."""
    in_place_update_strategy: InPlaceUpdateStrategy | None = None
    """Strategies for in-place update."""


class CloneSetSpec(KruiseModel):
    """The desired state of a CloneSet."""

    replicas: Annotated[NonNegativeInt32, DEFAULTED] = 1
    """Desired number of Pods. Default 1."""
    selector: LabelSelector
    """Label query over Pods counted as replicas. It must match the Pod template's labels."""
    template: CloneSetPodTemplate
    """The Pod template (a core/v1 PodTemplateSpec) the Pods are created from."""
    volume_claim_templates: list[ClaimTemplate] | None = None
    """PVCs (core/v1 PersistentVolumeClaim) created per Pod; they share the Pod's instance id and are
    deleted with the Pod when the controller deletes it."""
    scale_strategy: CloneSetScaleStrategy = Field(default_factory=CloneSetScaleStrategy)
    """How Pods are created and deleted when scaling."""
    update_strategy: Annotated[CloneSetUpdateStrategy, DEFAULTED] = Field(
        default_factory=CloneSetUpdateStrategy
    )
    """How Pods are updated when the template changes."""
    revision_history_limit: Annotated[NonNegativeInt32, DEFAULTED] = 10
    """How many old ControllerRevisions to keep. Default 10."""
    min_ready_seconds: NonNegativeInt32 = 0
    """Seconds a new Pod must be ready (no container crashing) to count as available. Default 0."""
    lifecycle: Lifecycle | None = None
    """Lifecycle hooks: preNormal, preDelete and inPlaceUpdate."""
    progress_deadline_seconds: NonNegativeInt32 | None = None
    """Seconds the CloneSet may take to become available (or paused, or available up to its
    partition) before the Progressing condition turns False with reason ProgressDeadlineExceeded;
    time spent paused does not count. Unset (or 2147483647): no Progressing condition."""

    cel_rules = (SELECTOR_MATCHES_TEMPLATE, *rules.SPEC_CEL)


# CloneSet condition types (kruise ``CloneSetConditionType``).
CONDITION_FAILED_SCALE = "FailedScale"
CONDITION_FAILED_UPDATE = "FailedUpdate"
CONDITION_PROGRESSING = "Progressing"
"""Whether the CloneSet makes progress; kept only while ``spec.progressDeadlineSeconds`` is set."""
# Reasons of the Progressing condition (kruise ``CloneSetConditionReason``).
PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
PROGRESS_PAUSED = "CloneSetPaused"
PROGRESS_UPDATED = "CloneSetUpdated"
PROGRESS_PARTITION_AVAILABLE = "ProgressPartitionAvailable"
PROGRESS_AVAILABLE = "CloneSetAvailable"
#: ``progressDeadlineSeconds`` with this value (MaxInt32) means no deadline, as if unset.
NO_PROGRESS_DEADLINE = 2**31 - 1


class CloneSetCondition(Condition):
    """A CloneSet condition: FailedScale, FailedUpdate or Progressing."""

    last_update_time: Time | None = None
    """Last time the condition was set with this status and reason (the Progressing deadline
    counts from it)."""


class CloneSetStatus(KruiseModel):
    """The observed state of a CloneSet, written by the controller."""

    observed_generation: Int64 = 0
    """The most recent generation observed by the controller."""
    replicas: Int32 = 0
    """Number of Pods created by the controller."""
    ready_replicas: Int32 = 0
    """Number of Pods with a Ready condition."""
    available_replicas: Int32 = 0
    """Number of Pods ready for at least minReadySeconds (and in lifecycle state Normal)."""
    updated_replicas: Int32 = 0
    """Number of Pods at updateRevision."""
    updated_ready_replicas: Int32 = 0
    """Number of Pods at updateRevision that are ready."""
    updated_available_replicas: Int32 = 0
    """Number of Pods at updateRevision that are available."""
    expected_updated_replicas: Int32 = 0
    """Number of Pods that should be updated: replicas - partition."""
    update_revision: str | None = None
    """The latest revision (ControllerRevision name) of the template."""
    current_revision: str | None = None
    """The revision of the last completed rollout."""
    collision_count: Int32 | None = None
    """Count of hash collisions when naming ControllerRevisions."""
    conditions: list[CloneSetCondition] | None = None
    """Latest observations of the CloneSet's state (FailedScale, FailedUpdate, Progressing)."""
    label_selector: str | None = None
    """The selector in string form, for the scale subresource (HPA)."""


class CloneSet(KruiseResource):
    """CloneSet manages a set of identical Pods with scale, in-place update and lifecycle hooks."""

    info = ResourceInfo(
        group="apps.kruise.io",
        versions=("v1alpha1",),
        kind="CloneSet",
        plural="clonesets",
        short_names=("clone",),
        scale=True,
        printer_columns=(
            PrinterColumn("DESIRED", "integer", ".spec.replicas", "The desired number of pods."),
            PrinterColumn("UPDATED", "integer", ".status.updatedReplicas", "The number of pods updated."),
            PrinterColumn(
                "UPDATED_READY",
                "integer",
                ".status.updatedReadyReplicas",
                "The number of pods updated and ready.",
            ),
            PrinterColumn(
                "UPDATED_AVAILABLE",
                "integer",
                ".status.updatedAvailableReplicas",
                "The number of pods updated and available.",
            ),
            PrinterColumn("READY", "integer", ".status.readyReplicas", "The number of pods ready."),
            PrinterColumn("TOTAL", "integer", ".status.replicas", "The number of currently all pods."),
            AGE_COLUMN,
            PrinterColumn(
                "CONTAINERS",
                "string",
                ".spec.template.spec.containers[*].name",
                "The containers of currently cloneset.",
                priority=1,
            ),
            PrinterColumn(
                "IMAGES",
                "string",
                ".spec.template.spec.containers[*].image",
                "The images of currently cloneset.",
                priority=1,
            ),
            PrinterColumn(
                "SELECTOR",
                "string",
                ".status.labelSelector",
                "The selector of currently cloneset.",
                priority=1,
            ),
        ),
    )

    spec: CloneSetSpec
    """The desired state of the CloneSet."""
    status: CloneSetStatus = Field(default_factory=CloneSetStatus)
    """The observed state of the CloneSet."""
