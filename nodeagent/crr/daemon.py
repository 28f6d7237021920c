"""The node half of ContainerRecreateRequest: pure planning of one pass over one Pod's requests.

Follows kruise-daemon (``pkg/daemon/containerrecreate``, v1.9.1) step for step: of the active
requests of a Pod, one is picked (phase, then age); it is moved to ``Recreating``; after the
unready grace period its per-container states are computed from what the container runtime
reports; at most one container is stopped per pass; the request completes (phase ``Completed``,
as kruise: the outcome is in ``containerRecreateStates``) when every container succeeded or one
failed under ``failurePolicy: Fail``.

No I/O, no clock: :func:`plan_pod` takes the requests, the runtime's view of the Pod's
containers and ``now``, and returns a :class:`PodPlan` that :mod:`nodeagent.crr.agent` executes
(one write, then it plans again from fresh state, as kruise returns after each write).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from schemas.kruise.containerrecreaterequest import (
    ContainerRecreateRequest,
    ContainerRecreateRequestContainerRecreateState,
)

SYNC_CONTAINER_STATUSES_KEY = "crr.apps.kruise.io/sync-container-statuses"
UNREADY_ACQUIRED_KEY = "crr.apps.kruise.io/unready-acquired"
POD_UID_KEY = "crr.apps.kruise.io/pod-uid"

#: kubelet's default when neither the request nor the Pod says (kruise's ``convertCRRToPod``).
DEFAULT_GRACE_SECONDS = 30
#: The smallest grace period a stop gets (kubelet's ``minimumGracePeriodInSeconds``).
MIN_GRACE_SECONDS = 2

_PHASE_WEIGHT = {"Completed": 1, "Recreating": 2, "Pending": 3}


@dataclass(frozen=True)
class RuntimeContainer:
    """One container instance of the Pod as the CRI reports it (kruise's ``kubeletcontainer.Status``)."""

    name: str
    #: ``<runtime>://<id>``, the form of ``containerStatuses[].containerID``.
    container_id: str
    #: ``running``, ``exited``, ``created`` or ``unknown``.
    state: str
    restart_count: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    #: The kubelet's hash of the container's spec (``io.kubernetes.container.hash``), 0 if none.
    plain_hash: int = 0


@dataclass(frozen=True)
class SyncedStatus:
    """The kubelet's view of a container, copied into the request by the controller half."""

    container_id: str
    ready: bool


@dataclass(frozen=True)
class StopContainer:
    """Run the container's preStop hook (if any) then stop it via CRI ``StopContainer``."""

    container_name: str
    container_id: str
    grace_seconds: int
    pre_stop_exec: tuple[str, ...] | None
    #: kruise's Event message: ``Stopping container <c> by ContainerRecreateRequest <crr>``.
    message: str
    #: ``isKilled`` of the container's state before this stop (kept if the stop fails).
    was_killed: bool = False
    #: The container's whole preStop handler (wire form) and ``ports``, for an ``httpGet`` /
    #: ``tcpSocket`` hook (:mod:`nodeagent.crr.prestop`).
    pre_stop: dict[str, Any] | None = None
    ports: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class PodPlan:
    """What one pass does for one Pod. At most one write; ``None`` fields mean nothing to do."""

    #: The request the pass acts on (namespace-local name), or None.
    crr_name: str | None = None
    #: Requests to move from no phase to ``Pending`` (not picked this time).
    to_pending: tuple[str, ...] = ()
    #: Set ``status.phase`` of the picked request.
    set_phase: str | None = None
    #: Stop this container first (before ``states`` is written).
    stop: StopContainer | None = None
    #: Write ``status.containerRecreateStates`` (wire dicts).
    states: tuple[dict[str, object], ...] | None = None
    #: Complete the request (phase ``Completed``, completionTime now) with this message.
    complete_message: str | None = None
    #: Come back after this many seconds (unready grace, minStartedSeconds).
    requeue_after: float | None = None
    reason: str = ""


def is_finished(crr: ContainerRecreateRequest) -> bool:
    """Deleted or completed: the node has nothing more to do (kruise's ``enqueue`` filter)."""
    meta = crr.metadata
    return bool(meta.get("deletionTimestamp")) or crr.status.completion_time is not None


def pick(crrs: Sequence[ContainerRecreateRequest]) -> tuple[ContainerRecreateRequest | None, tuple[str, ...]]:
    """kruise's ``pickRecreateRequest``: the first live request by phase weight then creation;
    the others without a phase are to be marked ``Pending``."""

    def key(crr: ContainerRecreateRequest) -> tuple[int, str, str]:
        phase = crr.status.phase or ""
        return (_PHASE_WEIGHT.get(phase, 4), str(crr.metadata.get("creationTimestamp", "")), _name(crr))

    picked: ContainerRecreateRequest | None = None
    pending: list[str] = []
    for crr in sorted(crrs, key=key):
        if is_finished(crr):
            continue
        if picked is None:
            picked = crr
        elif not crr.status.phase:
            pending.append(_name(crr))
    return picked, tuple(pending)


def synced_statuses(crr: ContainerRecreateRequest) -> dict[str, SyncedStatus]:
    """The ``sync-container-statuses`` annotation by container name (empty when absent or bad)."""
    raw = (crr.metadata.get("annotations") or {}).get(SYNC_CONTAINER_STATUSES_KEY, "")
    if not raw:
        return {}
    try:
        items = json.loads(raw)
        return {
            str(item["name"]): SyncedStatus(str(item.get("containerID", "")), bool(item.get("ready", False)))
            for item in items
        }
    except (ValueError, TypeError, KeyError):
        return {}


def latest(containers: Sequence[RuntimeContainer], name: str) -> RuntimeContainer | None:
    """The newest instance of a container (kruise sorts by creation, newest first)."""
    found = [c for c in containers if c.name == name]
    return max(found, key=lambda c: c.created_at) if found else None


def current_states(
    crr: ContainerRecreateRequest, containers: Sequence[RuntimeContainer], now: dt.datetime
) -> list[ContainerRecreateRequestContainerRecreateState]:
    """kruise's ``getCurrentCRRContainersRecreateStates``: the state of each requested container."""
    state_cls = ContainerRecreateRequestContainerRecreateState
    min_started = dt.timedelta(seconds=crr.spec.strategy.min_started_seconds)
    synced = synced_statuses(crr)
    previous = {s.name: s for s in crr.status.container_recreate_states or ()}
    out: list[ContainerRecreateRequestContainerRecreateState] = []
    for wanted in crr.spec.containers:
        before = previous.get(wanted.name)
        if before is not None and before.phase in ("Failed", "Succeeded"):
            out.append(before)
            continue
        killed = before.is_killed if before is not None else False
        running = latest(containers, wanted.name)
        context = wanted.status_context
        if running is None:
            out.append(
                state_cls(
                    name=wanted.name, phase="Pending", is_killed=killed, message="not found container on Node"
                )
            )
        elif running.state == "exited":
            out.append(state_cls(name=wanted.name, phase="Recreating", is_killed=killed))
        elif crr.spec.strategy.force_recreate and not killed:
            out.append(state_cls(name=wanted.name, phase="Pending"))
        elif context is not None and (
            running.container_id != context.container_id or running.restart_count > context.restart_count
        ):
            sync = synced.get(wanted.name)
            done = (
                sync is not None
                and sync.container_id == running.container_id
                and running.started_at is not None
                and now - running.started_at > min_started
                and sync.ready
            )
            out.append(
                state_cls(name=wanted.name, phase="Succeeded" if done else "Recreating", is_killed=killed)
            )
        else:
            out.append(state_cls(name=wanted.name, phase="Pending", is_killed=killed))
    return out


def runtime_problem(crr: ContainerRecreateRequest) -> str | None:
    """kruise's ``newRuntimeManager`` checks: every container needs a ``statusContext`` with a
    containerID, all of one runtime. Returns kruise's completion message, or None."""
    runtime = ""
    for wanted in crr.spec.containers:
        context = wanted.status_context
        if context is None or not context.container_id:
            return (
                "failed to find runtime service: "
                f"no statusContext or empty containerID in {wanted.name} container"
            )
        kind, sep, _ = context.container_id.partition("://")
        if not sep or not kind:
            return (
                f"failed to find runtime service: failed to parse containerID {context.container_id} "
                f"in {wanted.name} container: invalid container ID: {context.container_id!r}"
            )
        if runtime and runtime != kind:
            return f"failed to find runtime service: has different runtime types {runtime}, {kind} in Pod"
        runtime = kind
    return None


def unready_wait(crr: ContainerRecreateRequest, now: dt.datetime) -> tuple[str | None, float | None]:
    """The unready grace period: (completion message on a bad annotation, seconds still to wait).

    ``(None, inf)`` means wait for the controller half to acquire unready (no timer)."""
    grace = crr.spec.strategy.unready_grace_period_seconds
    if grace is None:
        return None, None
    raw = (crr.metadata.get("annotations") or {}).get(UNREADY_ACQUIRED_KEY, "")
    if not raw:
        return None, float("inf")
    try:
        acquired = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        return f"failed to parse unready time {raw}: {exc}", None
    left = grace - (now - acquired).total_seconds()
    return None, (left if left > 0 else None)


def _grace(crr: ContainerRecreateRequest) -> int:
    """kruise's ``KillContainer`` grace: the request's (the webhook copies the Pod's), else 30."""
    grace = crr.spec.strategy.termination_grace_period_seconds
    return DEFAULT_GRACE_SECONDS if grace is None else int(grace)


def _pre_stop_exec(crr: ContainerRecreateRequest, name: str) -> tuple[str, ...] | None:
    for wanted in crr.spec.containers:
        if wanted.name == name and wanted.pre_stop is not None and wanted.pre_stop.exec:
            command = wanted.pre_stop.exec.get("command") or []
            return tuple(str(part) for part in command)
    return None


def _pre_stop(
    crr: ContainerRecreateRequest, name: str
) -> tuple[dict[str, Any] | None, tuple[dict[str, Any], ...]]:
    for wanted in crr.spec.containers:
        if wanted.name == name:
            handler = (
                wanted.pre_stop.model_dump(by_alias=True, exclude_none=True) if wanted.pre_stop else None
            )
            return handler or None, tuple(wanted.ports or ())
    return None, ()


def _name(crr: ContainerRecreateRequest) -> str:
    return str(crr.metadata.get("name", ""))


def _wire(states: Sequence[ContainerRecreateRequestContainerRecreateState]) -> tuple[dict[str, object], ...]:
    return tuple(s.to_wire() for s in states)


def plan_pod(
    crrs: Sequence[ContainerRecreateRequest], containers: Sequence[RuntimeContainer], now: dt.datetime
) -> PodPlan:
    """One pass of kruise-daemon's ``sync`` + ``manage`` for the requests of one Pod."""
    picked, to_pending = pick(crrs)
    if picked is None:
        return PodPlan(reason="no active request")
    name = _name(picked)
    if to_pending:
        return PodPlan(crr_name=name, to_pending=to_pending, reason="queued behind the picked request")
    if picked.status.phase != "Recreating":
        return PodPlan(crr_name=name, set_phase="Recreating", reason="picked")
    bad_time, wait = unready_wait(picked, now)
    if bad_time is not None:
        return PodPlan(crr_name=name, complete_message=bad_time, reason="bad unready time")
    if wait is not None:
        requeue = None if wait == float("inf") else wait + 0.1
        return PodPlan(crr_name=name, requeue_after=requeue, reason="unready grace period")
    problem = runtime_problem(picked)
    if problem is not None:
        return PodPlan(crr_name=name, complete_message=problem, reason="no runtime for the request")

    states = current_states(picked, containers, now)
    if _wire(states) != _wire(picked.status.container_recreate_states or ()):
        return PodPlan(crr_name=name, states=_wire(states), reason="container states changed")

    strategy = picked.spec.strategy
    completed = 0
    stop: StopContainer | None = None
    for index, state in enumerate(states):
        if state.phase == "Succeeded":
            completed += 1
            continue
        if state.phase == "Failed":
            completed += 1
            if strategy.failure_policy == "Ignore":
                continue
            return PodPlan(crr_name=name, complete_message="", reason=f"container {state.name} failed")
        if state.phase == "Recreating":
            states[index] = state.model_copy(update={"is_killed": True})
            if strategy.ordered_recreate:
                break
            continue
        running = latest(containers, state.name)
        if running is None:
            break
        handler, ports = _pre_stop(picked, state.name)
        stop = StopContainer(
            pre_stop=handler,
            ports=ports,
            container_name=state.name,
            container_id=running.container_id,
            grace_seconds=_grace(picked),
            pre_stop_exec=_pre_stop_exec(picked, state.name),
            message=f"Stopping container {state.name} by ContainerRecreateRequest {name}",
            was_killed=state.is_killed,
        )
        states[index] = state.model_copy(update={"is_killed": True, "phase": "Recreating"})
        break

    if _wire(states) != _wire(picked.status.container_recreate_states or ()):
        return PodPlan(crr_name=name, stop=stop, states=_wire(states), reason="recreating")
    if completed == len(states):
        return PodPlan(crr_name=name, complete_message="", reason="all containers finished")
    requeue = float(strategy.min_started_seconds) if strategy.min_started_seconds > 0 else None
    return PodPlan(crr_name=name, requeue_after=requeue, reason="waiting for containers")


def stop_failed_states(plan: PodPlan, error: str) -> tuple[dict[str, object], ...]:
    """The states to write when the planned stop failed: kruise marks the container ``Failed`` with
    ``kill container error: <err>``; the next pass goes on (``Ignore``) or completes (``Fail``)."""
    assert plan.stop is not None
    assert plan.states is not None
    failed = {
        "phase": "Failed",
        "message": f"kill container error: {error}",
        "isKilled": plan.stop.was_killed,
    }
    return tuple({**s, **failed} if s.get("name") == plan.stop.container_name else s for s in plan.states)
