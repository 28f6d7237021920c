"""ImagePullJob, ImageListPullJob and NodeImage (``apps.kruise.io/v1beta1`` stored, ``v1alpha1``
served): pre-pull images onto nodes. ImageListPullJob's spec is also the template of AdvancedCronJob
v1beta1; an ImageListPullJob makes one ImagePullJob per image.

Follows kruise-api v1.9.1 ``apps/v1beta1/imagepulljob_types.go``, ``imagelistpulljob_types.go`` and
``nodeimage_types.go``; v1alpha1 has the same shape (NodeImage lacks ``pullSecrets[].mode``, kept
in both so the ``None`` conversion loses nothing; ImagePullJob v1alpha1 prints a MESSAGE column).
Defaults: ``apis/apps/defaults/v1beta1.go`` (ImagePullJob's deletion-protection finalizer and
NodeImage's ``createdAt`` wait for the admission webhook). An ImagePullJob says which
image to pull on which nodes; the controller writes the wanted tags into each node's NodeImage
(cluster-scoped, named after the node) and the node agent reports pulls in its status.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

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
    PrinterColumn,
    ResourceInfo,
    Time,
)
from schemas.kruise.broadcastjob import CompletionPolicy
from schemas.kruise.pub import LabelSelector

ImagePullPolicy = Literal["Always", "IfNotPresent"]

#: ImagePullJob parallelism: since kruise 1.9 a non-negative integer (or an integer string), no
#: percent; the messages are kruise's (pkg/webhook/imagepulljob/validating).
ImagePullJobParallelism = Annotated[
    int | str,
    Format("int-or-string"),
    Bounds(max_length=16),
    Cel("type(self) == int || !self.endsWith('%')", "parallelism does not support percentage value"),
    Cel(
        "type(self) == int || self.endsWith('%') || self.matches('^[-+]?[0-9]+$')",
        "parallelism must be a valid integer",
    ),
    Cel("type(self) == int ? self >= 0 : !self.startsWith('-')", "parallelism must be non-negative"),
]


class SandboxConfig(KruiseModel):
    """Labels and annotations passed to the CRI PullImage call."""

    labels: dict[str, str] | None = None
    """Sandbox labels."""
    annotations: dict[str, str] | None = None
    """Sandbox annotations."""


class ImagePullJobNodeSelector(LabelSelector):
    """Nodes to pull on: by name and/or by labels."""

    names: list[str] | None = None
    """Node names."""


class PullPolicy(KruiseModel):
    """Timeout and retries of each pull."""

    timeout_seconds: Annotated[Int32, DEFAULTED] = 600
    """Seconds one pull may take. Default 600."""
    backoff_limit: Annotated[Int32, DEFAULTED] = 3
    """Retries before a node's pull is failed. Default 3."""


class ImagePullJobTemplate(KruiseModel):
    """What an ImagePullJob and an ImageListPullJob share: where, how and how many at once."""

    pull_secrets: Annotated[list[Annotated[str, Bounds(max_length=253)]], Bounds(max_items=64)] | None = None
    """Secret names (same namespace) for the registry."""
    selector: ImagePullJobNodeSelector | None = None
    """Nodes to pull on (default: all nodes)."""
    pod_selector: LabelSelector | None = None
    """Pull on the nodes running these Pods (exclusive with selector)."""
    parallelism: IntOrPercent = 1
    """Nodes pulling at once (unset: 1, kruise stores no default); 0 pauses the job."""
    pull_policy: Annotated[PullPolicy, DEFAULTED] = Field(default_factory=PullPolicy)
    """Timeout and retries of each pull."""
    completion_policy: Annotated[CompletionPolicy, DEFAULTED] = Field(default_factory=CompletionPolicy)
    """When the job counts as finished."""
    sandbox_config: SandboxConfig | None = None
    """Labels and annotations passed to the CRI PullImage call."""
    image_pull_policy: Annotated[ImagePullPolicy, DEFAULTED] = "IfNotPresent"
    """Always or IfNotPresent (default)."""

    cel_rules: ClassVar[tuple[Cel, ...]] = (
        Cel(
            "!has(self.selector) || !has(self.podSelector)", "selector and podSelector are mutually exclusive"
        ),
    )


class ImagePullJobSpec(ImagePullJobTemplate):
    """The desired state of an ImagePullJob."""

    image: Annotated[str, Cel("self != ''", "image must not be empty")]
    """The image to pull (with tag or digest)."""
    parallelism: ImagePullJobParallelism = 1
    """Nodes pulling at once (unset: 1, kruise stores no default); 0 pauses the job. An integer."""

    cel_rules = (
        *ImagePullJobTemplate.cel_rules,
        Cel(
            "has(self.pullSecrets) == has(oldSelf.pullSecrets)"
            " && (!has(self.pullSecrets) || self.pullSecrets == oldSelf.pullSecrets)",
            "spec.pullSecrets is immutable",
        ),
    )


class ImageListPullJobSpec(ImagePullJobTemplate):
    """The desired state of an ImageListPullJob: one ImagePullJob per image."""

    images: Annotated[list[str], Bounds(max_items=255)]
    """The images to pull (at most 255, distinct)."""


class ImagePullJobStatus(KruiseModel):
    """The observed state of an ImagePullJob."""

    start_time: Time | None = None
    """When the job started."""
    completion_time: Time | None = None
    """When the job finished."""
    desired: Int32 = 0
    """Nodes to pull on."""
    active: Int32 = 0
    """Pulls running."""
    succeeded: Int32 = 0
    """Pulls that succeeded."""
    failed: Int32 = 0
    """Pulls that failed."""
    message: str | None = None
    """Summary, e.g. why the job failed."""
    failed_nodes: list[str] | None = None
    """Nodes whose pull failed."""


_IMAGE_PULL_JOB_COLUMNS = (
    PrinterColumn("TOTAL", "integer", ".status.desired", "Number of all nodes matched by this job"),
    PrinterColumn("ACTIVE", "integer", ".status.active", "Number of image pull task active"),
    PrinterColumn("SUCCEED", "integer", ".status.succeeded", "Number of image pull task succeeded"),
    PrinterColumn("FAILED", "integer", ".status.failed", "Number of image pull tasks failed"),
    AGE_COLUMN,
)


class ImagePullJobV1alpha1(KruiseResource):
    """ImagePullJob as served at v1alpha1: the same fields, plus a MESSAGE column."""

    info = ResourceInfo(
        group="apps.kruise.io",
        versions=("v1alpha1",),
        kind="ImagePullJob",
        plural="imagepulljobs",
        printer_columns=(
            *_IMAGE_PULL_JOB_COLUMNS,
            PrinterColumn("MESSAGE", "string", ".status.message", "Summary of status when job is failed"),
        ),
    )

    spec: ImagePullJobSpec
    """The desired state of the ImagePullJob."""
    status: ImagePullJobStatus = Field(default_factory=ImagePullJobStatus)
    """The observed state of the ImagePullJob."""


class ImagePullJob(KruiseResource):
    """ImagePullJob pulls an image onto a set of nodes ahead of time."""

    info = ResourceInfo(
        group="apps.kruise.io",
        versions=("v1beta1", "v1alpha1"),
        kind="ImagePullJob",
        plural="imagepulljobs",
        printer_columns=_IMAGE_PULL_JOB_COLUMNS,
        version_models={"v1alpha1": ImagePullJobV1alpha1},
    )

    spec: ImagePullJobSpec
    """The desired state of the ImagePullJob."""
    status: ImagePullJobStatus = Field(default_factory=ImagePullJobStatus)
    """The observed state of the ImagePullJob."""


class FailedImageStatus(KruiseModel):
    """An image of an ImageListPullJob whose ImagePullJob has failed nodes (``status.failed > 0``)."""

    image_pull_job: str | None = None
    """The name of that ImagePullJob."""
    name: str | None = None
    """The image."""
    message: str | None = None
    """Where to look for the failed nodes."""


class ImageListPullJobStatus(KruiseModel):
    """The observed state of an ImageListPullJob (counts of its ImagePullJobs)."""

    start_time: Time | None = None
    """When the job was first seen by its controller."""
    completion_time: Time | None = None
    """When every ImagePullJob had finished (``completionPolicy: Always``)."""
    desired: Int32 = 0
    """ImagePullJobs wanted: ``len(spec.images)``."""
    active: Int32 = 0
    """ImagePullJobs with pulls running."""
    completed: Int32 = 0
    """ImagePullJobs finished (every node succeeded or failed)."""
    succeeded: Int32 = 0
    """ImagePullJobs finished with every node succeeded."""
    failed_image_statuses: list[FailedImageStatus] | None = None
    """The ImagePullJobs with failed nodes."""


class ImageListPullJob(KruiseResource):
    """ImageListPullJob pulls a list of images ahead of time: one ImagePullJob per image."""

    info = ResourceInfo(
        group="apps.kruise.io",
        versions=("v1beta1", "v1alpha1"),
        kind="ImageListPullJob",
        plural="imagelistpulljobs",
        printer_columns=(
            PrinterColumn("TOTAL", "integer", ".status.desired", "Number of image pull job"),
            PrinterColumn("SUCCEEDED", "integer", ".status.succeeded", "Number of image pull job succeeded"),
            PrinterColumn(
                "COMPLETED", "integer", ".status.completed", "Number of ImagePullJobs which are finished"
            ),
            AGE_COLUMN,
        ),
    )

    spec: ImageListPullJobSpec
    """The desired state of the ImageListPullJob."""
    status: ImageListPullJobStatus = Field(default_factory=ImageListPullJobStatus)
    """The observed state of the ImageListPullJob."""


class ReferenceObject(KruiseModel):
    """A namespaced object reference (a pull secret)."""

    namespace: str | None = None
    """Namespace."""
    name: str | None = None
    """Name."""
    mode: str | None = None
    """v1beta1: ``batch`` means the secret was synced for this image only and is cleaned up with it."""


class ImageTagPullPolicy(KruiseModel):
    """Pull policy of one tag."""

    timeout_seconds: Annotated[Int32, DEFAULTED] = 600
    """Seconds one pull may take. Default 600."""
    backoff_limit: Annotated[Int32, DEFAULTED] = 3
    """Retries before the pull is failed. Default 3."""
    ttl_seconds_after_finished: Int32 | None = None
    """Seconds after the pull finished when the tag is removed from the spec."""
    active_deadline_seconds: Int64 | None = None
    """Deadline of the pull."""


class ImageTagSpec(KruiseModel):
    """One tag of an image wanted on the node."""

    tag: str
    """The tag."""
    created_at: Time | None = None
    """When the tag was added."""
    pull_policy: Annotated[ImageTagPullPolicy, DEFAULTED] = Field(default_factory=ImageTagPullPolicy)
    """Pull policy of this tag (default 600 s / 3 retries)."""
    owner_references: list[KubeObject] | None = None
    """core/v1 ObjectReferences to the ImagePullJobs wanting this tag."""
    version: Int64 = 0
    """Bumped to ask for a new pull."""
    image_pull_policy: ImagePullPolicy | None = None
    """Always or IfNotPresent."""


class ImageSpec(KruiseModel):
    """An image wanted on the node."""

    pull_secrets: list[ReferenceObject] | None = None
    """Secrets for the registry."""
    tags: list[ImageTagSpec]
    """Tags wanted."""
    sandbox_config: SandboxConfig | None = None
    """Labels and annotations passed to the CRI PullImage call."""


class NodeImageSpec(KruiseModel):
    """The images wanted on a node."""

    images: Annotated[dict[str, ImageSpec], Bounds(max_properties=256)] | None = None
    """Wanted images by name (without tag); at most 256."""


class ImageTagStatus(KruiseModel):
    """Pull state of one tag."""

    tag: str
    """The tag."""
    phase: Literal["Waiting", "Pulling", "Succeeded", "Failed"]
    """Waiting, Pulling, Succeeded or Failed."""
    progress: Int32 = 0
    """Pull progress 0-100."""
    start_time: Time | None = None
    """When the pull started."""
    completion_time: Time | None = None
    """When the pull finished."""
    version: Int64 = 0
    """The spec version this status is for."""
    image_id: str | None = Field(default=None, alias="imageID")
    """The pulled image's ID."""
    message: str | None = None
    """Details."""


class ImageStatus(KruiseModel):
    """Pull state of an image."""

    tags: list[ImageTagStatus]
    """Per tag."""


class SyncStatus(KruiseModel):
    """Result of the node agent's first sync."""

    sync_at: Time | None = None
    """When it ran."""
    status: Literal["Succeeded", "Failed"] | None = None
    """Succeeded or Failed."""
    message: str | None = None
    """Details."""


class NodeImageStatus(KruiseModel):
    """The observed state of a NodeImage."""

    desired: Int32 = 0
    """Tags wanted."""
    succeeded: Int32 = 0
    """Tags pulled."""
    failed: Int32 = 0
    """Tags that failed."""
    pulling: Int32 = 0
    """Tags being pulled."""
    waiting: Int32 = 0
    """Tags waiting to be pulled."""
    image_statuses: dict[str, ImageStatus] | None = None
    """Pull state by image name."""
    first_sync_status: SyncStatus | None = None
    """Result of the node agent's first sync."""


class NodeImage(KruiseResource):
    """NodeImage lists the images wanted on one node (same name as the node) and their pull state."""

    info = ResourceInfo(
        group="apps.kruise.io",
        versions=("v1beta1", "v1alpha1"),
        kind="NodeImage",
        plural="nodeimages",
        scope="Cluster",
        printer_columns=(
            PrinterColumn("DESIRED", "integer", ".status.desired", "Number of all images on this node"),
            PrinterColumn("PULLING", "integer", ".status.pulling", "Number of image pull task active"),
            PrinterColumn("SUCCEED", "integer", ".status.succeeded", "Number of image pull task succeeded"),
            PrinterColumn("FAILED", "integer", ".status.failed", "Number of image pull tasks failed"),
            AGE_COLUMN,
        ),
    )

    spec: NodeImageSpec = Field(default_factory=NodeImageSpec)
    """The images wanted on the node."""
    status: NodeImageStatus = Field(default_factory=NodeImageStatus)
    """The observed state of the NodeImage."""
