"""The order ``act`` sends a plan's writes in: plan order, only the set's own status last.

kruise's in-place update turns the pod's InPlaceUpdateReady False (a status write carrying the
pod's resourceVersion) before it patches the pod; sent after the pod patch, that write met a
409 and the pod ran its grace period still Ready (kruise's e2e "should in-place update pods when
the pod update strategy is InPlace" saw ss-0 Ready at the old image). The API is faked by
recording each action instead of sending it; the plan is the real planner's."""

from __future__ import annotations

import pytest

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
