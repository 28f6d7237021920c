"""What an Advanced StatefulSet asks about one pod (``stateful_set_utils.go``'s predicates).

``isCreated`` (a phase is set), ``isRunningAndReady``, ``isRunningAndAvailable`` (lifecycle
state unset or Normal, Running, Ready for ``minReadySeconds``; also how long until it is),
``isHealthy`` (that, minus terminating) and ``isTerminating``, over the shared
:class:`~workers.cloneset.pods.PodView`. These differ in small ways from CloneSet's (the
lifecycle state gates availability, ``minReadySeconds`` is inclusive), so they are the
StatefulSet's own. Pure; used by the planner and ``status``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from workers.podmechanics.pods import PodView


def is_created(pod: PodView) -> bool:
    return pod.phase != ""


def is_terminating(pod: PodView) -> bool:
    return pod.deleting


def is_failed_or_succeeded(pod: PodView) -> bool:
    return pod.phase in ("Failed", "Succeeded")


def is_running_and_ready(pod: PodView) -> bool:
    return pod.phase == "Running" and pod.ready


def _normal(pod: PodView) -> bool:
    return pod.lifecycle_state in ("", "Normal")


def wait_until_available(pod: PodView, min_ready_seconds: int, now: datetime) -> float | None:
    """``isRunningAndAvailable``: None when available, else seconds to wait (0: until an event)."""
    if not _normal(pod) or not is_running_and_ready(pod):
        return 0.0
    if min_ready_seconds <= 0:
        return None
    condition = pod.conditions.get("Ready")
    since = pod.ready_since
    if since is None or condition is None:
        return float(min_ready_seconds)
    wait = (since + timedelta(seconds=min_ready_seconds) - now).total_seconds()
    return wait if wait > 0 else None


def is_available(pod: PodView, min_ready_seconds: int, now: datetime) -> bool:
    return wait_until_available(pod, min_ready_seconds, now) is None


def is_healthy(pod: PodView) -> bool:
    return _normal(pod) and is_running_and_ready(pod) and not is_terminating(pod)
