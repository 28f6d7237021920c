"""The state one Advanced StatefulSet planning pass shares between ``planner`` and ``update``.

:class:`Slot` is one replica ordinal with its pod (or the pod the pass creates for it);
:class:`Pass` holds the set, the revisions decided, the plan being built, the PVCs by name, the
slots (index ``ordinal - start``, None for a reserved ordinal), the condemned pods (highest
ordinal first) and the status corrections for pods deleted in this pass. Mutable only while one
``plan`` call runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from schemas.kruise.statefulset import StatefulSet
from workers.podmechanics.kube_json import JsonObject, name_of, uid_of
from workers.podmechanics.pods import PodView
from workers.podmechanics.revisions import RevisionDecision
from workers.statefulset.builder import PlanBuilder
from workers.statefulset.observed import PlannerConfig


@dataclass
class Slot:
    """One replica ordinal: its pod, or the pod this pass creates for it (``exists`` False)."""

    ordinal: int
    pod: PodView
    exists: bool


@dataclass
class Pass:
    """The state one planning pass shares between ``planner`` and ``update``."""

    sts: StatefulSet
    raw: JsonObject
    config: PlannerConfig
    now: datetime
    revisions: RevisionDecision
    out: PlanBuilder
    claims: dict[str, JsonObject]
    slots: list[Slot | None]
    """Index ``ordinal - start``; None for a reserved ordinal."""
    condemned: list[PodView]
    observed_revisions: tuple[JsonObject, ...] = ()
    current_delta: int = 0
    updated_delta: int = 0
    refreshed: dict[str, bool] = field(default_factory=dict)
    """Pods this pass refreshed, and whether their lifecycle state moved (``refresh``)."""
    create_writes: list[int] = field(default_factory=list)
    """Plan indices of the pod (and PVC) creates whose failure kruise reports as FailedCreatePod."""
    update_writes: list[int] = field(default_factory=list)
    """Plan indices of the identity updates whose failure kruise reports as FailedUpdatePod."""
    blocked: str = ""
    """Why the rolling update stopped with an error kruise would return (the pass then requeues)."""

    @property
    def name(self) -> str:
        return name_of(self.raw)

    @property
    def uid(self) -> str:
        return uid_of(self.raw)

    @property
    def monotonic(self) -> bool:
        return self.sts.spec.pod_management_policy != "Parallel"

    @property
    def min_ready_seconds(self) -> int:
        return self.sts.spec.update_strategy.rolling_update.min_ready_seconds

    @property
    def update_name(self) -> str:
        return name_of(self.revisions.update)

    @property
    def current_name(self) -> str:
        return name_of(self.revisions.current)

    def claim_templates(self) -> tuple[JsonObject, ...]:
        return tuple(self.sts.spec.volume_claim_templates or ())
