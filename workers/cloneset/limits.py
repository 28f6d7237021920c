"""The numbers a CloneSet's strategies resolve to for its current replica count.

``resolve_limits`` turns the int-or-percent fields (partition, maxSurge, maxUnavailable,
scaleStrategy.maxUnavailable) into absolute counts exactly as kruise does (rounding rules of
``intstr.GetValueFromIntOrPercent`` and ``util.CalculatePartitionReplicas``). Pure; called
by ``diff`` and ``status``, and by ``validation`` to reject malformed values up front.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from schemas.kruise.cloneset import CloneSet

_PERCENT = re.compile(r"^(\d+)%$")
#: ``scaleStrategy.maxUnavailable`` unset means unlimited (kruise uses MaxInt32).
UNLIMITED = 2**31 - 1


def scaled_value(value: int | str, total: int, *, round_up: bool) -> int:
    """An int-or-percent as an absolute count of ``total``; raises ValueError on a malformed string."""
    if isinstance(value, int):
        return value
    match = _PERCENT.match(value)
    if match is None:
        if value.isdigit():
            return int(value)
        raise ValueError(f"invalid value {value!r}: must be an integer or a percentage like '25%'")
    fraction = int(match.group(1)) * total / 100
    return math.ceil(fraction) if round_up else math.floor(fraction)


def partition_replicas(partition: int | str, replicas: int) -> int:
    """Pods kept at the old revision (``util.CalculatePartitionReplicas``)."""
    value = scaled_value(partition, replicas, round_up=True)
    # A percent partition below 100% with more than one replica still updates at least one pod.
    if isinstance(partition, str) and replicas > 1 and value == replicas and partition != "100%":
        value = replicas - 1
    return max(min(value, replicas), 0)


@dataclass(frozen=True)
class RolloutLimits:
    """A CloneSet's strategy fields as absolute pod counts."""

    replicas: int
    """spec.replicas."""
    partition: int
    """Pods to keep at the current (old) revision."""
    max_surge: int
    """Pods allowed above replicas (0 while paused)."""
    max_unavailable: int
    """Pods allowed unavailable during update and deletion."""
    scale_max_unavailable: int
    """New pods allowed unavailable while scaling up (UNLIMITED when unset)."""


def resolve_limits(cloneset: CloneSet) -> RolloutLimits:
    """The limits of ``cloneset``; raises ValueError when an int-or-percent field is malformed."""
    spec = cloneset.spec
    replicas = spec.replicas
    strategy = spec.update_strategy
    max_surge = scaled_value(strategy.max_surge, replicas, round_up=True)
    if strategy.paused:
        max_surge = 0
    max_unavailable = scaled_value(strategy.max_unavailable, replicas, round_up=max_surge == 0)
    scale_limit = spec.scale_strategy.max_unavailable
    scale_max_unavailable = (
        UNLIMITED if scale_limit is None else scaled_value(scale_limit, replicas, round_up=True)
    )
    return RolloutLimits(
        replicas=replicas,
        partition=partition_replicas(strategy.partition, replicas),
        max_surge=max(max_surge, 0),
        max_unavailable=max(max_unavailable, 0),
        scale_max_unavailable=max(scale_max_unavailable, 0),
    )
