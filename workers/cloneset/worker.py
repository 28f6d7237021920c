"""The CloneSet worker shell, registered with the runtime as worker type ``cloneset``.

``observe`` reads the CloneSet and, as raw JSON, its pods (selected), PVCs and
ControllerRevisions, concurrently, through the runtime's read port; then, when a stray may exist,
the pods it controls that no longer match (two small LISTs per selector requirement, narrowed by
the revisions' template hashes, see ``strays``): the rule the Advanced StatefulSet shares
(``runtime.strayreads.strays_due``: a process's first look at the CloneSet, new stray LISTs (a
new revision), the watcher's resync trigger, every 300 s), or an event of a pod the selector LIST
did not return, or that LIST short of ``status.replicas``; and, when the template has
``topologySpreadConstraints``, the labels of the pods' nodes (``nodes``) for scale-in ranking;
and, when a revision says pre-download jobs were created, the ImagePullJobs (``predownload``).
``plan`` adapts :func:`workers.cloneset.planner.plan` to the runtime contract: its
:class:`~workers.cloneset.lowering.CloneSetPlan` carries the planner's steps and, in
``actions``, their lowering (``lowering``); ``act`` (``act`` module) executes the steps.
``flotilla worker cloneset`` finds ``WORKER`` through ``workers.cloneset``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime

from pydantic import ValidationError

from flotilla.runtime.errors import NotFound
from flotilla.runtime.kube import PODS
from flotilla.runtime.kube import JsonObject as KubeJson
from schemas.bus.envelope import KeyParts
from schemas.kruise.cloneset import CloneSet
from workers.cloneset.act import FIELD_MANAGER, act
from workers.cloneset.config import PlannerConfig, planner_config
from workers.cloneset.lowering import (
    CLONESETS,
    CONTROLLER_REVISIONS,
    IMAGE_PULL_JOBS,
    PVCS,
    CloneSetPlan,
    CloneSetSnapshot,
    lower,
)
from workers.cloneset.nodes import node_labels
from workers.cloneset.observed import ObservedCloneSet
from workers.cloneset.planner import plan as plan_cloneset
from workers.cloneset.predownload import CREATED_LABEL
from workers.cloneset.spread import spread_constraints
from workers.cloneset.strays import stray_selectors
from workers.podmechanics.kube_json import labels_of, name_of, text, uid_of
from workers.podmechanics.ownership import selector_error, selector_string
from workers.podmechanics.pods import short_hash
from workers.podmechanics.strays import owned_pods_missing, owned_strays
from workers.runtime.contract import TerminalError, WorkerType
from workers.runtime.event_correlation import LruCache
from workers.runtime.observe import StateReader, current_trigger
from workers.runtime.strayreads import LastRead, strays_due, trigger_names_unseen_pod

#: The stray LISTs each CloneSet's last reconcile in this process asked for, and when they last
#: went out (``runtime.strayreads``), per ``(namespace, name)`` (client-go's LRU size).
LAST_READS: LruCache[tuple[str, str], LastRead[tuple[str, ...]]] = LruCache()


async def observe(read: StateReader, key: KeyParts) -> CloneSetSnapshot:
    ref, at, trigger = (key.namespace, key.name), time.monotonic(), current_trigger()
    raw = await read.get(CLONESETS, key.namespace, key.name)
    if raw is None:
        LAST_READS.forget(ref)
        return CloneSetSnapshot(key.namespace, key.name, None)
    try:
        cloneset = CloneSet.from_wire(raw)
    except ValidationError as err:
        raise TerminalError(f"CloneSet {key.namespace}/{key.name} cannot be read: {err}") from err
    if selector_error(cloneset.spec.selector) is not None:
        return CloneSetSnapshot(key.namespace, key.name, ObservedCloneSet(cloneset), raw)
    selector = selector_string(cloneset.spec.selector)
    uid = uid_of(raw)
    wants_claims = (
        bool(cloneset.spec.volume_claim_templates) or cloneset.spec.scale_strategy.disable_pvc_reuse
    )
    selected, claims, revisions = await asyncio.gather(
        read.list(PODS, key.namespace, label_selector=selector),
        read.list(PVCS, key.namespace, label_selector=selector) if wants_claims else _nothing(),
        read.list(CONTROLLER_REVISIONS, key.namespace, label_selector=selector),
    )
    looking = stray_selectors(cloneset.spec.selector, [short_hash(name_of(r)) for r in revisions])
    last = LAST_READS.get(ref)
    due = (
        strays_due(last, looking, trigger, at)
        or trigger_names_unseen_pod(trigger, selected)
        or owned_pods_missing(cloneset.status.replicas, selected, uid)
    )
    mismatched = await asyncio.gather(
        *(read.list(PODS, key.namespace, label_selector=s) for s in (looking if due else ()))
    )
    LAST_READS.put(ref, LastRead(looking, at if due or last is None else last.strays_read_at))
    strays = owned_strays((p for found in mismatched for p in found), uid, {uid_of(p) for p in selected})
    pods = [*selected, *strays]
    labels = (
        await node_labels(read, (text(p, "spec", "nodeName") for p in pods))
        if spread_constraints(cloneset.spec.template)
        else {}
    )
    jobs = await _image_pull_jobs(read, key.namespace, selector) if _pre_downloaded(revisions) else []
    observed = ObservedCloneSet.of(cloneset, pods, claims, revisions, secrets.randbits(63), labels, jobs)
    return CloneSetSnapshot(key.namespace, key.name, observed, raw)


async def _nothing() -> list[KubeJson]:
    return []


def _pre_downloaded(revisions: list[KubeJson]) -> bool:
    """A revision says ImagePullJobs were created for it: they may still exist."""
    return any(CREATED_LABEL in labels_of(r) for r in revisions)


async def _image_pull_jobs(read: StateReader, namespace: str, selector: str) -> list[KubeJson]:
    """The ImagePullJobs the selector matches (they carry the template's labels, as kruise writes
    them); none when the ImagePullJob kind is not served (kruise then turns pre-download off)."""
    try:
        return await read.list(IMAGE_PULL_JOBS, namespace, label_selector=selector)
    except NotFound:
        return []


def plan(snapshot: CloneSetSnapshot, config: PlannerConfig, now: float) -> CloneSetPlan:
    if snapshot.observed is None:
        return CloneSetPlan(reason="CloneSet is gone")
    result = plan_cloneset(snapshot.observed, config, datetime.fromtimestamp(now, UTC))
    lowered = tuple(a for step in result.actions for a in lower(snapshot, step))
    return CloneSetPlan(lowered, result.requeue_after, result.reason, result.actions)


WORKER: WorkerType[CloneSetSnapshot, PlannerConfig] = WorkerType(
    name="cloneset",
    kind="CloneSet",
    resource=CLONESETS,
    observe=observe,
    plan=plan,
    config=PlannerConfig(),
    configure=planner_config,
    act=act,
    has_status=True,
    field_manager=FIELD_MANAGER,
)
