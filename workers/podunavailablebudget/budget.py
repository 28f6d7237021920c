"""A PodUnavailableBudget's status from its pods and their workloads' scale (pure).

kruise's ``podunavailablebudget`` controller, ``syncPodUnavailableBudget`` without I/O:

* ``totalReplicas``: the target workload's replicas (``targetRef``), or the sum of the replicas of
  the distinct workloads controlling the selected pods (``GetExpectedScaleForPods``); the PUB's
  ``pub.kruise.io/protect-total-replicas`` annotation overrides both;
* ``desiredAvailable``: ``totalReplicas - maxUnavailable`` (at least 0, percentages rounded up),
  else ``minAvailable`` (a percentage of ``totalReplicas`` rounded up);
* ``disruptedPods`` kept for :data:`DELETION_TIMEOUT` (expired: the pod was not deleted, a Warning
  ``NotDeleted`` Event on it), ``unavailablePods`` for :data:`UPDATED_DELAY_CHECK`; entries of pods
  no longer covered or no longer active are dropped; the earliest expiry is when to look again;
* ``currentAvailable``: active pods not recorded above that are consistent and ready;
* ``unavailableAllowed = max(currentAvailable - desiredAvailable, 0)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.kruise.base import resolve_int_or_percent
from schemas.kruise.podunavailablebudget import PROTECT_TOTAL_REPLICAS_ANNOTATION
from workers.cloneset.kube_json import (
    JsonDict,
    JsonObject,
    annotations_of,
    format_time,
    mapping,
    parse_time,
    text,
)
from workers.cloneset.kube_json import field as json_field
from workers.podunavailablebudget.podstate import is_active, is_available, name

DELETION_TIMEOUT = timedelta(seconds=20)
UPDATED_DELAY_CHECK = timedelta(seconds=10)


@dataclass(frozen=True)
class Workload:
    """A workload controlling covered pods, as far as the budget cares."""

    uid: str
    replicas: int


@dataclass(frozen=True)
class Expired:
    """A pod admitted for deletion or eviction more than :data:`DELETION_TIMEOUT` ago, still there."""

    pod: JsonObject


@dataclass(frozen=True)
class BudgetStatus:
    """The computed status, the expired disruptions, and when an entry expires next (None: never)."""

    status: JsonDict
    expired: tuple[Expired, ...] = ()
    recheck_at: datetime | None = None


class BudgetError(ValueError):
    """The budget cannot be computed (a malformed int-or-percent); the message says why."""


def _int_or_percent(value: object) -> int | str | None:
    if isinstance(value, bool) or value is None:
        return None
    return value if isinstance(value, (int, str)) else None


def total_replicas(
    pub: JsonObject,
    pods: Sequence[JsonObject],
    target: Workload | None,
    controllers: Mapping[str, Workload],
) -> int:
    """The pods the budget expects: see the module docstring. ``controllers`` maps a pod's controller
    ownerReference uid to its workload (a ReplicaSet's pods to their Deployment)."""
    override = annotations_of(pub).get(PROTECT_TOTAL_REPLICAS_ANNOTATION, "")
    if override:
        try:
            return int(override)
        except ValueError:
            return 0  # kruise: strconv.ParseInt error ignored
    if json_field(pub, "spec", "targetRef") is not None:
        return target.replicas if target is not None else 0
    scales: dict[str, int] = {}
    for pod in pods:
        for ref in (r for r in _owner_refs(pod) if r.get("controller") is True):
            workload = controllers.get(text(ref, "uid"))
            if workload is not None:
                scales[workload.uid] = workload.replicas
    return sum(scales.values())


def _owner_refs(pod: JsonObject) -> tuple[JsonObject, ...]:
    refs = json_field(pod, "metadata", "ownerReferences")
    return tuple(r for r in refs if isinstance(r, Mapping)) if isinstance(refs, list) else ()


def desired_available(spec: JsonObject, total: int) -> int:
    """``desiredAvailable`` for ``total`` expected pods; raises :class:`BudgetError`."""
    try:
        max_unavailable = _int_or_percent(spec.get("maxUnavailable"))
        if max_unavailable is not None:
            return max(total - resolve_int_or_percent(max_unavailable, total, round_up=True), 0)
        min_available = _int_or_percent(spec.get("minAvailable"))
        if min_available is not None:
            return resolve_int_or_percent(min_available, total, round_up=True)
    except ValueError as err:
        raise BudgetError(str(err)) from err
    return 0


def _recorded(status: JsonObject, key: str) -> dict[str, datetime]:
    found: dict[str, datetime] = {}
    for pod_name, stamp in mapping(status, key).items():
        moment = parse_time(stamp)
        if moment is not None:
            found[pod_name] = moment
    return found


def compute_status(
    pub: JsonObject, pods: Sequence[JsonObject], total: int, desired: int, now: datetime
) -> BudgetStatus:
    """The status kruise writes for ``pods`` (the covered pods) at ``now``."""
    old = mapping(pub, "status")
    disrupted_in, unavailable_in = _recorded(old, "disruptedPods"), _recorded(old, "unavailablePods")
    disrupted: dict[str, datetime] = {}
    unavailable: dict[str, datetime] = {}
    expired: list[Expired] = []
    recheck: datetime | None = None
    for pod in pods:
        if not is_active(pod):
            continue
        pod_name = name(pod)
        if pod_name in disrupted_in:
            deadline = disrupted_in[pod_name] + DELETION_TIMEOUT
            if deadline < now:
                expired.append(Expired(pod))
            else:
                disrupted[pod_name] = disrupted_in[pod_name]
                recheck = deadline if recheck is None or deadline < recheck else recheck
        if pod_name in unavailable_in:
            deadline = unavailable_in[pod_name] + UPDATED_DELAY_CHECK
            if not deadline < now:
                unavailable[pod_name] = unavailable_in[pod_name]
                recheck = deadline if recheck is None or deadline < recheck else recheck
    recorded = disrupted.keys() | unavailable.keys()
    current = sum(1 for pod in pods if is_available(pod) and name(pod) not in recorded)
    status: JsonDict = {
        "observedGeneration": json_field(pub, "metadata", "generation") or 0,
        "unavailableAllowed": max(current - desired, 0),
        "currentAvailable": current,
        "desiredAvailable": desired,
        "totalReplicas": total,
    }
    if disrupted:
        status["disruptedPods"] = {k: format_time(v) for k, v in sorted(disrupted.items())}
    if unavailable:
        status["unavailablePods"] = {k: format_time(v) for k, v in sorted(unavailable.items())}
    return BudgetStatus(status, tuple(expired), recheck)


def same_status(old: JsonObject, new: JsonObject) -> bool:
    """Whether writing ``new`` would change nothing (times compared as instants, empty maps as absent)."""
    for key in (
        "observedGeneration",
        "unavailableAllowed",
        "currentAvailable",
        "desiredAvailable",
        "totalReplicas",
    ):
        if (old.get(key) or 0) != (new.get(key) or 0):
            return False
    return all(_recorded(old, key) == _recorded(new, key) for key in ("disruptedPods", "unavailablePods"))


__all__ = [
    "DELETION_TIMEOUT",
    "UPDATED_DELAY_CHECK",
    "BudgetError",
    "BudgetStatus",
    "Expired",
    "Workload",
    "compute_status",
    "desired_available",
    "same_status",
    "total_replicas",
]
