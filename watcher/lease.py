"""Leader-election decisions over a coordination.k8s.io/v1 Lease, as pure functions.

The rules are client-go's ``tools/leaderelection``: a candidate may take the lease when it is
free, already its own, or when the holder's record has not changed for ``lease_duration`` by
the candidate's own clock (no clock skew between nodes is trusted); taking it from another
holder increments ``leaseTransitions``. :mod:`watcher.election` runs the loops and does the I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

#: Lease times are MicroTime: RFC 3339 with microseconds.
_MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True, slots=True)
class ElectionTiming:
    """The Kubernetes components' defaults: 15 s lease, 10 s renew deadline, 2 s retry."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The spec of a Lease plus the resourceVersion it was read at."""

    holder: str
    lease_duration_seconds: int
    acquire_time: str
    renew_time: str
    transitions: int
    resource_version: str = ""

    def same_term(self, other: LeaseRecord) -> bool:
        """Whether nothing the holder writes changed (the resourceVersion aside)."""
        return (self.holder, self.renew_time, self.acquire_time, self.transitions) == (
            other.holder,
            other.renew_time,
            other.acquire_time,
            other.transitions,
        )


@dataclass(frozen=True, slots=True)
class Observation:
    """The last record seen and when (monotonic seconds) it last changed."""

    record: LeaseRecord
    changed_at: float


def micro_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_MICRO_TIME)


def parse_lease(obj: Mapping[str, object]) -> LeaseRecord:
    """A Lease object (decoded JSON) as a record; missing fields read as empty/zero."""
    spec = obj.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    return LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=str(spec.get("acquireTime") or ""),
        renew_time=str(spec.get("renewTime") or ""),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=str(meta.get("resourceVersion") or ""),
    )


def lease_body(name: str, namespace: str, record: LeaseRecord) -> dict[str, object]:
    """The Lease object to create or update (``resourceVersion`` set for an optimistic update)."""
    metadata: dict[str, object] = {"name": name, "namespace": namespace}
    if record.resource_version:
        metadata["resourceVersion"] = record.resource_version
    spec: dict[str, object] = {
        "holderIdentity": record.holder,
        "leaseDurationSeconds": record.lease_duration_seconds,
        "leaseTransitions": record.transitions,
    }
    if record.acquire_time:
        spec["acquireTime"] = record.acquire_time
    if record.renew_time:
        spec["renewTime"] = record.renew_time
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}


def observe(previous: Observation | None, record: LeaseRecord, now: float) -> Observation:
    """Track when the record last changed, by the local monotonic clock."""
    if previous is not None and previous.record.same_term(record):
        return Observation(record, previous.changed_at)
    return Observation(record, now)


def claim(
    identity: str,
    current: Observation | None,
    now: float,
    wall: datetime,
    timing: ElectionTiming,
) -> LeaseRecord | None:
    """The record to write to hold the lease, or None when another holder's lease is still valid.

    ``current`` None means the Lease does not exist (the caller creates it); otherwise the
    returned record carries its resourceVersion, so a concurrent writer makes the update fail.
    """
    stamp = micro_time(wall)
    duration = max(1, round(timing.lease_duration))
    if current is None:
        return LeaseRecord(identity, duration, stamp, stamp, 0)
    record = current.record
    held_by_other = bool(record.holder) and record.holder != identity
    if held_by_other and current.changed_at + timing.lease_duration > now:
        return None
    if record.holder == identity:
        return LeaseRecord(
            identity,
            duration,
            record.acquire_time or stamp,
            stamp,
            record.transitions,
            record.resource_version,
        )
    transitions = record.transitions + 1 if record.holder else record.transitions
    return LeaseRecord(identity, duration, stamp, stamp, transitions, record.resource_version)


def release(identity: str, current: LeaseRecord, wall: datetime) -> LeaseRecord | None:
    """The record that hands the lease back (so a standby takes it at once), or None if not ours."""
    if current.holder != identity:
        return None
    stamp = micro_time(wall)
    return LeaseRecord("", 1, stamp, stamp, current.transitions, current.resource_version)
