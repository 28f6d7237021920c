"""The Advanced StatefulSet worker shell, registered with the runtime as worker type ``statefulset``.

``observe`` reads the set (``apps.kruise.io/v1beta1``) and, concurrently, through the
runtime's read port, as raw JSON: the pods, PVCs and ControllerRevisions its selector matches
(PVCs only when the set has volumeClaimTemplates) and the pods it owns that its selector no longer
matches (``podmechanics.strays``; the planner releases them), those LISTs narrowed by the
revisions its status names (``currentRevision``, ``updateRevision``). The LISTs go out with the
set's GET when the set's last read in this process asked for the same ones (``reads``), else
after it: one round of reads before the plan, two on a process's first look at a set or after
its selector, claim templates or named revisions changed (the watch event to the first write is
what kruise's e2e races against, e.g. "PVC should be recreated when pod is pending"). One more
only for the stray LISTs of revisions the status does not name (a partitioned rollout over three
revisions). The stray LISTs go out only when a stray may exist (``runtime.strayreads.strays_due``: a first
look, new revisions, a resync trigger, every 300 s; or, in a second round, an event of a pod the
selector LIST did not return that its count does not explain): a relabelled pod triggers its set.
When the selector LIST returned fewer owned pods than ``status.replicas`` counted, or
the status says a pod create met a pod the set could not see (``failurestatus``), it reads every
pod of the namespace instead of the stray LISTs, as kruise does, which also finds an owned pod
stripped of the labels the stray LISTs rely on; not when the trigger being answered names the one
pod missing (``reads.trigger_explains_missing_pod``: it was deleted). Its ImagePullJobs only
when the pass may delete them and a LIST has not found them gone already
(``predownload.image_pull_jobs``). ``plan`` adapts
:func:`workers.statefulset.planner.plan` to the runtime contract; ``act`` (``act`` module)
executes it; a plan that only writes the status gives way to a trigger that came in meanwhile
and shows what the pass did not see (``outdated``). ``flotilla worker statefulset`` finds
``WORKER`` through ``workers.statefulset``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from pydantic import ValidationError

from flotilla.runtime.kube import PODS
from flotilla.runtime.kube import JsonObject as KubeJson
from schemas.bus.envelope import KeyParts
from schemas.kruise.selectors import selector_error
from schemas.kruise.statefulset import StatefulSet
from workers.podmechanics.kube_json import mapping, name_of, uid_of
from workers.podmechanics.strays import owned_pods_missing, owned_strays
from workers.runtime.contract import Plan, TerminalError, WorkerType
from workers.runtime.observe import StateReader, current_trigger
from workers.runtime.strayreads import LastRead, strays_due, trigger_names_unseen_pod
from workers.statefulset.act import FIELD_MANAGER, act
from workers.statefulset.builder import CONTROLLER_REVISIONS, PVCS, STATEFULSETS
from workers.statefulset.observed import ObservedStatefulSet, PlannerConfig, planner_config
from workers.statefulset.outdated import outdated_by
from workers.statefulset.planner import plan as plan_statefulset
from workers.statefulset.predownload import JOBS_GONE, image_pull_jobs
from workers.statefulset.reads import (
    LAST_READS,
    Reads,
    named_revisions,
    reads_of,
    statefulset_strays,
    trigger_explains_missing_pod,
)


async def _nothing() -> list[KubeJson]:
    return []


async def _first_round(read: StateReader, key: KeyParts, reads: Reads, strays: bool) -> list[list[KubeJson]]:
    """The LISTs of ``reads``: selected pods, PVCs, revisions, then (``strays``) one per stray selector."""
    return list(
        await asyncio.gather(
            read.list(PODS, key.namespace, label_selector=reads.selector),
            read.list(PVCS, key.namespace, label_selector=reads.selector) if reads.claims else _nothing(),
            read.list(CONTROLLER_REVISIONS, key.namespace, label_selector=reads.selector),
            *(read.list(PODS, key.namespace, label_selector=s) for s in (reads.strays if strays else ())),
        )
    )


async def observe(read: StateReader, key: KeyParts) -> ObservedStatefulSet | None:
    ref = (key.namespace, key.name)
    at = time.monotonic()
    trigger = current_trigger()
    last = LAST_READS.get(ref)
    lists: list[list[KubeJson]] | None = None
    if last is None:
        raw = await read.get(STATEFULSETS, key.namespace, key.name)
    else:  # the LISTs the set's last read asked for, sent with its GET (checked below)
        raw, lists = await asyncio.gather(
            read.get(STATEFULSETS, key.namespace, key.name),
            _first_round(read, key, last.reads, strays_due(last, None, trigger, at)),
        )
    if raw is None:
        LAST_READS.forget(ref)
        JOBS_GONE.forget(ref)
        return None
    try:
        sts = StatefulSet.from_wire(raw)
    except ValidationError as err:
        raise TerminalError(f"StatefulSet {key.namespace}/{key.name} cannot be read: {err}") from err
    problem = selector_error(sts.spec.selector)
    if problem is not None:
        raise TerminalError(f"StatefulSet {key.namespace}/{key.name} has an invalid selector: {problem}")
    status = mapping(raw, "status")
    reads = reads_of(sts, status)
    looked = strays_due(last, reads, trigger, at)  # the stray LISTs are (or go) in the first round
    if lists is None or last is None or reads != last.reads:
        lists = await _first_round(read, key, reads, looked)
    selected, claims, revisions, *found = lists
    uid = uid_of(raw)
    seen = {uid_of(p) for p in selected}
    short = owned_pods_missing(sts.status.replicas, selected, uid)
    explained = False
    if short and not reads.namespace_wide:
        early = owned_strays((p for pods in found for p in pods), uid, set(seen))
        explained = trigger_explains_missing_pod(trigger, sts.status.replicas, [*selected, *early], uid)
        short = not explained  # the pod the trigger names is the one gone: no stripped pod to look for
    if reads.namespace_wide or short:
        # kruise's read: every pod of the namespace, in place of the stray LISTs it covers
        strays = owned_strays(await read.list(PODS, key.namespace), uid, seen)
        looked = True
    else:
        more: list[str] = []
        if not looked and not explained and trigger_names_unseen_pod(trigger, selected):
            # the trigger's pod is not among the selected: it may have left the selector
            more, looked = list(reads.strays), True
        if looked:
            # the stray LISTs of revisions the status did not name (read once the revisions are known)
            known = named_revisions(status)
            more += [
                s
                for s in statefulset_strays(sts, {name_of(r) for r in revisions} - known)
                if s not in reads.strays
            ]
        found += await asyncio.gather(*(read.list(PODS, key.namespace, label_selector=s) for s in more))
        strays = owned_strays((p for pods in found for p in pods), uid, seen)
    LAST_READS.put(ref, LastRead(reads, at if looked or last is None else last.strays_read_at))
    pods = [*selected, *strays]
    jobs = await image_pull_jobs(read, key.namespace, reads.selector, raw, revisions, trigger, at)
    return ObservedStatefulSet(sts, raw, tuple(pods), tuple(claims), tuple(revisions), tuple(jobs))


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
    outdated_by=outdated_by,
)
