"""Per-pod bookkeeping of an Advanced StatefulSet pass (kruise's ``refreshPodState``).

For one pod: the in-place refresh (``podmechanics.inplace.in_place_refresh``: a deferred
in-place update once ``inPlaceUpdateStrategy.gracePeriodSeconds`` has passed, or
``InPlaceUpdateReady`` True once the update completed), then the lifecycle step
(``podmechanics.lifecycle.next_lifecycle_state`` without waiting for scheduling, as the
StatefulSet does; ``markPodNotReady`` of the inPlaceUpdate hook). kruise refreshes a pod in
``processReplica`` and again before the rolling update; a pass writes each pod's refresh once
and remembers whether it moved the lifecycle (then the rolling update waits for the next pass).
Pure; called by ``planner`` and ``update``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workers.podmechanics.inplace import in_place_refresh
from workers.podmechanics.kube_json import format_time
from workers.podmechanics.lifecycle import next_lifecycle_state, transition
from workers.podmechanics.pods import PodView
from workers.podmechanics.podwrites import PatchPod
from workers.statefulset.podstate import is_created

if TYPE_CHECKING:
    from workers.statefulset.state import Pass


def refresh_pod(p: Pass, pod: PodView) -> bool:
    """Refresh ``pod`` (once a pass); True when its lifecycle state moves."""
    if pod.name in p.refreshed:
        return p.refreshed[pod.name]
    moved = False
    if is_created(pod):
        timestamp = format_time(p.now)
        rv = pod.resource_version
        patch, subresource, delay = in_place_refresh(pod, p.now, timestamp)
        if delay is not None:
            p.out.requeue(delay)
        if patch is not None:
            p.out.pod_writes(
                [PatchPod(pod.name, patch, subresource="status" if subresource else "", resource_version=rv)]
            )
            rv = None
        lifecycle = p.sts.spec.lifecycle
        state = next_lifecycle_state(pod, lifecycle, p.update_name, wait_for_scheduling=False)
        if state:
            hook = lifecycle.in_place_update if lifecycle is not None else None
            mark = hook is not None and hook.mark_pod_not_ready
            moves = transition(pod, state, timestamp, mark_not_ready=mark, resource_version=rv)
            p.out.pod_writes(moves)
            moved = any(m.subresource == "" for m in moves)
    p.refreshed[pod.name] = moved
    return moved
