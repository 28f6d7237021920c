"""The shared view one reconcile pass works from, handed to the scale and update planners.

:class:`RolloutContext` bundles the CloneSet, its active pods and PVCs, the current and
update revisions with their templates, the resolved limits, the configuration, the time and
the name source, plus the predicates both planners ask (``is_ready``, ``is_available``).
Built by ``planner``; read by ``scale``, ``update`` and ``status``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from schemas.kruise.cloneset import SCALING_EXCLUDE_PREPARING_DELETE_LABEL, CloneSet
from workers.cloneset.clonepods import is_cloneset_available
from workers.cloneset.config import PlannerConfig
from workers.cloneset.diff import RolloutDiff, calculate_diff
from workers.cloneset.limits import RolloutLimits
from workers.cloneset.newpod import SeededNames
from workers.cloneset.spread import spread_constraints
from workers.podmechanics.kube_json import JsonObject, format_time, labels_of
from workers.podmechanics.pods import PodView, is_at_revision


@dataclass(frozen=True)
class RolloutContext:
    cloneset: CloneSet
    pods: tuple[PodView, ...]
    """The CloneSet's active pods (owned, not terminated, not being deleted)."""
    claims: tuple[JsonObject, ...]
    """The CloneSet's PVCs (not being deleted)."""
    current_revision: str
    update_revision: str
    templates: Mapping[str, JsonObject]
    """Pod template of every known revision, by revision name."""
    limits: RolloutLimits
    config: PlannerConfig
    now: datetime
    names: SeededNames
    inactive: tuple[PodView, ...] = ()
    """Owned pods that still exist but do not count (finished, or being deleted)."""
    node_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Labels of the pods' nodes, by node name (only read when ``spread_keys`` is not empty)."""
    claims_hashes: Mapping[str, str | None] = field(default_factory=dict)
    """Each known revision's volumeClaimTemplates hash annotation (None: the revision has none)."""

    @cached_property
    def spread_keys(self) -> tuple[str, ...]:
        """The template's topology-spread keys: scale-in ranks victims by them when set."""
        return spread_constraints(self.cloneset.spec.template)

    @cached_property
    def timestamp(self) -> str:
        return format_time(self.now)

    @cached_property
    def pods_to_delete(self) -> frozenset[str]:
        return frozenset(self.cloneset.spec.scale_strategy.pods_to_delete or ())

    @property
    def min_ready_seconds(self) -> int:
        return self.cloneset.spec.min_ready_seconds

    def is_available(self, pod: PodView) -> bool:
        return is_cloneset_available(pod, self.min_ready_seconds, self.now)

    def is_ready(self, pod: PodView) -> bool:
        return is_cloneset_available(pod, 0, self.now)

    def is_updated(self, pod: PodView) -> bool:
        """At the update revision (strict, as the update planner counts)."""
        return is_at_revision(pod, self.update_revision)

    def is_updated_for_scale(self, pod: PodView) -> bool:
        """As the scale planner counts: PreparingUpdate pods too, with ``PreparingUpdateAsUpdate``."""
        if self.config.preparing_update_as_update and pod.lifecycle_state == "PreparingUpdate":
            return True
        return self.is_updated(pod)

    @property
    def exclude_preparing_delete(self) -> bool:
        label = labels_of({"metadata": self.cloneset.metadata}).get(SCALING_EXCLUDE_PREPARING_DELETE_LABEL)
        return self.config.scaling_exclude_preparing_delete or label == "true"

    @property
    def revisions_differ(self) -> bool:
        return self.current_revision != self.update_revision

    def diff(self, is_updated: Callable[[PodView], bool]) -> RolloutDiff:
        """``calculateDiffsWithExpectation`` over the active pods, counting updated by ``is_updated``
        (the scale planner passes ``is_updated_for_scale``, the update planner ``is_updated``)."""
        return calculate_diff(
            self.limits,
            self.pods,
            is_updated=is_updated,
            revisions_differ=self.revisions_differ,
            pods_to_delete=self.pods_to_delete,
            min_ready_seconds=self.min_ready_seconds,
            now=self.now,
            partition_rollback=self.config.partition_rollback,
            exclude_preparing_delete=self.exclude_preparing_delete,
        )
