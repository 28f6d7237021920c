"""The CloneSet status of a pass counts each pod in the lifecycle state the pass leaves it in.

Under a fast kubelet (kwok; any node that starts containers before the worker's next pass) a
new pod is Running and Ready, with its readiness gates True, while its lifecycle label still says
``PreparingNormal``: the pass that moves it to ``Normal`` used to write ``readyReplicas`` 3 and
``availableReplicas`` 0 (kruise's ``IsPodAvailable`` wants Normal), and the next pass 3 and 3: a
status write right after the CloneSet read Ready, the one kruise's e2e specs meet as 409 when they
Update the copy they read then. Expected values by hand from kruise's ``calculateStatus``
(``cloneset_status.go``): three Running, Ready, scheduled pods, each Normal once the pass's
writes land.
"""

from __future__ import annotations

from typing import Any

from tests.unit.cloneset.cloneset_builders import cloneset, label, patched, pod, rev_name, run, status_of


def _counts(status: Any) -> tuple[int, ...]:
    keys = (
        "replicas",
        "readyReplicas",
        "availableReplicas",
        "updatedReadyReplicas",
        "updatedAvailableReplicas",
    )
    return tuple(status[k] for k in keys)


def test_pods_moved_to_normal_count_available_in_the_same_write() -> None:
    cs = cloneset(3)
    rev = rev_name(cs)
    preparing = [pod(f"web-{i}", rev, state="PreparingNormal") for i in "abc"]
    plan = run(cs, preparing)
    moves = patched(plan)
    assert sorted(moves) == ["web-a", "web-b", "web-c"]
    assert all(label(patches[-1], "lifecycle.apps.kruise.io/state") == "Normal" for patches in moves.values())
    status = status_of(plan)
    assert status is not None
    assert _counts(status) == (3, 3, 3, 3, 3)

    # the next pass sees the pods Normal and the status as written: nothing left to write
    settled = cloneset(3, status=dict(status))
    again = run(settled, [pod(f"web-{i}", rev, state="Normal") for i in "abc"])
    assert status_of(again) is None
    assert again.actions == ()


def test_a_pod_that_stays_preparing_is_not_available() -> None:
    """Unscheduled (kruise moves PreparingNormal -> Normal only once the pod is scheduled): it stays
    PreparingNormal and counts neither ready nor available."""
    cs = cloneset(2)
    rev = rev_name(cs)
    pods = [
        pod("web-a", rev, state="PreparingNormal"),
        pod("web-b", rev, state="PreparingNormal", scheduled=False, phase="Pending", ready=False),
    ]
    plan = run(cs, pods)
    assert sorted(patched(plan)) == ["web-a"]
    status = status_of(plan)
    assert status is not None
    assert _counts(status) == (2, 1, 1, 1, 1)
