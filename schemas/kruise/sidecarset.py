"""SidecarSet (``apps.kruise.io/v1beta1`` stored, ``v1alpha1`` served; cluster-scoped): sidecars
injected into matching Pods.

Follows kruise-api ``apps/v1beta1/sidecarset_types.go`` (v1.9.1). One schema serves both versions:
v1beta1's fields plus v1alpha1's ``spec.namespace``, so the CRD's ``None`` conversion loses
nothing; ``schemas.kruise.conversion`` folds the version differences (namespace into
namespaceSelector, the custom-version label into ``customVersion``) the way kruise's conversion
webhook does. A sidecar container is a full core/v1 Container (kept as JSON, only ``name`` /
``image`` typed) plus kruise's injection and upgrade fields. Defaults are kruise's
(``apis/apps/defaults/v1beta1.go``, ``SetDefaultsSidecarSetV1beta1``). Read by the admission
webhook (injection) and the SidecarSet worker (updates).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from schemas.kruise.base import (
    AGE_COLUMN,
    DEFAULTED,
    Cel,
    Int32,
    Int64,
    IntOrPercent,
    KruiseModel,
    KruiseResource,
    KubeObject,
    NonNegativeInt32,
    PrinterColumn,
    ResourceInfo,
)
from schemas.kruise.pub import LabelSelector, UpdatePriorityStrategy, UpdateScatterStrategy

SIDECARSET_HASH_ANNOTATION = "kruise.io/sidecarset-hash"
SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION = "kruise.io/sidecarset-hash-without-image"
SIDECARSET_INJECTED_LIST_ANNOTATION = "kruise.io/sidecarset-injected-list"
SIDECARSET_CUSTOM_VERSION_LABEL = "apps.kruise.io/sidecarset-custom-version"

PodInjectPolicy = Literal["BeforeAppContainer", "AfterAppContainer"]


class SidecarContainerUpgradeStrategy(KruiseModel):
    """How an injected sidecar is upgraded in running Pods."""

    upgrade_type: Annotated[Literal["ColdUpgrade", "HotUpgrade"], DEFAULTED] = "ColdUpgrade"
    """ColdUpgrade (default: restart the container with the new image) or HotUpgrade (two containers
    take turns so the sidecar keeps serving)."""
    hot_upgrade_empty_image: str | None = None
    """Image that does nothing, run by the idle half of a HotUpgrade pair; required for HotUpgrade."""


class ShareVolumePolicy(KruiseModel):
    """Whether the sidecar also mounts the app containers' volumes."""

    type: Annotated[Literal["enabled", "disabled"], DEFAULTED] = "disabled"
    """enabled: the sidecar gets every volumeMount of the app containers. Default disabled."""


class ResourceExpressions(KruiseModel):
    """Expressions over variables ``cpu`` and ``memory`` (+ - * / max() min())."""

    cpu: str | None = None
    """CPU expression (variable ``cpu``: the sum or max of the target containers' cpu)."""
    memory: str | None = None
    """Memory expression (variable ``memory``: the sum or max of the target containers' memory)."""


class ResourcesExpr(KruiseModel):
    """How the sidecar's limits and requests are computed."""

    limits: ResourceExpressions | None = None
    """Limit expressions (a target without limits leaves the sidecar's limit unset)."""
    requests: ResourceExpressions | None = None
    """Request expressions."""


class ResourcesPolicy(KruiseModel):
    """Sidecar resources computed from the Pod's containers at Pod creation (kruise 1.9)."""

    target_containers_mode: Literal["sum", "max"]
    """Aggregate the target containers' resources by sum or max."""
    target_containers_name_regex: str | None = None
    """Regex of the target container names (default ``.*``; kruise sidecars excluded). No match
    rejects the Pod."""
    resources_expr: ResourcesExpr
    """The expressions for limits and requests."""


class SourceContainerNameSource(KruiseModel):
    """Where to read the source container's name from."""

    field_ref: KubeObject | None = None
    """A core/v1 ObjectFieldSelector (metadata.name, metadata.labels['k'], metadata.annotations['k'])."""


class TransferEnvVar(KruiseModel):
    """Copy an env var from an app container into the sidecar."""

    source_container_name: str | None = None
    """The app container to copy from."""
    source_container_name_from: SourceContainerNameSource | None = None
    """Read the source container name from the Pod's metadata instead."""
    env_name: str | None = None
    """One env var to copy."""
    env_names: list[str] | None = None
    """Several env vars to copy."""


class SidecarContainer(KruiseModel):
    """A core/v1 Container plus kruise's injection fields (the container's own fields are kept as is)."""

    preserve_unknown_fields = True

    name: str
    """Container name."""
    image: str | None = None
    """Container image."""
    pod_inject_policy: Annotated[PodInjectPolicy, DEFAULTED] = "BeforeAppContainer"
    """Inject before (default) or after the app containers."""
    upgrade_strategy: Annotated[SidecarContainerUpgradeStrategy, DEFAULTED] = Field(
        default_factory=SidecarContainerUpgradeStrategy
    )
    """How the sidecar is upgraded in running Pods."""
    share_volume_policy: Annotated[ShareVolumePolicy, DEFAULTED] = Field(default_factory=ShareVolumePolicy)
    """Whether the sidecar mounts the app containers' volumes."""
    share_volume_device_policy: ShareVolumePolicy | None = None
    """Whether the sidecar also gets the app containers' volumeDevices (no default)."""
    transfer_env: list[TransferEnvVar] | None = None
    """Env vars copied from app containers."""
    resources_policy: ResourcesPolicy | None = None
    """Compute the sidecar's resources from the Pod's containers (not together with ``resources``)."""

    cel_rules = (
        Cel(
            "!has(self.upgradeStrategy) || !has(self.upgradeStrategy.upgradeType)"
            " || self.upgradeStrategy.upgradeType != 'HotUpgrade'"
            " || (has(self.upgradeStrategy.hotUpgradeEmptyImage)"
            " && self.upgradeStrategy.hotUpgradeEmptyImage != '')",
            "upgradeStrategy.hotUpgradeEmptyImage is required when upgradeType is HotUpgrade",
        ),
    )


class SidecarInitContainer(SidecarContainer):
    """An init container injected at Pod creation; the same fields as a sidecar container."""

    pod_inject_policy: Annotated[PodInjectPolicy, DEFAULTED] = "AfterAppContainer"
    """Inject before or after (default for init containers) the app's init containers."""


class SidecarSetUpdateStrategy(KruiseModel):
    """How injected sidecars of running Pods are updated."""

    type: Annotated[Literal["NotUpdate", "RollingUpdate"], DEFAULTED] = "RollingUpdate"
    """RollingUpdate (default) or NotUpdate (inject only, never update running Pods)."""
    paused: bool = False
    """Stop updating injected Pods."""
    selector: LabelSelector | None = None
    """Update only the Pods this selector matches."""
    partition: Annotated[IntOrPercent, DEFAULTED] = 0
    """Number or percent of Pods to leave at the old version. Default 0."""
    max_unavailable: Annotated[IntOrPercent, DEFAULTED] = 1
    """The most Pods unavailable during the update (absolute or percent, rounded up). Default 1."""
    priority_strategy: UpdatePriorityStrategy | None = None
    """Rules that order the Pods to update."""
    scatter_strategy: UpdateScatterStrategy | None = None
    """Spread Pods with the given labels evenly across the update order."""

    cel_rules = (
        Cel(
            "!has(self.maxUnavailable) || (self.maxUnavailable != 0 && self.maxUnavailable != '0%')",
            "updateStrategy.maxUnavailable must not be 0",
        ),
    )


class SidecarSetInjectRevision(KruiseModel):
    """Which revision of the SidecarSet new Pods get."""

    custom_version: str | None = None
    """Inject the ControllerRevision labelled apps.kruise.io/sidecarset-custom-version=<this>."""
    revision_name: str | None = None
    """Inject this ControllerRevision."""
    policy: Annotated[Literal["Always", "Partial"], DEFAULTED] = "Always"
    """Always (default: always inject the pinned revision) or Partial."""


class SidecarSetInjectionStrategy(KruiseModel):
    """How sidecars are injected into new Pods."""

    paused: bool = False
    """Stop injecting into new Pods."""
    revision: SidecarSetInjectRevision | None = None
    """Pin the injected revision."""


class SidecarSetPatchPodMetadata(KruiseModel):
    """Annotations the SidecarSet writes onto Pods."""

    annotations: dict[str, str] | None = None
    """Annotations to patch."""
    patch_policy: Annotated[Literal["Retain", "Overwrite", "MergePatchJson"], DEFAULTED] = "Retain"
    """Retain (default: keep the Pod's value), Overwrite, or MergePatchJson (merge JSON values)."""


class SidecarSetSpec(KruiseModel):
    """The desired state of a SidecarSet."""

    selector: LabelSelector | None = None
    """Pods to inject into."""
    namespace: str | None = None
    """v1alpha1 only (kept so the conversion loses nothing): only Pods in this namespace. kruise's
    conversion to v1beta1 folds it into namespaceSelector (kubernetes.io/metadata.name)."""
    namespace_selector: LabelSelector | None = None
    """Only Pods in namespaces with these labels."""
    init_containers: list[SidecarInitContainer] | None = None
    """Init containers injected at Pod creation only."""
    containers: list[SidecarContainer] | None = None
    """Sidecar containers."""
    volumes: list[KubeObject] | None = None
    """core/v1 Volumes added to the Pods (merged by name)."""
    update_strategy: Annotated[SidecarSetUpdateStrategy, DEFAULTED] = Field(
        default_factory=SidecarSetUpdateStrategy
    )
    """How injected sidecars of running Pods are updated."""
    injection_strategy: SidecarSetInjectionStrategy = Field(default_factory=SidecarSetInjectionStrategy)
    """How sidecars are injected into new Pods."""
    image_pull_secrets: list[KubeObject] | None = None
    """core/v1 LocalObjectReferences appended to the Pods' imagePullSecrets."""
    revision_history_limit: Annotated[NonNegativeInt32, DEFAULTED] = 10
    """How many old ControllerRevisions to keep. Default 10."""
    patch_pod_metadata: list[SidecarSetPatchPodMetadata] | None = None
    """Annotations the SidecarSet writes onto Pods."""
    custom_version: str | None = None
    """v1beta1: copied to the SidecarSet's ControllerRevisions as label
    apps.kruise.io/sidecarset-custom-version (v1alpha1 keeps it in that label on the SidecarSet)."""


class SidecarSetStatus(KruiseModel):
    """The observed state of a SidecarSet."""

    observed_generation: Int64 = 0
    """The most recent generation observed by the controller."""
    matched_pods: Int32 = 0
    """Pods the selector matches."""
    updated_pods: Int32 = 0
    """Matched Pods with the latest sidecars."""
    ready_pods: Int32 = 0
    """Matched Pods that are ready."""
    updated_ready_pods: Int32 = 0
    """Matched Pods with the latest sidecars that are ready."""
    latest_revision: str | None = None
    """The latest ControllerRevision name."""
    collision_count: Int32 | None = None
    """Count of hash collisions when naming ControllerRevisions."""


class SidecarSet(KruiseResource):
    """SidecarSet injects and upgrades sidecar containers in the Pods it selects."""

    info = ResourceInfo(
        group="apps.kruise.io",
        versions=("v1beta1", "v1alpha1"),
        kind="SidecarSet",
        plural="sidecarsets",
        scope="Cluster",
        printer_columns=(
            PrinterColumn("MATCHED", "integer", ".status.matchedPods", "The number of pods matched."),
            PrinterColumn(
                "UPDATED", "integer", ".status.updatedPods", "The number of pods matched and updated."
            ),
            PrinterColumn("READY", "integer", ".status.readyPods", "The number of pods matched and ready."),
            AGE_COLUMN,
        ),
    )

    spec: SidecarSetSpec = Field(default_factory=SidecarSetSpec)
    """The desired state of the SidecarSet."""
    status: SidecarSetStatus = Field(default_factory=SidecarSetStatus)
    """The observed state of the SidecarSet."""
