"""What the AdvancedCronJob planner reads: the cron job (raw and parsed) and its children.

Built by ``observe`` in :mod:`workers.advancedcronjob.worker`; read by the planner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.kruise.advancedcronjob import AdvancedCronJob
from workers.podmechanics.kube_json import RawObjectView

JsonObject = dict[str, Any]


def template_kind(cron: AdvancedCronJob) -> str:
    """``FindTemplateKind``: Job, ImageListPullJob, else BroadcastJob."""
    if cron.spec.template.job_template is not None:
        return "Job"
    if cron.spec.template.image_list_pull_job_template is not None:
        return "ImageListPullJob"
    return "BroadcastJob"


@dataclass(frozen=True)
class ObservedCronJob(RawObjectView):
    raw: JsonObject
    cron: AdvancedCronJob
    children: tuple[JsonObject, ...]
    """Jobs or BroadcastJobs of the namespace whose controller is this AdvancedCronJob (by name,
    as kruise's ``.metadata.controller`` index), in the API server's order."""

    @property
    def kind(self) -> str:
        return template_kind(self.cron)

    @property
    def template(self) -> JsonObject:
        """The raw template of the child kind (``metadata`` + ``spec``), as the user wrote it."""
        template = (self.raw.get("spec") or {}).get("template") or {}
        key = "jobTemplate" if self.kind == "Job" else "broadcastJobTemplate"
        found = template.get(key)
        return found if isinstance(found, dict) else {}
