"""What kruise's container-launch-priority controller does for one pod (pure).

kruise v1.9.1 ``pkg/controller/containerlaunchpriority``: ``Reconcile`` creates the barrier
ConfigMap ``<pod>-barrier`` (no data, the pod as owner, neither controller nor
blockOwnerDeletion) when it is missing and comes back; ``handle`` then looks at the priorities of
the containers not ready yet (``findNextPriorities``, ascending):

- none left, or the lowest already in the barrier: the pod is marked
  ``apps.kruise.io/container-launch-priority-completed: "true"``;
- else the highest one's key ``p_<n>: "true"`` is added when missing, and the pod is marked
  completed when that was also the lowest.

So the kubelet starts the highest priority's containers first (their env's key exists), the next
key appears once they are ready, and so on. Flotilla plans the create and ``handle`` on the empty
barrier in one pass (kruise's requeue comes back to the same state; a ConfigMap someone else
created meanwhile answers 409 and the runtime observes again). A pod already marked completed is
not patched again (kruise's patch would change nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workers.podmechanics import launchpriority as lp

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Observed:
    """The pod (None: gone) and its barrier ConfigMap (None: not there)."""

    pod: Mapping[str, Any] | None
    barrier: Mapping[str, Any] | None


@dataclass(frozen=True)
class Decision:
    """The writes, in kruise's order: the ConfigMap to create, the key to add, the pod's mark."""

    create_barrier: JsonObject | None = None
    add_key: str | None = None
    mark_completed: bool = False
    reason: str = ""


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def new_barrier(pod: Mapping[str, Any]) -> JsonObject:
    """The barrier ConfigMap kruise creates for ``pod``."""
    meta = _meta(pod)
    name = str(meta.get("name") or "")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": lp.barrier_name(name),
            "namespace": str(meta.get("namespace") or ""),
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": str(meta.get("uid") or "")}
            ],
        },
    }


def decide(observed: Observed) -> Decision:
    """kruise's ``Reconcile`` + ``handle`` for one pod. Raises
    :class:`~workers.podmechanics.launchpriority.BarrierEnvError` where kruise panics."""
    pod = observed.pod
    if pod is None:
        return Decision(reason="pod gone")
    create = new_barrier(pod) if observed.barrier is None else None
    barrier: Mapping[str, Any] = observed.barrier if observed.barrier is not None else {}
    pending = lp.next_priorities(pod)
    already = lp.completed(pod)
    if not pending or lp.in_barrier(pending[0], barrier):
        return Decision(create, None, not already, "every priority is in the barrier")
    highest = pending[-1]
    add = None if lp.in_barrier(highest, barrier) else lp.key(highest)
    last = highest == pending[0]
    if add is None:
        reason = f"waiting for the containers of {lp.key(highest)} to be ready"
    else:
        reason = f"{lp.key(highest)} opened" + (" (the last)" if last else "")
    return Decision(create, add, last and not already, reason)
