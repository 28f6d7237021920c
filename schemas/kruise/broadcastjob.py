"""BroadcastJob (``apps.kruise.io/v1beta1`` stored, ``v1alpha1`` served, one schema): run one Pod
to completion on every eligible node.

Follows kruise-api ``apps/v1beta1/broadcastjob_types.go`` (v1.9.1; v1alpha1 is the same shape, the
CRD converts with ``None`` as kruise's does). Defaults: ``apis/apps/defaults/v1beta1.go``.
``CompletionPolicy`` is shared with ImagePullJob. Read by the BroadcastJob worker and by
AdvancedCronJob (broadcastJobTemplate).
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
    IntOrString,
    KruiseModel,
    KruiseResource,
    PrinterColumn,
    ResourceInfo,
    Time,
)
from schemas.kruise.pub import Condition, PodTemplate
from schemas.kruise.rules import broadcastjob as bcj_rules

#: What the defaulting webhook puts in an unset parallelism (no limit).
UNLIMITED_PARALLELISM = 2**31 - 1


class CompletionPolicy(KruiseModel):
    """When the job counts as finished."""

    type: Annotated[Literal["Always", "Never"], DEFAULTED] = "Always"
    """Always (default: finish when every desired node's Pod finished, the deadline passed or the
    restart limit was hit) or Never (keep running; new nodes get Pods)."""
    active_deadline_seconds: Int64 | None = None
    """Seconds after start when the job is failed if still running (only with Always)."""
    ttl_seconds_after_finished: Int32 | None = None
    """Seconds after finishing when the job is deleted (only with Always)."""

    #: kruise's messages (``schemas.kruise.rules.broadcastjob``): the CRD refuses as its webhook would.
    cel_rules = (
        Cel(
            "!has(self.type) || self.type != 'Never' || !has(self.ttlSecondsAfterFinished)",
            bcj_rules.TTL_NEEDS_ALWAYS,
            field_path=".ttlSecondsAfterFinished",
        ),
        Cel(
            "!has(self.type) || self.type != 'Never' || !has(self.activeDeadlineSeconds)",
            bcj_rules.DEADLINE_NEEDS_ALWAYS,
            field_path=".activeDeadlineSeconds",
        ),
    )


class FailurePolicy(KruiseModel):
    """What happens when a Pod fails."""

    type: Annotated[Literal["FailFast", "Continue", "Pause"], DEFAULTED] = "FailFast"
    """FailFast (default: the job fails on the first failed Pod), Continue, or Pause."""
    restart_limit: Int32 = 0
    """Retries before a Pod is marked failed."""


class BroadcastJobSpec(KruiseModel):
    """The desired state of a BroadcastJob."""

    parallelism: Annotated[IntOrString, DEFAULTED] = UNLIMITED_PARALLELISM
    """The most Pods running at once (number or percent of desired nodes). Default: unlimited."""
    template: PodTemplate
    """The Pod template (a core/v1 PodTemplateSpec) run on each node."""
    completion_policy: Annotated[CompletionPolicy, DEFAULTED] = Field(default_factory=CompletionPolicy)
    """When the job counts as finished."""
    paused: bool = False
    """Stop creating Pods."""
    failure_policy: Annotated[FailurePolicy, DEFAULTED] = Field(default_factory=FailurePolicy)
    """What happens when a Pod fails."""


class JobCondition(Condition):
    """A job condition (Complete, Failed)."""

    last_probe_time: Time | None = None
    """Last time the condition was checked."""


class BroadcastJobStatus(KruiseModel):
    """The observed state of a BroadcastJob."""

    conditions: list[JobCondition] | None = None
    """Conditions (Complete, Failed)."""
    start_time: Time | None = None
    """When the job started."""
    completion_time: Time | None = None
    """When the job finished."""
    active: Int32 = 0
    """Running Pods."""
    succeeded: Int32 = 0
    """Pods that succeeded."""
    failed: Int32 = 0
    """Pods that failed."""
    desired: Int32 = 0
    """Pods wanted (usually the number of eligible nodes)."""
    phase: Literal["completed", "running", "paused", "failed", ""] | None = None
    """completed, running, paused or failed."""


class BroadcastJob(KruiseResource):
    """BroadcastJob runs a Pod to completion on each eligible node."""

    info = ResourceInfo(
        group="apps.kruise.io",
        versions=("v1beta1", "v1alpha1"),
        kind="BroadcastJob",
        plural="broadcastjobs",
        short_names=("bcj",),
        printer_columns=(
            PrinterColumn(
                "Desired",
                "integer",
                ".status.desired",
                "The desired number of pods. This is typically equal to the number of nodes"
                " satisfied to run pods.",
            ),
            PrinterColumn("Active", "integer", ".status.active", "The number of actively running pods."),
            PrinterColumn(
                "Succeeded",
                "integer",
                ".status.succeeded",
                "The number of pods which reached phase Succeeded.",
            ),
            PrinterColumn(
                "Failed", "integer", ".status.failed", "The number of pods which reached phase Failed."
            ),
            AGE_COLUMN,
        ),
    )

    spec: BroadcastJobSpec
    """The desired state of the BroadcastJob."""
    status: BroadcastJobStatus = Field(default_factory=BroadcastJobStatus)
    """The observed state of the BroadcastJob."""
