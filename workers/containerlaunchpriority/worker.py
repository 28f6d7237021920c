"""The container-launch-priority worker shell, registered with the runtime as worker type
``containerlaunchpriority``.

Keys are pods (``<namespace>/<pod>``): the watcher routes a pod here while its containers wait
on their barrier (``watcher.config.PrimaryWhen.LAUNCH_PRIORITY_PENDING``, kruise's event
filter). ``observe`` reads the pod and its ``<pod>-barrier`` ConfigMap; ``plan`` runs
:func:`workers.containerlaunchpriority.planner.decide`; the default executor sends the ConfigMap
create, the merge patch adding the key and the pod's completed annotation (with the pod's uid as
a precondition: a pod re-created under the same name answers 409 and is observed again). kruise
emits no Event here, and neither does this worker. A barrier env kruise cannot read (no
``configMapKeyRef``, a key shorter than ``p_``) is dead-lettered at once with what to fix.
"""

from __future__ import annotations

import asyncio

from flotilla.runtime.kube import CONFIGMAPS, Resource
from schemas.bus.envelope import KeyParts
from workers.containerlaunchpriority import planner
from workers.podmechanics import launchpriority as lp
from workers.runtime import actions as runtime
from workers.runtime.contract import Plan, TerminalError, WorkerType
from workers.runtime.observe import StateReader
from workers.runtime.snapshot import KeyedSnapshot, NoConfig

POD = Resource("", "v1", "pods", "Pod")
FIELD_MANAGER = "flotilla-containerlaunchpriority"
Snapshot = KeyedSnapshot[planner.Observed]


async def observe(read: StateReader, key: KeyParts) -> Snapshot:
    pod, barrier = await asyncio.gather(
        read.get(POD, key.namespace, key.name), read.get(CONFIGMAPS, key.namespace, lp.barrier_name(key.name))
    )
    return KeyedSnapshot(key.namespace, key.name, planner.Observed(pod, barrier))


def plan(snapshot: Snapshot, _config: NoConfig, _now: float) -> Plan:
    observed = snapshot.observed
    if observed is None or observed.pod is None:
        return Plan(reason="pod gone")
    try:
        decided = planner.decide(observed)
    except lp.BarrierEnvError as err:
        raise TerminalError(
            f"container launch priority: {err}; kruise's webhook writes p_<priority>"
        ) from err
    ns, name = snapshot.namespace, snapshot.name
    actions: list[runtime.Action] = []
    if decided.create_barrier is not None:
        actions.append(runtime.CreateObject(CONFIGMAPS, ns, decided.create_barrier))
    if decided.add_key is not None:
        actions.append(
            runtime.PatchObject(CONFIGMAPS, ns, lp.barrier_name(name), {"data": {decided.add_key: "true"}})
        )
    if decided.mark_completed:
        uid = str((observed.pod.get("metadata") or {}).get("uid") or "")
        patch = {"metadata": {"uid": uid, "annotations": {lp.COMPLETED_ANNOTATION: "true"}}}
        actions.append(runtime.PatchObject(POD, ns, name, patch))
    return Plan(tuple(actions), None, decided.reason)


WORKER: WorkerType[Snapshot, NoConfig] = WorkerType(
    name="containerlaunchpriority",
    kind="Pod",
    resource=POD,
    observe=observe,
    plan=plan,
    config=NoConfig(),
    has_status=False,
    field_manager=FIELD_MANAGER,
)
