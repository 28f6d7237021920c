"""The rolling update of an Advanced StatefulSet (``rollingUpdateStatefulsetPods``) and pod deletion.

After scaling is settled: refresh every pod (``refresh``; a pass that moves a lifecycle state
stops there), stop when ``paused``; count the unavailable replicas (not healthy, an in-place
update not finished, or not yet available for ``minReadySeconds``); delete pods labelled
``apps.kruise.io/specified-delete`` within ``maxUnavailable``; then walk the pods to update
(``update_order``: by ordinal from the highest down to ``partition``, or with
``unorderedUpdate`` the updated / terminating pods first and the others in
``priorityStrategy`` order, at most ``replicas - partition``) and update each pod not at the
update revision while fewer than ``maxUnavailable`` (absolute or a percent of replicas, rounded
down, at least 1; honoured under OrderedReady too, kruise's extension) are unavailable.
Under ``InPlaceIfPossible`` / ``InPlaceOnly`` a pod whose change is images and metadata only is
updated in place (``podmechanics.inplaceupdate``, with the inPlaceUpdate hook's lifecycle), else
recreated (InPlaceOnly: the update stops with kruise's error). ``delete_or_hook`` is kruise's
``deletePod``: a pod matching the ``preDelete`` hook goes to PreparingDelete instead. Pure;
called by ``planner``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.kruise.base import resolve_int_or_percent
from schemas.kruise.pub import CONTROLLER_REVISION_HASH_LABEL, SPECIFIED_DELETE_LABEL
from schemas.kruise.statefulset import RollingUpdateStatefulSetStrategy
from workers.podmechanics.inplace import in_place_spec, update_completed
from workers.podmechanics.inplaceupdate import in_place_update
from workers.podmechanics.kube_json import format_time, name_of
from workers.podmechanics.lifecycle import transition
from workers.podmechanics.pods import PodView, is_hooked
from workers.podmechanics.revisions import template_of
from workers.podmechanics.updatesort import priority_sort
from workers.statefulset.podstate import is_healthy, is_terminating, wait_until_available
from workers.statefulset.refresh import refresh_pod

if TYPE_CHECKING:
    from workers.statefulset.state import Pass

#: kruise requeues a failed reconcile with backoff; a pass that stops on such an error comes back after this.
ERROR_REQUEUE_SECONDS = 5.0


def delete_or_hook(p: Pass, pod: PodView) -> tuple[bool, bool]:
    """``deletePod``: (modified, actually deleting)."""
    lifecycle = p.sts.spec.lifecycle
    hook = lifecycle.pre_delete if lifecycle is not None else None
    if hook is not None and is_hooked(hook, pod):
        moves = transition(
            pod,
            "PreparingDelete",
            format_time(p.now),
            mark_not_ready=hook.mark_pod_not_ready,
            resource_version=pod.resource_version,
        )
        p.out.pod_writes(moves)
        return bool(moves), False
    p.out.delete_pod(pod.name, pod.uid)
    return True, True


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
    pods: dict[int, PodView] = {}
    for target in range(len(p.slots) - 1, -1, -1):
        slot = p.slots[target]
        if slot is None:
            continue
        pods[target] = slot.pod
        if is_terminating(slot.pod) or slot.pod.revision == p.update_name:
            updated.append(target)
        else:
            waiting.append(target)
    strategy = rolling.unordered_update.priority_strategy
    if strategy is not None:
        index_of = {pods[i].name: i for i in waiting}
        waiting = [index_of[pod.name] for pod in priority_sort([pods[i] for i in waiting], strategy)]
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


def _in_place(p: Pass, pod: PodView) -> tuple[bool, str]:
    """``inPlaceUpdatePod``: (updating in place, error). Not in place: the caller recreates."""
    rolling = p.sts.spec.update_strategy.rolling_update
    policy = rolling.pod_update_policy
    if policy not in ("InPlaceIfPossible", "InPlaceOnly"):
        return False, ""
    old = next((r for r in p.observed_revisions if name_of(r) == pod.revision), None)
    grace = rolling.in_place_update_strategy.grace_period_seconds if rolling.in_place_update_strategy else 0
    spec = None
    if old is not None:
        spec = in_place_spec(
            template_of(old),
            p.sts.spec.template,
            p.update_name,
            grace or 0,
            env_from_metadata=p.config.in_place_update_env_from_metadata,
        )
    if spec is not None:
        writes, error = in_place_update(
            pod,
            spec,
            format_time(p.now),
            p.sts.spec.lifecycle,
            revision_labels={CONTROLLER_REVISION_HASH_LABEL: p.update_name},
            lifecycle_always=False,
        )
        if error:
            return True, error
        p.out.pod_writes(writes)
        return True, ""
    if policy == "InPlaceOnly":
        return False, f"find strategy is InPlaceOnly but Pod {pod.name} can not update in-place"
    return False, ""


def plan_rolling_update(p: Pass) -> str:
    """Update pods toward the update revision; the reason the shell logs."""
    pods = [s.pod for s in p.slots if s is not None and s.exists] + p.condemned
    moved = [pod.name for pod in pods if refresh_pod(p, pod)]
    if moved:
        return f"refreshed lifecycle state of {len(moved)} pod(s)"
    rolling = p.sts.spec.update_strategy.rolling_update
    if rolling.paused:
        return "rolling update paused"
    limit = max_unavailable(rolling, p.sts.spec.replicas)
    unavailable = _unavailable(p)
    specified = _specified_deletes(p, limit, unavailable)
    updated = 0
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
            in_place, error = _in_place(p, pod)
            if error:
                p.out.requeue(ERROR_REQUEUE_SECONDS)
                return f"rolling update stopped: {error}"
            actual = in_place
            if not in_place:
                actual = delete_or_hook(p, pod)[1]
            updated += 1
            if actual and pod.revision == p.current_name:
                p.current_delta -= 1
        unavailable.add(pod.name)
    return f"rolling update: {updated} pod(s) updated" if updated else "in sync"
