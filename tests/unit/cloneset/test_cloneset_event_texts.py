"""The Events a CloneSet plan carries, side by side with kruise v1.9.1's ``r.recorder.Eventf`` calls:
type, reason and message, each formatted by hand from kruise's format string (file:line per row;
``{error}`` is where the API server's error goes, as kruise's ``%v`` of err). Pure (plans only)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.cloneset.cloneset_builders import UID, cloneset, pod, rev_name, revision, run
from workers.cloneset.actions import CreatePods, EmitEvent, Plan


def _events(plan: Plan) -> set[tuple[str, str, str]]:
    """Every Event the plan may write: planned ones, and each write's success / failure Event."""
    found: set[tuple[str, str, str]] = set()
    steps: list[Any] = []
    for action in plan.actions:
        steps.extend(action.pods if isinstance(action, CreatePods) else [action])
    for step in steps:
        records = [getattr(step, "success_event", None), getattr(step, "failure_event", None)]
        if isinstance(step, EmitEvent):
            records.append(step.event)
        found.update((r.type, r.reason, r.message) for r in records if r is not None)
    return found


def _pvc(name: str, instance: str) -> dict[str, Any]:
    owner = {"kind": "CloneSet", "name": "web", "uid": UID, "controller": True}
    labels = {"app": "web", "apps.kruise.io/cloneset-instance-id": instance}
    return {"metadata": {"name": name, "uid": f"uid-{name}", "labels": labels, "ownerReferences": [owner]}}


def _scale_in() -> Plan:
    cs = cloneset(1)
    # the victim: web-b, not ready (kruise's scale-in order deletes unready pods first)
    return run(cs, [pod("web-a", rev_name(cs)), pod("web-b", rev_name(cs), ready=False)])


def _pvc_cleanup() -> Plan:
    cs = cloneset(
        1, claim_templates=[{"metadata": {"name": "data"}, "spec": {}}], scale={"disablePVCReuse": True}
    )
    rev = rev_name(cs)
    finished = pod("web-f", rev, phase="Failed", ready=False)
    return run(
        cs, [pod("web-a", rev), finished], pvcs=[_pvc("data-web-gone", "gone"), _pvc("data-web-f", "f")]
    )


def _update(strategy: dict[str, Any]) -> tuple[Plan, str]:
    old_cs = cloneset(1, image="nginx:1", strategy=strategy)
    old = rev_name(old_cs)
    new_cs = cloneset(1, image="nginx:2", strategy=strategy, status={"currentRevision": old})
    new = rev_name(new_cs)
    return run(new_cs, [pod("web-a", old)], [revision(old_cs, 1), revision(new_cs, 2)]), new


def _recreate() -> Plan:
    return _update({"type": "ReCreate"})[0]


def _in_place() -> Plan:
    return _update({"type": "InPlaceIfPossible"})[0]


def _revision(strategy: str) -> str:
    return _update({"type": strategy})[1]


def _scale_up_limited() -> Plan:
    cs = cloneset(3, scale={"maxUnavailable": 1})
    return run(cs, [pod("web-a", rev_name(cs), ready=False)])


# (row id, the plan, kruise's Event (type, reason, message))
CASES = [
    (
        # pkg/controller/cloneset/sync/cloneset_scale.go:290
        "scale in: pod deleted",
        _scale_in,
        ("Normal", "SuccessfulDelete", "succeed to delete pod web-b"),
    ),
    (
        # cloneset_scale.go:286
        "scale in: pod delete failed",
        _scale_in,
        ("Warning", "FailedDelete", "failed to delete pod web-b: {error}"),
    ),
    (
        # pkg/controller/cloneset/cloneset_controller.go:733 (deleteOnePVC)
        "disablePVCReuse: PVC delete failed",
        _pvc_cleanup,
        ("Warning", "FailedDelete", "failed to clean up PVC data-web-gone: {error}"),
    ),
    (
        # cloneset_controller.go:723 (updateOnePVC: the owner handed to the finished pod)
        "disablePVCReuse: PVC update failed",
        _pvc_cleanup,
        ("Warning", "FailedUpdate", "failed to update PVC data-web-f: {error}"),
    ),
    (
        # pkg/controller/cloneset/sync/cloneset_update.go:335-336
        "ReCreate: pod marked",
        _recreate,
        (
            "Normal",
            "SuccessfulUpdatePodReCreate",
            f"successfully patch pod web-a specified-delete for update(revision {_revision('ReCreate')})",
        ),
    ),
    (
        # cloneset_update.go:328-329
        "ReCreate: mark failed",
        _recreate,
        (
            "Warning",
            "FailedUpdatePodReCreate",
            f"failed to patch pod specified-delete web-a for update(revision {_revision('ReCreate')}): "
            "{error}",
        ),
    ),
    (
        # cloneset_update.go:309
        "in place: pod updated",
        _in_place,
        (
            "Normal",
            "SuccessfulUpdatePodInPlace",
            f"successfully update pod web-a in-place(revision {_revision('InPlaceIfPossible')})",
        ),
    ),
    (
        # cloneset_update.go:314
        "in place: update failed",
        _in_place,
        (
            "Warning",
            "FailedUpdatePodInPlace",
            f"failed to update pod web-a in-place(revision {_revision('InPlaceIfPossible')}): {{error}}",
        ),
    ),
    (
        # cloneset_scale.go:75: 2 to create, 1 unavailable allowed and web-a is not ready
        "scale up limited by maxUnavailable",
        _scale_up_limited,
        ("Warning", "ScaleUpLimited", "scaleUp is limited because of scaleStrategy.maxUnavailable, limit: 0"),
    ),
]


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_plan_carries_kruises_event(make: Any, expected: tuple[str, str, str]) -> None:
    assert expected in _events(make())
