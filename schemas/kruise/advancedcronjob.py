"""AdvancedCronJob (``apps.kruise.io/v1alpha1``): a cron schedule for Jobs or BroadcastJobs.

Follows kruise-api ``apps/v1alpha1/advancedcronjob_types.go``. The Job template stays core
JSON (batch/v1 JobTemplateSpec); the BroadcastJob template uses this package's model.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from schemas.kruise.base import (
    AGE_COLUMN,
    Cel,
    Int32,
    Int64,
    KruiseModel,
    KruiseResource,
    KubeObject,
    PrinterColumn,
    ResourceInfo,
    Schemaless,
    Time,
)
from schemas.kruise.broadcastjob import BroadcastJobSpec


class BroadcastJobTemplateSpec(KruiseModel):
    """Template of the BroadcastJobs created on schedule."""

    metadata: KubeObject = Field(default_factory=dict)
    """Labels and annotations of the created BroadcastJobs."""
    spec: BroadcastJobSpec
    """The BroadcastJob spec."""


class CronJobTemplate(KruiseModel):
    """What runs on schedule; exactly one kind is set."""

    job_template: Annotated[KubeObject, Schemaless()] | None = None
    """A batch/v1 JobTemplateSpec."""
    broadcast_job_template: BroadcastJobTemplateSpec | None = None
    """A BroadcastJob template."""

    cel_rules = (
        Cel(
            "has(self.jobTemplate) != has(self.broadcastJobTemplate)",
            "template must set exactly one of jobTemplate and broadcastJobTemplate",
        ),
    )


class AdvancedCronJobSpec(KruiseModel):
    """The desired state of an AdvancedCronJob."""

    schedule: Annotated[str, Cel("self.trim() != ''", "schedule must be a cron expression, not empty")]
    """The schedule in cron format (e.g. '*/5 * * * *')."""
    time_zone: str | None = None
    """IANA time zone of the schedule (default: the controller's)."""
    starting_deadline_seconds: Int64 | None = None
    """Runs missed by more than this many seconds are skipped (counted failed)."""
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = "Allow"
    """Allow (default) concurrent runs, Forbid them (skip), or Replace the running one."""
    paused: bool = False
    """Suspend future runs."""
    successful_jobs_history_limit: Int32 = 3
    """Finished successful jobs to keep. Default 3."""
    failed_jobs_history_limit: Int32 = 1
    """Failed jobs to keep. Default 1."""
    template: CronJobTemplate
    """What runs on schedule."""


class AdvancedCronJobStatus(KruiseModel):
    """The observed state of an AdvancedCronJob."""

    type: Literal["Job", "BroadcastJob"] | None = None
    """The kind of job the template creates."""
    active: list[KubeObject] | None = None
    """core/v1 ObjectReferences to the running jobs."""
    last_schedule_time: Time | None = None
    """The last time a job was scheduled."""


class AdvancedCronJob(KruiseResource):
    """AdvancedCronJob creates Jobs or BroadcastJobs on a cron schedule."""

    info = ResourceInfo(
        group="apps.kruise.io",
        versions=("v1alpha1",),
        kind="AdvancedCronJob",
        plural="advancedcronjobs",
        short_names=("acj",),
        printer_columns=(
            PrinterColumn("Schedule", "string", ".spec.schedule", "The schedule of advanced cron job."),
            PrinterColumn("Type", "string", ".status.type", "Type of cron job."),
            PrinterColumn(
                "LastScheduleTime",
                "date",
                ".status.lastScheduleTime",
                "The last time at which job was scheduled.",
            ),
            AGE_COLUMN,
        ),
    )

    spec: AdvancedCronJobSpec
    """The desired state of the AdvancedCronJob."""
    status: AdvancedCronJobStatus = Field(default_factory=AdvancedCronJobStatus)
    """The observed state of the AdvancedCronJob."""
