"""``reserveUnschedulablePods``: kruise's reservation flavour of ``scheduleStrategy: Adaptive``.

kruise's ``calculateSubsetsStatusForReservedAdaptiveStrategy`` and
``CheckPodReallyInReservedStatus``, per existing subset workload with a status entry:

- the subset is *marked* unschedulable when its ``Schedulable`` condition was False as the pass
  began; then every pod without the ``apps.kruise.io/united-deployment-reserved-pod`` label is
  reserved at once (label ``"true"``);
- otherwise a pod is reserved (``"true"``) once it stayed Pending and unschedulable longer than
  ``rescheduleCriticalSeconds`` after its creation, or, when it carries an older revision than the
  update revision, once the UnitedDeployment's ``UnitedDeploymentUpdated`` condition changed more
  than ``rescheduleCriticalSeconds`` ago (counted as an update-timeout pod); a reserved pod leaves
  the reservation (``"false"``) once it is Running, at the update revision and Ready for longer
  than ``unschedulableDuration``; a pod without the label gets ``"false"``;
- a subset with reserved pods is unschedulable: condition False (reason ``reschedule``,
  "reserved pods found"); one without: True ("no reserved pods").

The allocator (``allocation.allocate(reservation=...)``) then keeps the reserved pods and gives
their replicas again to the next subsets (temporary pods). :func:`after_allocation` is kruise's
``postProcessSubsetStatusForReservedAdaptiveStrategy``: a subset that just recovered and is given
more replicas is marked again, so that its new pods start reserved and the temporary pods stay
until those are Ready. The pods whose label changes are patched (kruise's strategic merge patch of
the one label; a JSON merge patch here does the same), and the workload of an unschedulable subset
gets ``maxUnavailable`` = replicas - ready + update-timeout pods when it is updated
(:func:`max_unavailable`). Pure: ``now`` is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from workers.podmechanics.kube_json import (
    JsonDict,
    JsonObject,
    labels_of,
    mapping,
    objects,
    parse_time,
)
from workers.uniteddeployment import adaptive
from workers.uniteddeployment.allocation import Reserved
from workers.uniteddeployment.subsets import REVISION_LABEL

RESERVED_LABEL = "apps.kruise.io/united-deployment-reserved-pod"
STATUS_SELECTOR_SUFFIX = f",{RESERVED_LABEL}=false"
"""Added to ``status.labelSelector`` (kruise's ``extraStatusSelector``): an HPA counts working pods only."""


def enabled(ud: JsonObject) -> bool:
    """``ShouldReserveUnschedulablePods``."""
    return adaptive.is_adaptive(ud) and (
        mapping(ud, "spec", "topology", "scheduleStrategy", "adaptive").get("reserveUnschedulablePods")
        is True
    )


@dataclass(frozen=True)
class SubsetPods:
    """What the reservation reads of one existing subset workload."""

    replicas: int
    """The workload's ``spec.replicas``."""
    pods: Sequence[JsonObject]


@dataclass(frozen=True)
class LabelPatch:
    pod: str
    reserved: bool

    @property
    def patch(self) -> JsonDict:
        return {"metadata": {"labels": {RESERVED_LABEL: "true" if self.reserved else "false"}}}


@dataclass(frozen=True)
class Assessment:
    subsets: dict[str, Reserved]
    update_timeout_pods: dict[str, int]
    conditions: dict[str, list[JsonDict]]
    """The ``Schedulable`` condition list of each assessed subset's status entry, as it should be."""
    patches: tuple[LabelPatch, ...]
    requeue_after: float | None


def _marked(pod: JsonObject) -> tuple[bool, bool]:
    """``IsPodMarkedAsReserved``: (reserved, has the label)."""
    labels = labels_of(pod)
    if RESERVED_LABEL not in labels:
        return False, False
    return labels[RESERVED_LABEL] == "true", True


def _ready_since(pod: JsonObject) -> datetime | None:
    for condition in objects(pod, "status", "conditions"):
        if condition.get("type") == "Ready":
            if condition.get("status") != "True":
                return None
            # a missing time is Go's zero time: long ago
            return parse_time(condition.get("lastTransitionTime")) or datetime.min.replace(tzinfo=UTC)
    return None


def pod_reserved(
    pod: JsonObject,
    update_revision: str,
    updated_since: datetime,
    critical: timedelta,
    lasting: timedelta,
    now: datetime,
) -> tuple[bool, float | None, bool]:
    """``CheckPodReallyInReservedStatus``: (reserved, seconds until it should be looked at again,
    an update-timeout pod). ``updated_since``: the ``UnitedDeploymentUpdated`` condition's
    lastTransitionTime."""
    revision = labels_of(pod).get(REVISION_LABEL, "")
    reserved, _ = _marked(pod)
    if reserved:
        if mapping(pod, "status").get("phase") == "Running" and revision == update_revision:
            since = _ready_since(pod)
            if since is not None:
                if since + lasting < now:
                    return False, None, False
                return True, (since + lasting - now).total_seconds(), False
        return True, lasting.total_seconds(), False
    if revision == update_revision:
        timed_out, after = adaptive.pending_timeout(pod, critical, now)
        if timed_out:
            return True, lasting.total_seconds(), False
        return False, after, False
    # GetTimeBeforeUpdateTimeout: an old-revision pod times out with the update itself
    if mapping(pod, "metadata").get("deletionTimestamp"):
        return False, None, False
    expect = updated_since + critical
    if expect < now:
        return True, lasting.total_seconds(), True
    return False, (expect - now).total_seconds(), False


def _seconds(ud: JsonObject, key: str, default: int) -> timedelta:
    value = mapping(ud, "spec", "topology", "scheduleStrategy", "adaptive").get(key)
    return timedelta(seconds=value if isinstance(value, int) else default)


def assess(
    ud: JsonObject,
    subset_conditions: Mapping[str, Sequence[JsonObject]],
    existing: Mapping[str, SubsetPods],
    update_revision: str,
    updated_since: datetime,
    now: datetime,
) -> Assessment:
    """Each existing subset's reservation, the label patches and the subsets' new conditions.
    ``subset_conditions``: the conditions of each ``status.subsetStatuses`` entry (kruise's
    ``initStatus`` applied; a subset without an entry is not assessed)."""
    critical = _seconds(ud, "rescheduleCriticalSeconds", adaptive.DEFAULT_RESCHEDULE_CRITICAL)
    lasting = _seconds(ud, "unschedulableDuration", adaptive.DEFAULT_UNSCHEDULABLE_DURATION)
    subsets: dict[str, Reserved] = {}
    timeouts: dict[str, int] = {}
    conditions_out: dict[str, list[JsonDict]] = {}
    patches: list[LabelPatch] = []
    waits: list[float] = []
    for name, state in sorted(existing.items()):
        if name not in subset_conditions:
            continue
        conditions = [dict(c) for c in subset_conditions[name]]
        current = next((c for c in conditions if c.get("type") == adaptive.SCHEDULABLE), None)
        marked = current is not None and current.get("status") == "False"
        reserved_pods = 0
        update_timeouts = 0
        requeue: float | None = None
        for pod in sorted(state.pods, key=lambda p: str(mapping(p, "metadata").get("name", ""))):
            pod_name = str(mapping(pod, "metadata").get("name", ""))
            old_reserved, labelled = _marked(pod)
            if marked and not labelled:
                reserved_pods += 1
                patches.append(LabelPatch(pod_name, True))
                # kruise: "if requeueAfter < unschedulableDuration { requeueAfter = unschedulableDuration }"
                if requeue is not None and requeue < lasting.total_seconds():
                    requeue = lasting.total_seconds()
                continue
            reserved, after, timed_out = pod_reserved(
                pod, update_revision, updated_since, critical, lasting, now
            )
            update_timeouts += timed_out
            reserved_pods += reserved
            if after is not None and after > 0 and (requeue is None or after < requeue):
                requeue = after
            if reserved != old_reserved or not labelled:
                patches.append(LabelPatch(pod_name, reserved))
        if requeue is not None:
            waits.append(requeue)
        if reserved_pods:
            adaptive.set_schedulable(conditions, "False", "reschedule", "reserved pods found", now)
        else:
            adaptive.set_schedulable(conditions, "True", "reschedule", "no reserved pods", now)
        subsets[name] = Reserved(
            replicas=state.replicas,
            reserved_pods=reserved_pods,
            unschedulable=reserved_pods > 0,
            marked=marked,
        )
        timeouts[name] = update_timeouts
        conditions_out[name] = conditions
    return Assessment(subsets, timeouts, conditions_out, tuple(patches), min(waits) if waits else None)


def after_allocation(found: Assessment, next_replicas: Mapping[str, int], now: datetime) -> None:
    """``postProcessSubsetStatusForReservedAdaptiveStrategy``: a subset that just recovered (no
    reserved pods, still marked) and gets more replicas is marked unschedulable again."""
    for name, subset in found.subsets.items():
        if not subset.unschedulable and subset.marked and next_replicas.get(name, 0) > subset.replicas:
            adaptive.set_schedulable(
                found.conditions[name], "False", "reschedule", "subset just recovered scaled up", now
            )


def max_unavailable(subset: Reserved, ready: int, update_timeout_pods: int) -> int | None:
    """The ``maxUnavailable`` kruise's ``UpdateSubset`` writes into an unschedulable subset's
    workload (replicas - ready + update-timeout pods), or None when it leaves the template's."""
    if not subset.unschedulable:
        return None
    return subset.replicas - ready + update_timeout_pods


def new_subset_conditions(ud: JsonObject, now: datetime) -> dict[str, list[JsonDict]]:
    """kruise's ``initStatus`` under the reservation strategy: a subset that gets its status entry
    while others already have one starts marked unschedulable (reason ``created``)."""
    entries = {str(s.get("name", "")) for s in objects(ud, "status", "subsetStatuses")}
    if not entries or not enabled(ud):
        return {}
    out: dict[str, list[JsonDict]] = {}
    for subset in objects(ud, "spec", "topology", "subsets"):
        name = str(subset.get("name", ""))
        if name not in entries:
            conditions: list[JsonDict] = []
            adaptive.set_schedulable(
                conditions, "False", "created", "newly-created subsets in reservation strategy", now
            )
            out[name] = conditions
    return out
