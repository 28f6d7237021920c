"""The Advanced StatefulSet worker shell, registered with the runtime as worker type ``statefulset``.

``observe`` reads the set (``apps.kruise.io/v1beta1``), then, concurrently, through the
runtime's read port, as raw JSON: the pods, PVCs and ControllerRevisions its selector matches
(PVCs only when the set has volumeClaimTemplates) and the pods it owns that its selector no longer
matches (``podmechanics.strays``; the planner releases them), those LISTs narrowed by the
revisions its status names (``currentRevision``, ``updateRevision``). So a reconcile makes two
rounds of reads before it plans (the watch event to the first write is what kruise's e2e races
against, e.g. "PVC should be recreated when pod is pending"); a third only for the stray LISTs of
revisions the status does not name (a partitioned rollout over three revisions). When the
selector LIST returned fewer owned pods than ``status.replicas`` counted, or the status says a
pod create met a pod the set could not see (``failurestatus``), it reads every pod of the
namespace instead of the stray LISTs, as kruise does, which also finds an owned pod stripped of
the labels the stray LISTs rely on. ``plan`` adapts
:func:`workers.statefulset.planner.plan` to the runtime contract; ``act`` (``act`` module)
executes it. ``flotilla worker statefulset`` finds ``WORKER`` through ``workers.statefulset``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from pydantic import ValidationError

from flotilla.runtime.kube import PODS
from flotilla.runtime.kube import JsonObject as KubeJson
from schemas.bus.envelope import KeyParts
from schemas.kruise.pub import CONTROLLER_REVISION_HASH_LABEL
from schemas.kruise.selectors import selector_error
from schemas.kruise.statefulset import POD_NAME_LABEL, StatefulSet
from workers.podmechanics.kube_json import mapping, name_of, uid_of
from workers.podmechanics.ownership import selector_string
from workers.podmechanics.strays import owned_pods_missing, owned_strays, stray_selectors
from workers.runtime.contract import Plan, TerminalError, WorkerType
from workers.runtime.observe import StateReader
from workers.statefulset.act import FIELD_MANAGER, act
from workers.statefulset.builder import CONTROLLER_REVISIONS, PVCS, STATEFULSETS
from workers.statefulset.failurestatus import create_met_unseen_pod
from workers.statefulset.observed import ObservedStatefulSet, PlannerConfig, planner_config
from workers.statefulset.planner import plan as plan_statefulset


async def _nothing() -> list[KubeJson]:
    return []


async def observe(read: StateReader, key: KeyParts) -> ObservedStatefulSet | None:
    raw = await read.get(STATEFULSETS, key.namespace, key.name)
    if raw is None:
        return None
    try:
        sts = StatefulSet.from_wire(raw)
    except ValidationError as err:
        raise TerminalError(f"StatefulSet {key.namespace}/{key.name} cannot be read: {err}") from err
    problem = selector_error(sts.spec.selector)
    if problem is not None:
        raise TerminalError(f"StatefulSet {key.namespace}/{key.name} has an invalid selector: {problem}")
    selector = selector_string(sts.spec.selector)
    wants_claims = bool(sts.spec.volume_claim_templates)
    status = mapping(raw, "status")
    namespace_wide = create_met_unseen_pod(status)
    known = {str(status[f]) for f in ("currentRevision", "updateRevision") if status.get(f)}
    early = () if namespace_wide else _stray_selectors(sts, known)
    selected, claims, revisions, *found = await asyncio.gather(
        read.list(PODS, key.namespace, label_selector=selector),
        read.list(PVCS, key.namespace, label_selector=selector) if wants_claims else _nothing(),
        read.list(CONTROLLER_REVISIONS, key.namespace, label_selector=selector),
        *(read.list(PODS, key.namespace, label_selector=s) for s in early),
    )
    uid = uid_of(raw)
    seen = {uid_of(p) for p in selected}
    if namespace_wide or owned_pods_missing(sts.status.replicas, selected, uid):
        # kruise's read: every pod of the namespace, in place of the stray LISTs it covers
        strays = owned_strays(await read.list(PODS, key.namespace), uid, seen)
    else:
        # the stray LISTs of revisions the status did not name (read once the revisions are known)
        late = [s for s in _stray_selectors(sts, {name_of(r) for r in revisions} - known) if s not in early]
        found += await asyncio.gather(*(read.list(PODS, key.namespace, label_selector=s) for s in late))
        strays = owned_strays((p for pods in found for p in pods), uid, seen)
    pods = [*selected, *strays]
    return ObservedStatefulSet(sts, raw, tuple(pods), tuple(claims), tuple(revisions))


def _stray_selectors(sts: StatefulSet, revisions: set[str]) -> tuple[str, ...]:
    """The LISTs of the set's pods its selector no longer matches (the planner releases them):
    pods with the pod-name label and one of ``revisions`` (or none) that fail a selector
    requirement."""
    return stray_selectors(sts.spec.selector, POD_NAME_LABEL, CONTROLLER_REVISION_HASH_LABEL, revisions)


def plan(observed: ObservedStatefulSet | None, config: PlannerConfig, now: float) -> Plan:
    if observed is None:
        return Plan(reason="StatefulSet is gone")
    return plan_statefulset(observed, config, datetime.fromtimestamp(now, UTC))


WORKER: WorkerType[ObservedStatefulSet | None, PlannerConfig] = WorkerType(
    name="statefulset",
    kind="StatefulSet",
    resource=STATEFULSETS,
    observe=observe,
    plan=plan,
    config=PlannerConfig(),
    configure=planner_config,
    act=act,
    has_status=True,
    field_manager=FIELD_MANAGER,
)
