"""Ordinal identity of an Advanced StatefulSet: which ordinals hold replicas, and their names.

kruise's ``getStatefulSetReplicasRange`` walks ordinals upward from ``ordinals.start`` (gate
``StatefulSetStartOrdinal``), skipping reserved ones, until ``replicas`` ordinals are counted:
replicas 3, reserve [1] -> ordinals 0, 2, 3. ``reserveOrdinals`` entries are integers or range
strings ``"a-b"`` (``pkg/util/api.ParseRange``: exactly one ``-``, both ends decimal, a <= b);
an invalid range makes kruise drop the whole set of reserved ordinals (it logs and returns an
empty set), and so does this module. Pod names are ``<set>-<ordinal>``; a pod's ordinal is
parsed from the name's trailing ``-<digits>`` (-1 when it has none). Pure; used by the planner.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_POD_NAME = re.compile(r"^(.*)-([0-9]+)$")
_INT32_MAX = 2**31 - 1


def _atoi(text: str) -> int | None:
    """Go's ``strconv.Atoi``: optional sign, decimal digits, nothing else."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    return int(text)


def parse_range(text: str) -> tuple[int, int] | None:
    """``"a-b"`` as (a, b); None when kruise's ``ParseRange`` rejects it."""
    parts = text.split("-")
    if len(parts) != 2:
        return None
    start, end = _atoi(parts[0]), _atoi(parts[1])
    if start is None or end is None or start > end:
        return None
    return start, end


def reserved_ordinals(entries: Sequence[int | str] | None) -> frozenset[int]:
    """The reserved ordinals (``GetReserveOrdinalIntSet``); empty when any range is invalid."""
    values: set[int] = set()
    for entry in entries or ():
        if isinstance(entry, int):
            values.add(entry)
            continue
        parsed = parse_range(entry)
        if parsed is None:
            return frozenset()
        values.update(range(parsed[0], parsed[1] + 1))
    return frozenset(values)


@dataclass(frozen=True)
class OrdinalRange:
    """Ordinals in ``[start, end)`` not in ``reserved`` hold the replicas."""

    start: int
    end: int
    reserved: frozenset[int]

    def holds(self, ordinal: int) -> bool:
        """``podInOrdinalRangeWithParams``: the ordinal is in range and not reserved."""
        return self.start <= ordinal < self.end and ordinal not in self.reserved

    def ordinals(self) -> tuple[int, ...]:
        """The replica ordinals, ascending."""
        return tuple(o for o in range(self.start, self.end) if o not in self.reserved)


def replica_range(replicas: int, start: int, reserved: frozenset[int]) -> OrdinalRange:
    """``getStatefulSetReplicasRange``: from ``start``, count ``replicas`` unreserved ordinals."""
    end = start
    counted = 0
    while counted < replicas:
        if end not in reserved:
            counted += 1
        end += 1
    return OrdinalRange(start, end, reserved)


def parent_and_ordinal(pod_name: str) -> tuple[str, int]:
    """``getParentNameAndOrdinal``: ("", -1) when the name has no ``-<ordinal>`` suffix."""
    match = _POD_NAME.match(pod_name)
    if match is None:
        return "", -1
    value = int(match.group(2))
    if value > _INT32_MAX:
        return match.group(1), -1
    return match.group(1), value


def ordinal_of(pod_name: str) -> int:
    return parent_and_ordinal(pod_name)[1]


def pod_name(set_name: str, ordinal: int) -> str:
    return f"{set_name}-{ordinal}"


def claim_name(template_name: str, set_name: str, ordinal: int) -> str:
    """The PVC of one volume claim template for one ordinal: ``<claim>-<set>-<ordinal>``."""
    return f"{template_name}-{set_name}-{ordinal}"
