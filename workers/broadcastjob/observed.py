"""What the BroadcastJob planner reads: the job (raw and parsed), its pods, every node.

Built by ``observe`` in :mod:`workers.broadcastjob.worker`, read by the planner; immutable by
convention (the planner copies what it changes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.kruise.broadcastjob import BroadcastJob
from workers.podmechanics.kube_json import RawObjectView

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class ObservedBroadcastJob(RawObjectView):
    raw: JsonObject
    """The job as the API server returned it (its status is written back from here)."""
    job: BroadcastJob
    pods: tuple[JsonObject, ...]
    """Pods carrying the job's labels (the planner keeps those it controls)."""
    nodes: tuple[JsonObject, ...]
    """Every node, in the API server's order (by name)."""
