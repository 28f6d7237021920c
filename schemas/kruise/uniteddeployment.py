"""UnitedDeployment (``apps.kruise.io/v1alpha1``): one app split into subsets (zones, node pools).

Follows kruise-api ``apps/v1alpha1/uniteddeployment_types.go``. Each subset becomes a workload
of the template's kind (CloneSet, Advanced StatefulSet, StatefulSet or Deployment). The kruise
templates are typed with this package's models; the upstream ones stay core JSON.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from schemas.kruise.base import (
    AGE_COLUMN,
    DEFAULTED,
    UNDEFAULTED,
    Bounds,
    Cel,
    Int32,
    Int64,
    IntOrPercent,
    KruiseModel,
    KruiseResource,
    KubeObject,
    ListMap,
    NonNegativeInt32,
    PrinterColumn,
    ResourceInfo,
    Schemaless,
)
from schemas.kruise.cloneset import CloneSetSpec
from schemas.kruise.pub import Condition, LabelSelector
from schemas.kruise.statefulset import StatefulSetSpec

SUBSET_NAME_LABEL = "apps.kruise.io/subset-name"

#: ``{metadata, spec}`` of an upstream apps/v1 workload, kept as core JSON.
UpstreamWorkloadTemplate = Annotated[KubeObject, Schemaless()]


class CloneSetTemplateSpec(KruiseModel):
    """Template of the CloneSet created per subset."""

    metadata: KubeObject = Field(default_factory=dict)
    """Labels and annotations of the subset workload."""
    spec: Annotated[CloneSetSpec, UNDEFAULTED]
    """The subset CloneSet's spec (defaulted when the CloneSet is created, not here)."""


class AdvancedStatefulSetTemplateSpec(KruiseModel):
    """Template of the Advanced StatefulSet created per subset."""

    metadata: KubeObject = Field(default_factory=dict)
    """Labels and annotations of the subset workload."""
    spec: Annotated[StatefulSetSpec, UNDEFAULTED]
    """The subset Advanced StatefulSet's spec (defaulted when the workload is created, not here)."""


class SubsetTemplate(KruiseModel):
    """The workload each subset runs; exactly one kind is set."""

    stateful_set_template: UpstreamWorkloadTemplate | None = None
    """An apps/v1 StatefulSet template ({metadata, spec})."""
    advanced_stateful_set_template: AdvancedStatefulSetTemplateSpec | None = None
    """An Advanced StatefulSet template."""
    clone_set_template: CloneSetTemplateSpec | None = None
    """A CloneSet template."""
    deployment_template: UpstreamWorkloadTemplate | None = None
    """An apps/v1 Deployment template ({metadata, spec})."""

    cel_rules = (
        Cel(
            "[has(self.statefulSetTemplate), has(self.advancedStatefulSetTemplate),"
            " has(self.cloneSetTemplate), has(self.deploymentTemplate)].filter(x, x).size() == 1",
            "template must set exactly one of statefulSetTemplate, advancedStatefulSetTemplate,"
            " cloneSetTemplate and deploymentTemplate",
        ),
    )


class Subset(KruiseModel):
    """One slice of the app, placed by node selector and tolerations."""

    name: Annotated[
        str,
        Bounds(max_length=63),
        Cel(
            "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
            "subset name must be a DNS label (lowercase letters, digits and '-', at most 63 characters)",
        ),
    ]
    """Subset name (a DNS label, unique in the UnitedDeployment)."""
    node_selector_term: KubeObject | None = None
    """core/v1 NodeSelectorTerm merged into the subset Pods' node affinity."""
    tolerations: list[KubeObject] | None = None
    """core/v1 Tolerations added to the subset Pods."""
    replicas: IntOrPercent | None = None
    """Replicas of this subset: a number or a percent of the total. Unset: share what is left."""
    min_replicas: IntOrPercent | None = None
    """Elastic lower bound (exclusive with replicas)."""
    max_replicas: IntOrPercent | None = None
    """Elastic upper bound (exclusive with replicas); unset means unlimited."""
    patch: KubeObject | None = None
    """Strategic merge patch applied to the subset's workload template."""

    cel_rules = (
        Cel(
            "!has(self.replicas) || (!has(self.minReplicas) && !has(self.maxReplicas))",
            "subset replicas cannot be combined with minReplicas or maxReplicas",
        ),
    )


class AdaptiveUnitedDeploymentStrategy(KruiseModel):
    """Parameters of the Adaptive schedule strategy."""

    reschedule_critical_seconds: Int32 = 30
    """Seconds a Pod may stay unschedulable before it moves to another subset. Default 30."""
    unschedulable_duration: Int32 = 300
    """Seconds a subset stays marked unschedulable before it may take Pods again. Default 300
    (kruise 1.9 renamed ``unschedulableLastSeconds`` to this)."""
    reserve_unschedulable_pods: bool = False
    """Keep Pods that cannot be scheduled and run a temporary substitute in another subset,
    deleted once the kept Pod is ready (Pods get label apps.kruise.io/united-deployment-reserved-pod)."""


class UnitedDeploymentScheduleStrategy(KruiseModel):
    """How Pods are spread over subsets."""

    type: Literal["Fixed", "Adaptive", ""] = "Fixed"
    """Fixed (default) or Adaptive (reschedule Pods stuck unschedulable to other subsets)."""
    adaptive: AdaptiveUnitedDeploymentStrategy | None = None
    """Parameters of the Adaptive strategy."""


class Topology(KruiseModel):
    """The subsets and how Pods are spread over them."""

    subsets: Annotated[list[Subset], Bounds(max_items=64), ListMap(("name",))] | None = None
    """The subsets (unique by name, at most 64)."""
    schedule_strategy: UnitedDeploymentScheduleStrategy = Field(
        default_factory=UnitedDeploymentScheduleStrategy
    )
    """How Pods are spread over subsets."""


class ManualUpdate(KruiseModel):
    """Per-subset partitions."""

    partitions: dict[str, Int32] | None = None
    """Partition of each subset's workload, by subset name."""


class UnitedDeploymentUpdateStrategy(KruiseModel):
    """How subsets are updated."""

    type: Annotated[Literal["Manual"], DEFAULTED] = "Manual"
    """Manual (the only type): partitions per subset."""
    manual_update: Annotated[ManualUpdate, DEFAULTED] = Field(default_factory=ManualUpdate)
    """Per-subset partitions."""


class UnitedDeploymentSpec(KruiseModel):
    """The desired state of a UnitedDeployment."""

    replicas: NonNegativeInt32 = 1
    """Total Pods across subsets. kruise stores no default (unset: the subsets' own replicas)."""
    selector: LabelSelector
    """Label query over the Pods. It must match the template's Pod labels."""
    template: SubsetTemplate = Field(default_factory=SubsetTemplate)
    """The workload each subset runs."""
    topology: Topology = Field(default_factory=Topology)
    """The subsets."""
    update_strategy: Annotated[UnitedDeploymentUpdateStrategy, DEFAULTED] = Field(
        default_factory=UnitedDeploymentUpdateStrategy
    )
    """How subsets are updated."""
    revision_history_limit: Annotated[NonNegativeInt32, DEFAULTED] = 10
    """How many old ControllerRevisions to keep. Default 10."""


class UnitedDeploymentSubsetStatus(KruiseModel):
    """The state of one subset."""

    name: str | None = None
    """Subset name."""
    replicas: Int32 = 0
    """Replicas of the subset."""
    ready_replicas: Int32 = 0
    """Ready replicas of the subset."""
    partition: Int32 = 0
    """Partition of the subset."""
    reserved_pods: Int32 = 0
    """Pods of the subset kept while unschedulable (reserveUnschedulablePods)."""
    conditions: list[Condition] | None = None
    """Subset conditions (Schedulable)."""


class UpdateStatus(KruiseModel):
    """Progress of the update."""

    updated_revision: str | None = None
    """The revision being rolled out."""
    current_partitions: dict[str, Int32] | None = None
    """Current partition of each subset."""


class UnitedDeploymentStatus(KruiseModel):
    """The observed state of a UnitedDeployment."""

    observed_generation: Int64 = 0
    """The most recent generation observed by the controller."""
    ready_replicas: Int32 = 0
    """Ready Pods across subsets."""
    replicas: Int32 = 0
    """Pods across subsets."""
    updated_replicas: Int32 = 0
    """Pods at the latest revision."""
    reserved_pods: Int32 = 0
    """Pods kept while unschedulable (reserveUnschedulablePods)."""
    updated_ready_replicas: Int32 = 0
    """Ready Pods at the latest revision."""
    collision_count: Int32 | None = None
    """Count of hash collisions when naming ControllerRevisions."""
    current_revision: str | None = None
    """The current revision."""
    subset_replicas: dict[str, Int32] | None = None
    """Replicas assigned to each subset."""
    subset_statuses: list[UnitedDeploymentSubsetStatus] | None = None
    """State of each subset."""
    conditions: list[Condition] | None = None
    """Conditions (SubsetProvisioned, SubsetUpdated, SubsetFailure, UnitedDeploymentUpdated)."""
    update_status: UpdateStatus | None = None
    """Progress of the update."""
    label_selector: str | None = None
    """The selector in string form, for the scale subresource (HPA)."""


class UnitedDeployment(KruiseResource):
    """UnitedDeployment runs one app as several subset workloads spread over topologies."""

    info = ResourceInfo(
        group="apps.kruise.io",
        versions=("v1alpha1",),
        kind="UnitedDeployment",
        plural="uniteddeployments",
        short_names=("ud",),
        scale=True,
        printer_columns=(
            PrinterColumn("DESIRED", "integer", ".spec.replicas", "The desired number of pods."),
            PrinterColumn("CURRENT", "integer", ".status.replicas", "The number of currently all pods."),
            PrinterColumn("UPDATED", "integer", ".status.updatedReplicas", "The number of pods updated."),
            PrinterColumn("READY", "integer", ".status.readyReplicas", "The number of pods ready."),
            AGE_COLUMN,
        ),
    )

    spec: UnitedDeploymentSpec
    """The desired state of the UnitedDeployment."""
    status: UnitedDeploymentStatus = Field(default_factory=UnitedDeploymentStatus)
    """The observed state of the UnitedDeployment."""
