"""AdvancedCronJob (``apps.kruise.io/v1beta1`` stored, ``v1alpha1`` served): a cron schedule for
Jobs, BroadcastJobs or (v1beta1 only) ImageListPullJobs.

Follows kruise-api v1.9.1 ``apps/v1beta1/advancedcronjob_types.go``; :class:`AdvancedCronJobV1alpha1`
is the v1alpha1 shape (no imageListPullJobTemplate; a read at v1alpha1 prunes it, where kruise's
conversion refuses). The Job template stays core JSON (batch/v1 JobTemplateSpec); the
BroadcastJob and ImageListPullJob templates use this package's models. Defaults are
``SetDefaultsAdvancedCronJob`` (``apis/apps/defaults/v1beta1.go``); concurrencyPolicy's depends on
the template kind (Replace for ImageListPullJob, else Allow), so the CRD defaults it only at
v1alpha1 and the admission webhook does it at v1beta1.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from schemas.kruise.base import (
    AGE_COLUMN,
    DEFAULTED,
    UNDEFAULTED,
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
from schemas.kruise.imagepull import ImageListPullJobSpec
from schemas.kruise.rules import advancedcronjob as rules

ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]


class BroadcastJobTemplateSpec(KruiseModel):
    """Template of the BroadcastJobs created on schedule."""

    metadata: KubeObject = Field(default_factory=dict)
    """Labels and annotations of the created BroadcastJobs."""
    spec: Annotated[BroadcastJobSpec, UNDEFAULTED]
    """The BroadcastJob spec (defaulted when the BroadcastJob is created, not here)."""


class ImageListPullJobTemplateSpec(KruiseModel):
    """Template of the ImageListPullJobs created on schedule (v1beta1)."""

    metadata: KubeObject = Field(default_factory=dict)
    """Labels and annotations of the created ImageListPullJobs."""
    spec: Annotated[ImageListPullJobSpec, UNDEFAULTED]
    """The ImageListPullJob spec (kruise defaults it only when completionPolicy.type is empty)."""


class CronJobTemplateV1alpha1(KruiseModel):
    """What runs on schedule (v1alpha1); exactly one kind is set."""

    job_template: Annotated[KubeObject, Schemaless()] | None = None
    """A batch/v1 JobTemplateSpec."""
    broadcast_job_template: BroadcastJobTemplateSpec | None = None
    """A BroadcastJob template."""

    cel_rules = (
        Cel("has(self.jobTemplate) || has(self.broadcastJobTemplate)", rules.NO_TEMPLATE),
        Cel("!has(self.jobTemplate) || !has(self.broadcastJobTemplate)", rules.MANY_TEMPLATES),
    )


_TEMPLATES = "[has(self.jobTemplate), has(self.broadcastJobTemplate), has(self.imageListPullJobTemplate)]"


class CronJobTemplate(CronJobTemplateV1alpha1):
    """What runs on schedule; exactly one kind is set."""

    image_list_pull_job_template: ImageListPullJobTemplateSpec | None = None
    """An ImageListPullJob template."""

    cel_rules = (
        Cel(f"{_TEMPLATES}.exists(x, x)", rules.NO_TEMPLATE),
        Cel(f"{_TEMPLATES}.filter(x, x).size() <= 1", rules.MANY_TEMPLATES),
    )


class AdvancedCronJobSpecV1alpha1(KruiseModel):
    """The desired state of an AdvancedCronJob (v1alpha1)."""

    schedule: Annotated[str, Cel("self != ''", rules.EMPTY_SCHEDULE)]
    """The schedule in cron format (e.g. '*/5 * * * *')."""
    time_zone: (
        Annotated[
            str,
            Cel("self != ''", rules.EMPTY_TIME_ZONE),
            Cel("self.lowerAscii() != 'local'", rules.LOCAL_TIME_ZONE),
        ]
        | None
    ) = None
    """IANA time zone of the schedule (default: the controller's)."""
    starting_deadline_seconds: Int64 | None = None
    """Runs missed by more than this many seconds are skipped (counted failed)."""
    concurrency_policy: Annotated[ConcurrencyPolicy, DEFAULTED] = "Allow"
    """Allow (default) concurrent runs, Forbid them (skip), or Replace the running one."""
    paused: Annotated[bool, DEFAULTED] = False
    """Suspend future runs."""
    successful_jobs_history_limit: Annotated[Int32, DEFAULTED] = 3
    """Finished successful jobs to keep. Default 3."""
    failed_jobs_history_limit: Annotated[Int32, DEFAULTED] = 1
    """Failed jobs to keep. Default 1."""
    template: CronJobTemplateV1alpha1
    """What runs on schedule."""

    cel_rules: ClassVar[tuple[Cel, ...]] = (
        Cel(
            "!has(self.timeZone) || !self.schedule.contains('TZ')",
            rules.TZ_AND_TIME_ZONE,
            field_path=".schedule",
        ),
    )


class AdvancedCronJobSpec(AdvancedCronJobSpecV1alpha1):
    """The desired state of an AdvancedCronJob."""

    concurrency_policy: ConcurrencyPolicy | None = None  # type: ignore[assignment]
    """Allow concurrent runs, Forbid them (skip), or Replace the running one. Default Allow
    (Replace with imageListPullJobTemplate), set at admission."""
    template: CronJobTemplate
    """What runs on schedule."""

    cel_rules = (
        *AdvancedCronJobSpecV1alpha1.cel_rules,
        Cel(
            "!has(self.template.imageListPullJobTemplate) || !has(self.concurrencyPolicy)"
            " || self.concurrencyPolicy in ['Replace', 'Forbid']",
            rules.IMAGE_LIST_PULL_CONCURRENCY.format(policy="<policy>"),
            field_path=".concurrencyPolicy",
            message_expression=(
                f"'{rules.IMAGE_LIST_PULL_CONCURRENCY.format(policy='')}' + self.concurrencyPolicy"
            ),
        ),
    )


class AdvancedCronJobStatus(KruiseModel):
    """The observed state of an AdvancedCronJob."""

    type: Literal["Job", "BroadcastJob", "ImageListPullJob"] | None = None
    """The kind of job the template creates."""
    active: list[KubeObject] | None = None
    """core/v1 ObjectReferences to the running jobs."""
    last_schedule_time: Time | None = None
    """The last time a job was scheduled."""


_COLUMNS = (
    PrinterColumn("Schedule", "string", ".spec.schedule", "The schedule of advanced cron job."),
    PrinterColumn("Type", "string", ".status.type", "Type of cron job."),
    PrinterColumn(
        "LastScheduleTime",
        "date",
        ".status.lastScheduleTime",
        "The last time at which job was scheduled.",
    ),
    AGE_COLUMN,
)


class AdvancedCronJobV1alpha1(KruiseResource):
    """AdvancedCronJob as served at v1alpha1: Jobs or BroadcastJobs on a cron schedule."""

    info = ResourceInfo(
        group="apps.kruise.io",
        versions=("v1alpha1",),
        kind="AdvancedCronJob",
        plural="advancedcronjobs",
        short_names=("acj",),
        printer_columns=_COLUMNS,
    )

    spec: AdvancedCronJobSpecV1alpha1
    """The desired state of the AdvancedCronJob."""
    status: AdvancedCronJobStatus = Field(default_factory=AdvancedCronJobStatus)
    """The observed state of the AdvancedCronJob."""


class AdvancedCronJob(KruiseResource):
    """AdvancedCronJob creates Jobs, BroadcastJobs or ImageListPullJobs on a cron schedule."""

    info = ResourceInfo(
        group="apps.kruise.io",
        versions=("v1beta1", "v1alpha1"),
        kind="AdvancedCronJob",
        plural="advancedcronjobs",
        short_names=("acj",),
        printer_columns=_COLUMNS,
        version_models={"v1alpha1": AdvancedCronJobV1alpha1},
    )

    spec: AdvancedCronJobSpec
    """The desired state of the AdvancedCronJob."""
    status: AdvancedCronJobStatus = Field(default_factory=AdvancedCronJobStatus)
    """The observed state of the AdvancedCronJob."""
