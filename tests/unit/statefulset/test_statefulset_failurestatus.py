"""kruise's ``FailedCreatePod`` / ``FailedUpdatePod`` status conditions, worked out by hand from
kruise v1.9.1's pkg/controller/statefulset: ``processReplica`` sets ``FailedCreatePod`` (status
True, no reason, "StatefulPodControl failed to create Pod error: <err>", a new
lastTransitionTime) when ``CreateStatefulPod`` fails, AlreadyExists included (it is sunk without an
Event, not without the error), and ``FailedUpdatePod`` when ``UpdateStatefulPod`` (the identity
fix) fails; ``updateStatefulSet`` starts every pass from an empty status, so the next status write
of a pass where nothing failed has no such condition. The API is faked by recording each action;
the plans are the real planner's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from flotilla.runtime.errors import AlreadyExists, KubeError, Terminal
from tests.unit.statefulset.sts_builders import NOW, pod, run, status_of, steps, sts
from tests.unit.statefulset.test_statefulset_planner import REV_A, REVS, A
from workers.runtime import actions as runtime
from workers.statefulset import act as act_module
from workers.statefulset.failurestatus import create_met_unseen_pod
from workers.statefulset.observed import ObservedStatefulSet, PlannerConfig
from workers.statefulset.planner import plan

WHEN = "2026-11-29T12:00:00Z"  # the builders' NOW
QUOTA = 'pods "web-0" is forbidden: exceeded quota: q'


def _recording(fails: type, error: KubeError, sent: list[runtime.Action]) -> object:
    async def execute(api: object, action: runtime.Action, manager: str) -> None:
        del api, manager
        sent.append(action)
        on_pods = getattr(getattr(action, "resource", None), "plural", "") == "pods"
        if isinstance(action, fails) and on_pods and getattr(action, "subresource", "") != "status":
            raise error

    return execute


def _set_status(sent: list[runtime.Action]) -> list[dict[str, Any]]:
    return [
        dict(a.patch["status"])
        for a in sent
        if isinstance(a, runtime.PatchObject)
        and a.subresource == "status"
        and a.resource.plural == "statefulsets"
    ]


async def test_a_failed_pod_create_writes_failed_create_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[runtime.Action] = []
    monkeypatch.setattr(runtime, "execute_action", _recording(runtime.CreateObject, Terminal(QUOTA), sent))
    with pytest.raises(Terminal):
        await act_module.act(object(), None, run(sts(1), [], REVS))  # type: ignore[arg-type]
    [status] = _set_status(sent)
    assert status["conditions"] == [
        {
            "type": "FailedCreatePod",
            "status": "True",
            "lastTransitionTime": WHEN,
            "message": f"StatefulPodControl failed to create Pod error: {QUOTA}",
        }
    ]
    # the failing pass's own status, as kruise's is written with it: nothing created yet
    assert (status["observedGeneration"], status["replicas"]) == (2, 0)
    assert not create_met_unseen_pod(status)


async def test_the_same_failure_again_writes_no_status(monkeypatch: pytest.MonkeyPatch) -> None:
    # a failure that repeats (the runtime retries) must not write, and so trigger, the set again
    # and again: the condition keeps its transition time and a status already stored is skipped
    sent: list[runtime.Action] = []
    monkeypatch.setattr(runtime, "execute_action", _recording(runtime.CreateObject, Terminal(QUOTA), sent))
    with pytest.raises(Terminal):
        await act_module.act(object(), None, run(sts(1), [], REVS))  # type: ignore[arg-type]
    [first] = _set_status(sent)
    body = sts(1, status=first)
    later = plan(ObservedStatefulSet.of(body, revisions=REVS), PlannerConfig(), NOW + timedelta(minutes=5))
    sent.clear()
    with pytest.raises(Terminal):
        await act_module.act(object(), ObservedStatefulSet.of(body, revisions=REVS), later)  # type: ignore[arg-type]
    assert _set_status(sent) == []
    assert [a.reason for a in sent if isinstance(a, runtime.EmitEvent)] == ["FailedCreate"]


async def test_a_create_meeting_an_existing_pod_fails_without_an_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[runtime.Action] = []
    error = AlreadyExists(
        'POST /api/v1/namespaces/ns/pods: 409 AlreadyExists pods "web-0" already exists',
        status=409,
        reason="AlreadyExists",
    )
    monkeypatch.setattr(runtime, "execute_action", _recording(runtime.CreateObject, error, sent))
    with pytest.raises(AlreadyExists):
        await act_module.act(object(), None, run(sts(1), [], REVS))  # type: ignore[arg-type]
    assert [a for a in sent if isinstance(a, runtime.EmitEvent)] == []
    [status] = _set_status(sent)
    [condition] = status["conditions"]
    assert condition["message"] == (
        "StatefulPodControl failed to create Pod error: POST /api/v1/namespaces/ns/pods: 409 "
        'AlreadyExists pods "web-0" already exists'
    )
    assert create_met_unseen_pod(status)  # observe then reads the whole namespace


async def test_a_failed_identity_fix_writes_failed_update_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    drifted = pod(0, A)
    del drifted["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"]
    plan = run(sts(1, status={"currentRevision": A}), [drifted], [REV_A])
    assert steps(plan) == ["patch pods web-0"]
    sent: list[runtime.Action] = []
    error = KubeError("etcdserver: request timed out", status=500)
    monkeypatch.setattr(runtime, "execute_action", _recording(runtime.PatchObject, error, sent))
    with pytest.raises(KubeError):
        await act_module.act(object(), None, plan)  # type: ignore[arg-type]
    [status] = _set_status(sent)
    assert status["conditions"] == [
        {
            "type": "FailedUpdatePod",
            "status": "True",
            "lastTransitionTime": WHEN,
            "message": "StatefulPodControl failed to update Pod error: etcdserver: request timed out",
        }
    ]


FAILED = {
    "type": "FailedCreatePod",
    "status": "True",
    "lastTransitionTime": "2026-11-29T11:00:00Z",
    "message": "StatefulPodControl failed to create Pod error: boom",
}
RESOLVED = {  # Flotilla's own: a refused spec, since fixed (validation); kruise has none
    "type": "FailedUpdatePod",
    "status": "False",
    "reason": "Resolved",
    "lastTransitionTime": "2026-11-29T10:00:00Z",
}


def test_the_next_status_write_clears_it_and_a_pass_without_one_keeps_it() -> None:
    # web-0 exists now: replicas 0 -> 1 is a status write, and kruise's fresh status has no
    # FailedCreatePod; Flotilla's Resolved condition stays
    stale = {"observedGeneration": 2, "replicas": 0, "conditions": [RESOLVED, FAILED]}
    written = status_of(run(sts(1, status=stale), [pod(0, A)], REVS))
    assert written["conditions"] == [RESOLVED]
    # the same pass once more, its status already stored: no write, the condition stays
    stored = {**written, "conditions": [RESOLVED, FAILED]}
    assert status_of(run(sts(1, status=stored), [pod(0, A)], REVS)) == {}


def test_a_pass_that_creates_nothing_attaches_no_failure_status() -> None:
    stored = status_of(run(sts(1), [pod(0, A)], REVS))
    assert run(sts(1, status=stored), [pod(0, A)], REVS).failure_status == ()
