"""Per-pod bookkeeping of an Advanced StatefulSet pass (kruise's ``refreshPodState``).

For one pod: the in-place refresh and the first ``KruisePodReady`` (``podmechanics.lifecycle.
refresh_writes``: a deferred in-place update once ``inPlaceUpdateStrategy.gracePeriodSeconds``
has passed, ``InPlaceUpdateReady`` True once the update completed, and ``KruisePodReady`` True
on a pod that declares the gate without the condition, as kruise's pod-readiness controller
does for pods the admission webhook gave the gate), then the lifecycle step
(``podmechanics.lifecycle.next_lifecycle_state`` without waiting for scheduling, as the
StatefulSet does; ``markPodNotReady`` of the inPlaceUpdate hook). kruise refreshes a pod in
``processReplica`` and again before the rolling update; a pass writes each pod's refresh once
and remembers whether it moved the lifecycle (then the rolling update waits for the next pass).
Pure; called by ``planner`` and ``update``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workers.podmechanics.kube_json import format_time
from workers.podmechanics.lifecycle import next_lifecycle_state, refresh_writes, transition
from workers.podmechanics.pods import PodView
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
        writes, delay = refresh_writes(pod, p.now, timestamp, pod.resource_version)
        if delay is not None:
            p.out.requeue(delay)
        p.out.pod_writes(list(writes))
        rv = None if writes else pod.resource_version
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
