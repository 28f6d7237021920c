"""The shell's pure parts: registration, the plan adapter and the lowering onto runtime actions."""

from __future__ import annotations

from tests.unit.cloneset.cloneset_builders import NOW, cloneset, pod, rev_name, revision
from workers.cloneset import WORKER
from workers.cloneset.actions import PatchPod, UpdateStatus
from workers.cloneset.config import PlannerConfig
from workers.cloneset.lowering import CONTROLLER_REVISIONS, CloneSetPlan, CloneSetSnapshot, lower
from workers.cloneset.observed import ObservedCloneSet
from workers.cloneset.worker import plan
from workers.runtime import actions as runtime


def test_registered_as_cloneset() -> None:
    assert WORKER.name == "cloneset"
    assert WORKER.kind == "CloneSet"
    assert WORKER.resource.path("ns", "web") == "/apis/apps.kruise.io/v1alpha1/namespaces/ns/clonesets/web"


def _snapshot(observed: ObservedCloneSet | None) -> CloneSetSnapshot:
    raw = {"metadata": {"name": "web", "namespace": "ns", "uid": "cs-uid"}}
    return CloneSetSnapshot("ns", "web", observed, raw)


def test_gone_cloneset_plans_nothing() -> None:
    result = plan(_snapshot(None), PlannerConfig(), NOW.timestamp())
    assert result.actions == ()
    assert result.reason == "CloneSet is gone"


def test_plan_carries_steps_and_their_lowering() -> None:
    cs = cloneset(2)
    observed = ObservedCloneSet.of(cs, [], [], [], name_seed=3)
    result = plan(_snapshot(observed), PlannerConfig(), NOW.timestamp())
    assert isinstance(result, CloneSetPlan)
    kinds = [type(a).__name__ for a in result.actions]
    assert kinds[0] == "CreateObject"  # the revision
    assert result.actions[0].resource == CONTROLLER_REVISIONS  # type: ignore[union-attr]
    assert kinds.count("CreateObject") == 3  # revision + 2 pods
    assert kinds.count("EmitEvent") == 2  # SuccessfulCreate per pod
    for index, action in enumerate(result.actions):
        if isinstance(action, runtime.CreateObject) and action.resource != CONTROLLER_REVISIONS:
            # each pod's readiness-gate conditions follow its create, before its Event
            follow = result.actions[index + 1]
            assert isinstance(follow, runtime.PatchObject)
            assert (follow.name, follow.subresource, follow.patch_type) == (
                action.body["metadata"]["name"],  # type: ignore[index]
                "status",
                "strategic",
            )
            conditions = follow.patch["status"]["conditions"]  # type: ignore[index]
            assert [(c["type"], c["status"]) for c in conditions] == [
                ("InPlaceUpdateReady", "True"),
                ("KruisePodReady", "True"),
            ]
    assert kinds[-1] == "PatchObject"  # status, last
    status = result.actions[-1]
    assert isinstance(status, runtime.PatchObject)
    assert (status.subresource, status.patch_type) == ("status", "merge")


def test_pod_patch_carries_the_observed_resource_version() -> None:
    cs = cloneset(1)
    snap = _snapshot(ObservedCloneSet.of(cs, [pod("web-a", rev_name(cs))], [], [revision(cs)]))
    [write] = lower(snap, PatchPod("web-a", {"metadata": {"labels": {"x": "y"}}}, resource_version="7"))
    assert isinstance(write, runtime.PatchObject)
    assert write.patch == {"metadata": {"labels": {"x": "y"}, "resourceVersion": "7"}}
    assert write.patch_type == "strategic"


def test_status_lowering() -> None:
    [write] = lower(_snapshot(None), UpdateStatus({"replicas": 1}))
    assert isinstance(write, runtime.PatchObject)
    assert write.patch == {"status": {"replicas": 1}}


def test_runs_of_pod_writes_form_concurrent_segments() -> None:
    from workers.cloneset.act import _segments
    from workers.cloneset.actions import CreatePods, DeletePod, EmitEvent, warning

    a1 = PatchPod("a", {"x": 1})
    b1 = PatchPod("b", {"x": 1})
    a2 = PatchPod("a", {"x": 2})
    gone = DeletePod("c", "uid-c")
    event = EmitEvent(warning("R", "m"))
    create = CreatePods(())
    status = UpdateStatus({})
    segments = _segments((a1, b1, a2, event, gone, create, status))
    assert segments == [[a1, b1, a2], [event], [gone], [create], [status]]
