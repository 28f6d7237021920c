"""The node half of ContainerRecreateRequest (nodeagent.crr.daemon), pass by pass.

Expected values are kruise-daemon v1.9.1's (``pkg/daemon/containerrecreate``), worked by hand:
one write per pass, at most one container stopped per pass, ``orderedRecreate`` waits for the
recreating one, ``Fail`` completes at the first failed container, ``Ignore`` goes on, kruise's
messages word for word.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from nodeagent.crr.daemon import (
    SYNC_CONTAINER_STATUSES_KEY,
    UNREADY_ACQUIRED_KEY,
    RuntimeContainer,
    pick,
    plan_pod,
    stop_failed_states,
)
from schemas.kruise.containerrecreaterequest import ContainerRecreateRequest

NOW = dt.datetime(2026, 11, 30, 2, 0, 0, tzinfo=dt.UTC)
T0 = NOW - dt.timedelta(minutes=5)


def crr(
    name: str = "r",
    containers: tuple[str, ...] = ("app",),
    phase: str | None = "Recreating",
    states: list[dict[str, Any]] | None = None,
    strategy: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    created: str = "2026-11-30T01:59:00Z",
    context: bool = True,
    **status: Any,
) -> ContainerRecreateRequest:
    wanted = []
    for c in containers:
        entry: dict[str, Any] = {"name": c}
        if context:
            entry["statusContext"] = {"containerID": f"containerd://{c}-1", "restartCount": 0}
        wanted.append(entry)
    body: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "creationTimestamp": created,
            "annotations": annotations or {},
        },
        "spec": {"podName": "p", "containers": wanted, "strategy": strategy or {}},
        "status": {**status},
    }
    if phase:
        body["status"]["phase"] = phase
    if states is not None:
        body["status"]["containerRecreateStates"] = states
    return ContainerRecreateRequest.from_wire(body)


def running(name: str, instance: int = 1, restarts: int = 0, started_ago: float = 60) -> RuntimeContainer:
    started = NOW - dt.timedelta(seconds=started_ago)
    return RuntimeContainer(name, f"containerd://{name}-{instance}", "running", restarts, started, started)


def exited(name: str, instance: int = 1) -> RuntimeContainer:
    return RuntimeContainer(name, f"containerd://{name}-{instance}", "exited", 0, T0, T0)


def synced(*items: tuple[str, str, bool]) -> dict[str, str]:
    value = [{"name": n, "ready": r, "restartCount": 1, "containerID": cid} for n, cid, r in items]
    return {SYNC_CONTAINER_STATUSES_KEY: json.dumps(value)}


def test_pick_prefers_recreating_then_oldest_and_marks_the_rest_pending() -> None:
    a = crr("a", phase=None, created="2026-11-30T01:00:00Z")
    b = crr("b", phase=None, created="2026-11-30T01:01:00Z")
    c = crr("c", phase="Recreating", created="2026-11-30T01:02:00Z")
    picked, pending = pick([a, b, c])
    assert picked is c
    assert pending == ("a", "b")
    done = crr("d", phase="Completed", completionTime="2026-11-30T01:00:00Z")
    assert pick([done]) == (None, ())


def test_first_pass_moves_to_recreating() -> None:
    plan = plan_pod([crr(phase=None)], [running("app")], NOW)
    assert plan.set_phase == "Recreating"
    assert plan.stop is None


def test_a_restart_walked_pass_by_pass() -> None:
    # pass 1: states computed (app Pending), written alone
    plan = plan_pod([crr()], [running("app")], NOW)
    assert plan.states == ({"name": "app", "phase": "Pending", "isKilled": False},)
    assert plan.stop is None
    # pass 2: stop app, write Recreating + isKilled
    states = [{"name": "app", "phase": "Pending", "isKilled": False}]
    plan = plan_pod([crr(states=states)], [running("app")], NOW)
    assert plan.stop is not None
    assert plan.stop.container_id == "containerd://app-1"
    assert plan.stop.grace_seconds == 30
    assert plan.stop.message == "Stopping container app by ContainerRecreateRequest r"
    assert plan.states == ({"name": "app", "phase": "Recreating", "isKilled": True},)
    # pass 3: the kubelet started instance 2; not yet synced by the controller half -> wait
    states = [{"name": "app", "phase": "Recreating", "isKilled": True}]
    plan = plan_pod([crr(states=states)], [exited("app"), running("app", 2, 1, 5)], NOW)
    assert plan.states is None
    assert plan.complete_message is None
    # pass 4: synced and ready -> Succeeded, then completion
    ready = synced(("app", "containerd://app-2", True))
    plan = plan_pod([crr(states=states, annotations=ready)], [running("app", 2, 1, 5)], NOW)
    assert plan.states == ({"name": "app", "phase": "Succeeded", "isKilled": True},)
    done = [{"name": "app", "phase": "Succeeded", "isKilled": True}]
    plan = plan_pod([crr(states=done, annotations=ready)], [running("app", 2, 1, 5)], NOW)
    assert plan.complete_message == ""


def test_min_started_seconds_holds_success() -> None:
    states = [{"name": "app", "phase": "Recreating", "isKilled": True}]
    ready = synced(("app", "containerd://app-2", True))
    young = crr(states=states, annotations=ready, strategy={"minStartedSeconds": 10})
    plan = plan_pod([young], [running("app", 2, 1, started_ago=5)], NOW)
    assert plan.states is None
    assert plan.requeue_after == 10.0
    plan = plan_pod([young], [running("app", 2, 1, started_ago=11)], NOW)
    assert plan.states == ({"name": "app", "phase": "Succeeded", "isKilled": True},)


def test_unordered_stops_the_next_while_one_recreates_ordered_waits() -> None:
    states = [
        {"name": "a", "phase": "Recreating", "isKilled": True},
        {"name": "b", "phase": "Pending", "isKilled": False},
    ]
    live = [exited("a"), running("b")]
    plan = plan_pod([crr(containers=("a", "b"), states=states)], live, NOW)
    assert plan.stop is not None
    assert plan.stop.container_name == "b"
    ordered = crr(containers=("a", "b"), states=states, strategy={"orderedRecreate": True})
    plan = plan_pod([ordered], live, NOW)
    assert plan.stop is None
    assert plan.states is None


def test_failure_policy_fail_completes_ignore_goes_on() -> None:
    states = [
        {"name": "a", "phase": "Failed", "message": "kill container error: boom", "isKilled": False},
        {"name": "b", "phase": "Pending", "isKilled": False},
    ]
    live = [running("a"), running("b")]
    plan = plan_pod([crr(containers=("a", "b"), states=states)], live, NOW)
    assert plan.complete_message == ""
    ignore = crr(containers=("a", "b"), states=states, strategy={"failurePolicy": "Ignore"})
    plan = plan_pod([ignore], live, NOW)
    assert plan.stop is not None
    assert plan.stop.container_name == "b"


def test_a_failed_stop_marks_the_container_failed() -> None:
    states = [{"name": "app", "phase": "Pending", "isKilled": False}]
    plan = plan_pod([crr(states=states)], [running("app")], NOW)
    assert stop_failed_states(plan, "CRI StopContainer: UNAVAILABLE") == (
        {
            "name": "app",
            "phase": "Failed",
            "isKilled": False,
            "message": "kill container error: CRI StopContainer: UNAVAILABLE",
        },
    )


def test_missing_container_stays_pending_with_kruise_message() -> None:
    plan = plan_pod([crr(containers=("ghost",))], [running("app")], NOW)
    assert plan.states == (
        {"name": "ghost", "phase": "Pending", "isKilled": False, "message": "not found container on Node"},
    )
    settled = [
        {"name": "ghost", "phase": "Pending", "isKilled": False, "message": "not found container on Node"}
    ]
    plan = plan_pod([crr(containers=("ghost",), states=settled)], [running("app")], NOW)
    assert plan.stop is None
    assert plan.complete_message is None


def test_no_status_context_completes_with_kruise_message() -> None:
    plan = plan_pod([crr(containers=("ghost",), context=False)], [running("app")], NOW)
    assert plan.complete_message == (
        "failed to find runtime service: no statusContext or empty containerID in ghost container"
    )


def test_force_recreate_stops_a_container_not_yet_killed() -> None:
    # the running instance differs from the context (already restarted once by someone else):
    # without forceRecreate that counts as recreated; with it, it is stopped again
    live = [running("app", 2, 1)]
    plan = plan_pod([crr()], live, NOW)
    assert plan.states == ({"name": "app", "phase": "Recreating", "isKilled": False},)
    plan = plan_pod([crr(strategy={"forceRecreate": True})], live, NOW)
    assert plan.states == ({"name": "app", "phase": "Pending", "isKilled": False},)


def test_unready_grace_waits_for_acquirement_then_the_period() -> None:
    strategy = {"unreadyGracePeriodSeconds": 10}
    plan = plan_pod([crr(strategy=strategy)], [running("app")], NOW)
    assert plan.states is None
    assert plan.requeue_after is None
    acquired = {UNREADY_ACQUIRED_KEY: "2026-11-30T01:59:56Z"}
    plan = plan_pod([crr(strategy=strategy, annotations=acquired)], [running("app")], NOW)
    assert plan.states is None
    assert plan.requeue_after is not None
    assert abs(plan.requeue_after - 6.1) < 1e-6
    past = {UNREADY_ACQUIRED_KEY: "2026-11-30T01:59:40Z"}
    plan = plan_pod([crr(strategy=strategy, annotations=past)], [running("app")], NOW)
    assert plan.states == ({"name": "app", "phase": "Pending", "isKilled": False},)
    bad = {UNREADY_ACQUIRED_KEY: "yesterday"}
    plan = plan_pod([crr(strategy=strategy, annotations=bad)], [running("app")], NOW)
    assert plan.complete_message is not None
    assert plan.complete_message.startswith("failed to parse unready time yesterday")


def test_grace_period_and_pre_stop_come_from_the_request() -> None:
    body = crr().to_wire()
    body["spec"]["strategy"]["terminationGracePeriodSeconds"] = 7
    body["spec"]["containers"][0]["preStop"] = {"exec": {"command": ["/bin/sh", "-c", "echo bye"]}}
    body["status"]["containerRecreateStates"] = [{"name": "app", "phase": "Pending", "isKilled": False}]
    plan = plan_pod([ContainerRecreateRequest.from_wire(body)], [running("app")], NOW)
    assert plan.stop is not None
    assert plan.stop.grace_seconds == 7
    assert plan.stop.pre_stop_exec == ("/bin/sh", "-c", "echo bye")


def test_an_http_pre_stop_and_the_ports_come_from_the_request() -> None:
    body = crr().to_wire()
    http_get = {"path": "/bye", "port": "web"}
    body["spec"]["containers"][0]["preStop"] = {"httpGet": http_get}
    body["spec"]["containers"][0]["ports"] = [{"name": "web", "containerPort": 8080}]
    body["status"]["containerRecreateStates"] = [{"name": "app", "phase": "Pending", "isKilled": False}]
    plan = plan_pod([ContainerRecreateRequest.from_wire(body)], [running("app")], NOW)
    assert plan.stop is not None
    assert plan.stop.pre_stop_exec is None
    assert plan.stop.pre_stop == {"httpGet": http_get}
    assert plan.stop.ports == ({"name": "web", "containerPort": 8080},)
