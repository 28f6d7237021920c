"""SidecarSet (``apps.kruise.io/v1alpha1``, cluster-scoped): sidecars injected into matching Pods.

Follows kruise-api ``apps/v1alpha1/sidecarset_types.go``. A sidecar container is a full
core/v1 Container (kept as JSON, only ``name`` / ``image`` typed) plus kruise's injection and
upgrade fields. Read by the admission webhook (injection) and the SidecarSet worker (updates).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.kruise.base import (
    AGE_COLUMN,
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


class SidecarContainerUpgradeStrategy(KruiseModel):
    """How an injected sidecar is upgraded in running Pods."""

    upgrade_type: Literal["ColdUpgrade", "HotUpgrade"] = "ColdUpgrade"
    """ColdUpgrade (default: restart the container with the new image) or HotUpgrade (two containers
    take turns so the sidecar keeps serving)."""
    hot_upgrade_empty_image: str | None = None
    """Image that does nothing, run by the idle half of a HotUpgrade pair; required for HotUpgrade."""


class ShareVolumePolicy(KruiseModel):
    """Whether the sidecar also mounts the app containers' volumes."""

    type: Literal["enabled", "disabled"] | None = None
    """enabled: the sidecar gets every volumeMount of the app containers."""


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
    pod_inject_policy: Literal["BeforeAppContainer", "AfterAppContainer"] = "BeforeAppContainer"
    """Inject before (default) or after the app containers."""
    upgrade_strategy: SidecarContainerUpgradeStrategy = Field(default_factory=SidecarContainerUpgradeStrategy)
    """How the sidecar is upgraded in running Pods."""
    share_volume_policy: ShareVolumePolicy = Field(default_factory=ShareVolumePolicy)
    """Whether the sidecar mounts the app containers' volumes."""
    transfer_env: list[TransferEnvVar] | None = None
    """Env vars copied from app containers."""

    cel_rules = (
        Cel(
            "!has(self.upgradeStrategy) || !has(self.upgradeStrategy.upgradeType)"
            " || self.upgradeStrategy.upgradeType != 'HotUpgrade'"
            " || (has(self.upgradeStrategy.hotUpgradeEmptyImage)"
            " && self.upgradeStrategy.hotUpgradeEmptyImage != '')",
            "upgradeStrategy.hotUpgradeEmptyImage is required when upgradeType is HotUpgrade",
        ),
    )


class SidecarSetUpdateStrategy(KruiseModel):
    """How injected sidecars of running Pods are updated."""

    type: Literal["NotUpdate", "RollingUpdate"] = "RollingUpdate"
    """RollingUpdate (default) or NotUpdate (inject only, never update running Pods)."""
    paused: bool = False
    """Stop updating injected Pods."""
    selector: LabelSelector | None = None
    """Update only the Pods this selector matches."""
    partition: IntOrPercent = 0
    """Number or percent of Pods to leave at the old version. Default 0."""
    max_unavailable: IntOrPercent = 1
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
    policy: Literal["Always", "Partial"] = "Always"
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
    patch_policy: Literal["Retain", "Overwrite", "MergePatchJson"] = "Retain"
    """Retain (default: keep the Pod's value), Overwrite, or MergePatchJson (merge JSON values)."""


class SidecarSetSpec(KruiseModel):
    """The desired state of a SidecarSet."""

    selector: LabelSelector | None = None
    """Pods to inject into."""
    namespace: str | None = None
    """Only Pods in this namespace (default: all namespaces)."""
    namespace_selector: LabelSelector | None = None
    """Only Pods in namespaces with these labels."""
    init_containers: list[SidecarContainer] | None = None
    """Init containers injected at Pod creation only."""
    containers: list[SidecarContainer] | None = None
    """Sidecar containers."""
    volumes: list[KubeObject] | None = None
    """core/v1 Volumes added to the Pods (merged by name)."""
    update_strategy: SidecarSetUpdateStrategy = Field(default_factory=SidecarSetUpdateStrategy)
    """How injected sidecars of running Pods are updated."""
    injection_strategy: SidecarSetInjectionStrategy = Field(default_factory=SidecarSetInjectionStrategy)
    """How sidecars are injected into new Pods."""
    image_pull_secrets: list[KubeObject] | None = None
    """core/v1 LocalObjectReferences appended to the Pods' imagePullSecrets."""
    revision_history_limit: NonNegativeInt32 = 10
    """How many old ControllerRevisions to keep. Default 10."""
    patch_pod_metadata: list[SidecarSetPatchPodMetadata] | None = None
    """Annotations the SidecarSet writes onto Pods."""

    cel_rules = (
        Cel(
            "!has(self.namespace) || !has(self.namespaceSelector)",
            "namespace and namespaceSelector are mutually exclusive",
        ),
    )


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
        versions=("v1alpha1",),
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
