"""What the BroadcastJob planner reads: the job (raw and parsed), its pods, every node.

Built by ``observe`` in :mod:`workers.broadcastjob.worker`, read by the planner; immutable by
convention (the planner copies what it changes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.kruise.broadcastjob import BroadcastJob

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class ObservedBroadcastJob:
    raw: JsonObject
    """The job as the API server returned it (its status is written back from here)."""
    job: BroadcastJob
    pods: tuple[JsonObject, ...]
    """Pods carrying the job's labels (the planner keeps those it controls)."""
    nodes: tuple[JsonObject, ...]
    """Every node, in the API server's order (by name)."""

    @property
    def meta(self) -> JsonObject:
        meta = self.raw.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        return str(self.meta.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.meta.get("namespace", ""))

    @property
    def uid(self) -> str:
        return str(self.meta.get("uid", ""))

    @property
    def deleting(self) -> bool:
        return bool(self.meta.get("deletionTimestamp"))

    @property
    def status(self) -> JsonObject:
        status = self.raw.get("status")
        return status if isinstance(status, dict) else {}
