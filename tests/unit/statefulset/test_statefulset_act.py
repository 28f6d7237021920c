"""The order ``act`` sends a plan's writes in: plan order, only the set's own status last.

kruise's in-place update turns the pod's InPlaceUpdateReady False (a status write carrying the
pod's resourceVersion) before it patches the pod; sent after the pod patch, that write met a
409 and the pod ran its grace period still Ready (kruise's e2e "should in-place update pods when
the pod update strategy is InPlace" saw ss-0 Ready at the old image). The API is faked by
recording each action instead of sending it; the plan is the real planner's."""

from __future__ import annotations

import pytest

from flotilla.runtime.errors import KubeError, Terminal
from tests.unit.statefulset.sts_builders import IMAGE_B, pod, run, sts
from tests.unit.statefulset.test_statefulset_planner import REVS, A
from workers.runtime import actions as runtime
from workers.statefulset import act as act_module
from workers.statefulset.builder import STATEFULSETS


def _label(action: runtime.Action) -> str:
    match action:
        case runtime.PatchObject(resource, _, name, _patch, _pt, subresource):
            return f"{resource.plural}/{name}" + (f"/{subresource}" if subresource else "")
    return type(action).__name__


async def test_pod_status_write_precedes_its_in_place_patch_and_set_status_goes_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = sts(
        3,
        image=IMAGE_B,
        updateStrategy={"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible"}},
        status={"currentRevision": A},
    )
    pods = [pod(0, A), pod(1, A), pod(2, A)]
    for one in pods:  # pods as kruise's pod-readiness gate leaves them
        one["spec"]["readinessGates"] = [{"conditionType": "InPlaceUpdateReady"}]
        one["status"]["conditions"].append({"type": "InPlaceUpdateReady", "status": "True"})
    plan = run(body, pods, REVS)
    sent: list[str] = []

    async def record(api: object, action: runtime.Action, manager: str) -> None:
        del api, manager
        sent.append(_label(action))

    monkeypatch.setattr(runtime, "execute_action", record)
    await act_module.act(object(), None, plan)  # type: ignore[arg-type]
    writes = [s for s in sent if "/" in s]
    assert writes == ["pods/web-2/status", "pods/web-2", f"{STATEFULSETS.plural}/web/status"]


def _failing(fails_on: str, error: KubeError, emitted: list[tuple[str, str, str]]) -> object:
    async def execute(api: object, action: runtime.Action, manager: str) -> None:
        del api, manager
        if isinstance(action, runtime.EmitEvent):
            emitted.append((action.type, action.reason, action.message))
        elif type(action).__name__ == fails_on:
            raise error

    return execute


async def test_a_failed_pod_create_writes_kruises_failed_create_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # kruise's recordPodEvent("create", ..., err): Warning FailedCreate with the API error; no
    # SuccessfulCreate, and the error goes back to the runtime (retry)
    emitted: list[tuple[str, str, str]] = []
    error = Terminal('pods "web-0" is forbidden: exceeded quota: q', status=403)
    monkeypatch.setattr(runtime, "execute_action", _failing("CreateObject", error, emitted))
    with pytest.raises(Terminal):
        await act_module.act(object(), None, run(sts(1), [], REVS))  # type: ignore[arg-type]
    assert emitted == [
        (
            "Warning",
            "FailedCreate",
            'create Pod web-0 in StatefulSet web failed error: pods "web-0" is forbidden: exceeded quota: q',
        )
    ]


async def test_a_failed_pod_delete_writes_both_of_kruises_failed_delete_warnings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # scale 2 -> 1 deletes web-1; kruise's DeleteStatefulPod records "delete Pod ... failed error"
    # and deletePod then "failed to delete pod web-1: ..." (stateful_set_control.go deletePod)
    emitted: list[tuple[str, str, str]] = []
    error = KubeError("etcdserver: request timed out", status=500)
    monkeypatch.setattr(runtime, "execute_action", _failing("DeleteObject", error, emitted))
    plan = run(sts(1, status={"currentRevision": A}), [pod(0, A), pod(1, A)], REVS)
    with pytest.raises(KubeError):
        await act_module.act(object(), None, plan)  # type: ignore[arg-type]
    assert emitted == [
        (
            "Warning",
            "FailedDelete",
            "delete Pod web-1 in StatefulSet web failed error: etcdserver: request timed out",
        ),
        ("Warning", "FailedDelete", "failed to delete pod web-1: etcdserver: request timed out"),
    ]


async def test_events_follow_the_set_status(monkeypatch: pytest.MonkeyPatch) -> None:
    # kruise's recorder sends Events asynchronously, so its status write comes right after the
    # pod create; the SuccessfulCreate Event no longer delays the status (the e2e spec "PVC should
    # be recreated when pod is pending" reads readyReplicas right after the pod is re-created)
    sent: list[str] = []

    async def record(api: object, action: runtime.Action, manager: str) -> None:
        del api, manager
        sent.append(_label(action) if not isinstance(action, runtime.EmitEvent) else action.reason)

    monkeypatch.setattr(runtime, "execute_action", record)
    await act_module.act(object(), None, run(sts(1), [], [REVS[0]]))  # type: ignore[arg-type]
    assert sent == ["CreateObject", f"{STATEFULSETS.plural}/web/status", "SuccessfulCreate"]
