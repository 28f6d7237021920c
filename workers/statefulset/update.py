"""The rolling update of an Advanced StatefulSet (``rollingUpdateStatefulsetPods``) and pod deletion.

After scaling is settled: bring lifecycle states up to date (a pass that changes one stops
there), stop when ``paused``; count the unavailable replicas (not healthy, an in-place update
not finished, or not yet available for ``minReadySeconds``); delete pods labelled
``apps.kruise.io/specified-delete`` within ``maxUnavailable``; then walk the pods to update
(``update_order``: by ordinal from the highest down to ``partition``, or with
``unorderedUpdate`` the updated / terminating pods first and the others in
``priorityStrategy`` order, at most ``replicas - partition``) and recreate each pod not at the
update revision while fewer than ``maxUnavailable`` (absolute or a percent of replicas,
rounded down, at least 1; honoured under OrderedReady too, kruise's extension) are unavailable.
``delete_or_hook`` is kruise's ``deletePod``: a pod matching the ``preDelete`` hook goes to
PreparingDelete instead. Pure; called by ``planner``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.kruise.base import resolve_int_or_percent
from schemas.kruise.pub import SPECIFIED_DELETE_LABEL
from schemas.kruise.statefulset import RollingUpdateStatefulSetStrategy
from workers.cloneset.inplace import update_completed
from workers.cloneset.lifecycle import lifecycle_patch
from workers.cloneset.podsort import priority_sort
from workers.podmechanics.kube_json import format_time
from workers.podmechanics.pods import PodView, is_all_hooked, is_hooked
from workers.statefulset.podstate import is_created, is_healthy, is_terminating, wait_until_available

if TYPE_CHECKING:
    from workers.statefulset.state import Pass


def delete_or_hook(p: Pass, pod: PodView) -> tuple[bool, bool]:
    """``deletePod``: (modified, actually deleting)."""
    lifecycle = p.sts.spec.lifecycle
    hook = lifecycle.pre_delete if lifecycle is not None else None
    if hook is not None and is_hooked(hook, pod):
        if pod.lifecycle_state == "PreparingDelete":
            return False, False
        p.out.update_pod(pod.name, lifecycle_patch("PreparingDelete", format_time(p.now)), evented=False)
        return True, False
    p.out.delete_pod(pod.name, pod.uid)
    return True, True


def refresh_lifecycle(p: Pass, pod: PodView) -> bool:
    """The lifecycle half of ``refreshPodState``: PreparingNormal -> Normal once preNormal is met,
    Updated -> Normal once the inPlaceUpdate hook is back. True when the pod was patched."""
    lifecycle = p.sts.spec.lifecycle
    state = ""
    if pod.lifecycle_state == "PreparingNormal":
        pre_normal = lifecycle.pre_normal if lifecycle is not None else None
        if pre_normal is None or is_all_hooked(pre_normal, pod):
            state = "Normal"
    elif pod.lifecycle_state == "Updated":
        hook = lifecycle.in_place_update if lifecycle is not None else None
        if hook is None or is_all_hooked(hook, pod):
            state = "Normal"
    if not state or not is_created(pod):
        return False
    p.out.update_pod(pod.name, lifecycle_patch(state, format_time(p.now)), evented=False)
    p.refreshed.add(pod.name)
    return True


def max_unavailable(rolling: RollingUpdateStatefulSetStrategy, replicas: int) -> int:
    return max(resolve_int_or_percent(rolling.max_unavailable, replicas, round_up=False), 1)


def update_order(p: Pass) -> list[int]:
    """``sortPodsToUpdate``: slot indexes in the order they are updated."""
    rolling = p.sts.spec.update_strategy.rolling_update
    partition = rolling.partition
    most = p.sts.spec.replicas - partition
    if most <= 0:
        return []
    if rolling.unordered_update is None:
        indexes: list[int] = []
        for target in range(len(p.slots) - 1, partition - 1, -1):
            if len(indexes) >= most:
                break
            if p.slots[target] is not None:
                indexes.append(target)
        return indexes
    updated: list[int] = []
    waiting: list[int] = []
    for target in range(len(p.slots) - 1, -1, -1):
        slot = p.slots[target]
        if slot is None:
            continue
        if is_terminating(slot.pod) or slot.pod.revision == p.update_name:
            updated.append(target)
        else:
            waiting.append(target)
    strategy = rolling.unordered_update.priority_strategy
    if strategy is not None:
        index_of = {p.slots[i].pod.name: i for i in waiting}  # type: ignore[union-attr]
        ordered = priority_sort([p.slots[i].pod for i in waiting], strategy)  # type: ignore[union-attr]
        waiting = [index_of[pod.name] for pod in ordered]
    return (updated + waiting)[:most]


def _unavailable(p: Pass) -> set[str]:
    names: set[str] = set()
    for slot in p.slots:
        if slot is None:
            continue
        pod = slot.pod
        if not is_healthy(pod) or not update_completed(pod):
            names.add(pod.name)
            continue
        wait = wait_until_available(pod, p.min_ready_seconds, p.now)
        if wait is not None:
            names.add(pod.name)
            p.out.requeue(wait)
    return names


def _count_deleted(p: Pass, pod: PodView, *, both: bool) -> None:
    if pod.revision == p.current_name:
        p.current_delta -= 1
    elif both and pod.revision == p.update_name:
        p.updated_delta -= 1


def _specified_deletes(p: Pass, limit: int, unavailable: set[str]) -> set[str]:
    """``handleSpecifiedDeletedPods``: from the highest ordinal down, within ``maxUnavailable``."""
    deleted: set[str] = set()
    for slot in reversed(p.slots):
        if slot is None or not slot.exists or SPECIFIED_DELETE_LABEL not in slot.pod.labels:
            continue
        pod = slot.pod
        if len(unavailable) >= limit and pod.name not in unavailable:
            continue
        deleted.add(pod.name)
        if delete_or_hook(p, pod)[1]:
            _count_deleted(p, pod, both=True)
        unavailable.add(pod.name)
    return deleted


def plan_rolling_update(p: Pass) -> str:
    """Update pods toward the update revision; the reason the shell logs."""
    pods = [s.pod for s in p.slots if s is not None and s.exists] + p.condemned
    refreshed = [pod.name for pod in pods if pod.name in p.refreshed or refresh_lifecycle(p, pod)]
    if refreshed:
        return f"refreshed lifecycle state of {len(refreshed)} pod(s)"
    rolling = p.sts.spec.update_strategy.rolling_update
    if rolling.paused:
        return "rolling update paused"
    limit = max_unavailable(rolling, p.sts.spec.replicas)
    unavailable = _unavailable(p)
    specified = _specified_deletes(p, limit, unavailable)
    recreated = 0
    for target in update_order(p):
        slot = p.slots[target]
        assert slot is not None
        pod = slot.pod
        if not slot.exists or pod.revision == p.update_name:
            continue
        if len(unavailable) >= limit and pod.name not in unavailable:
            return (
                f"rolling update: {len(unavailable)} unavailable (maxUnavailable {limit}), {pod.name} waits"
            )
        if pod.name not in specified and not is_terminating(pod):
            _, actual = delete_or_hook(p, pod)
            recreated += 1
            if actual:
                _count_deleted(p, pod, both=False)
        unavailable.add(pod.name)
    return f"rolling update: {recreated} pod(s) recreated" if recreated else "in sync"
