"""The CloneSet worker shell: observe and act around the pure planner, registered as type ``cloneset``.

``observe`` reads the CloneSet and, as raw JSON, its pods (selected, plus pods it controls that
no longer match), PVCs and ControllerRevisions, concurrently, through the runtime's read port.
``plan`` adapts :func:`workers.cloneset.planner.plan` to the runtime contract: the returned
:class:`CloneSetPlan` carries the planner's steps and, in ``actions``, their lowering onto
the runtime's generic actions (what the runtime counts and logs). ``act`` runs the steps in
order: a slow-start batch's creations concurrently, a run of writes to distinct pods
concurrently (each pod's own writes in order), Events on each outcome, and on a refused write
the status with a FailedScale / FailedUpdate condition, then re-raises so the runtime's result
contract applies.
``flotilla worker cloneset`` finds ``WORKER`` through ``workers.cloneset``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from flotilla.runtime.errors import AlreadyExists, Conflict, KubeError, NotFound
from flotilla.runtime.kube import PODS, KubeClient, Resource
from flotilla.runtime.kube import JsonObject as KubeJson
from schemas.bus.envelope import KeyParts
from schemas.kruise.cloneset import CLONESET_INSTANCE_ID_LABEL, CloneSet
from workers.cloneset import actions as steps
from workers.cloneset.config import PlannerConfig
from workers.cloneset.kube_json import JsonObject, format_time, thaw_object, uid_of
from workers.cloneset.observed import ObservedCloneSet
from workers.cloneset.ownership import is_owned_by, selector_error, selector_string
from workers.cloneset.planner import plan as plan_cloneset
from workers.cloneset.status import FAILED_SCALE, FAILED_UPDATE
from workers.runtime import actions as runtime
from workers.runtime.contract import Plan, TerminalError, WorkerType
from workers.runtime.events import ObjectRef
from workers.runtime.observe import StateReader

CLONESETS = Resource("apps.kruise.io", "v1alpha1", "clonesets")
PVCS = Resource("", "v1", "persistentvolumeclaims")
CONTROLLER_REVISIONS = Resource("apps", "v1", "controllerrevisions")
FIELD_MANAGER = "flotilla-cloneset"
#: Writes to distinct pods in flight at once (one pod's writes always go in plan order).
POD_WRITE_CONCURRENCY = 16


@dataclass(frozen=True)
class CloneSetSnapshot:
    namespace: str
    name: str
    observed: ObservedCloneSet | None
    """None: the CloneSet is gone (its pods go with it, by garbage collection)."""
    raw: JsonObject = field(default_factory=dict)


@dataclass(frozen=True)
class CloneSetPlan(Plan):
    """A runtime plan whose ``steps`` are the planner's own actions (``actions`` is their lowering)."""

    steps: tuple[steps.Action, ...] = ()


async def observe(read: StateReader, key: KeyParts) -> CloneSetSnapshot:
    raw = await read.get(CLONESETS, key.namespace, key.name)
    if raw is None:
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
    selected, instances, claims, revisions = await asyncio.gather(
        read.list(PODS, key.namespace, label_selector=selector),
        read.list(PODS, key.namespace, label_selector=CLONESET_INSTANCE_ID_LABEL),
        read.list(PVCS, key.namespace, label_selector=selector) if wants_claims else _nothing(),
        read.list(CONTROLLER_REVISIONS, key.namespace, label_selector=selector),
    )
    seen = {uid_of(p) for p in selected}
    strays = [p for p in instances if uid_of(p) not in seen and is_owned_by(p, uid)]
    observed = ObservedCloneSet.of(cloneset, [*selected, *strays], claims, revisions, secrets.randbits(63))
    return CloneSetSnapshot(key.namespace, key.name, observed, raw)


async def _nothing() -> list[KubeJson]:
    return []


def plan(snapshot: CloneSetSnapshot, config: PlannerConfig, now: float) -> CloneSetPlan:
    if snapshot.observed is None:
        return CloneSetPlan(reason="CloneSet is gone")
    result = plan_cloneset(snapshot.observed, config, datetime.fromtimestamp(now, UTC))
    lowered = tuple(a for step in result.actions for a in lower(snapshot, step))
    return CloneSetPlan(lowered, result.requeue_after, result.reason, result.actions)


# -- lowering onto the runtime's actions -----------------------------------------------------------


def _ref(snapshot: CloneSetSnapshot) -> ObjectRef:
    return ObjectRef.of({**snapshot.raw, "apiVersion": CLONESETS.api_version, "kind": "CloneSet"})


def _event(snapshot: CloneSetSnapshot, record: steps.EventRecord, error: str = "") -> runtime.EmitEvent:
    message = record.message.replace("{error}", error)
    return runtime.EmitEvent(_ref(snapshot), record.reason, message, record.type)


def _with_rv(patch: JsonObject, resource_version: str | None) -> JsonObject:
    if not resource_version:
        return patch
    body = thaw_object(patch)
    metadata = thaw_object(body.get("metadata"))
    metadata["resourceVersion"] = resource_version
    body["metadata"] = metadata
    return body


def lower(snapshot: CloneSetSnapshot, step: steps.Action) -> tuple[runtime.Action, ...]:
    """The runtime actions one planner step amounts to (Events on success included)."""
    ns, name = snapshot.namespace, snapshot.name
    match step:
        case steps.CreatePods(pods):
            out: list[runtime.Action] = []
            for new in pods:
                out.extend(runtime.CreateObject(PVCS, ns, dict(c)) for c in new.claims)
                out.append(runtime.CreateObject(PODS, ns, dict(new.pod)))
                if new.success_event is not None:
                    out.append(_event(snapshot, new.success_event))
            return tuple(out)
        case steps.DeletePod(pod, uid, claims, success_event, _):
            deletes = (
                runtime.DeleteObject(PODS, ns, pod, uid),
                *(runtime.DeleteObject(PVCS, ns, c) for c in claims),
            )
            return (*deletes, _event(snapshot, success_event)) if success_event else deletes
        case steps.PatchPod(pod, patch, patch_type, subresource, rv, success_event, _):
            write = runtime.PatchObject(PODS, ns, pod, dict(_with_rv(patch, rv)), patch_type, subresource)
            return (write, _event(snapshot, success_event)) if success_event else (write,)
        case steps.PatchClaim(claim, patch, rv):
            return (runtime.PatchObject(PVCS, ns, claim, dict(_with_rv(patch, rv))),)
        case steps.DeleteClaim(claim, uid, _):
            return (runtime.DeleteObject(PVCS, ns, claim, uid),)
        case steps.CreateRevision(revision):
            return (runtime.CreateObject(CONTROLLER_REVISIONS, ns, dict(revision)),)
        case steps.RenumberRevision(revision, number):
            return (runtime.PatchObject(CONTROLLER_REVISIONS, ns, revision, {"revision": number}),)
        case steps.DeleteRevision(revision):
            return (runtime.DeleteObject(CONTROLLER_REVISIONS, ns, revision),)
        case steps.PatchCloneSet(patch, rv):
            return (runtime.PatchObject(CLONESETS, ns, name, dict(_with_rv(patch, rv))),)
        case steps.UpdateStatus(status):
            return (runtime.PatchObject(CLONESETS, ns, name, {"status": dict(status)}, "merge", "status"),)
        case steps.EmitEvent(record):
            return (_event(snapshot, record),)
    return ()


# -- acting ---------------------------------------------------------------------------------------


def _failure_event(step: steps.Action) -> steps.EventRecord | None:
    return getattr(step, "failure_event", None)


async def _run(api: KubeClient, snapshot: CloneSetSnapshot, step: steps.Action) -> None:
    for action in lower(snapshot, step):
        try:
            await runtime.execute_action(api, action, FIELD_MANAGER)
        except NotFound:
            if isinstance(action, runtime.DeleteObject):
                continue  # already gone
            raise
        except AlreadyExists:
            if isinstance(action, runtime.CreateObject) and action.resource == PVCS:
                continue  # a PVC left by an earlier pod with this id: reuse it
            raise


async def _create_one(api: KubeClient, snapshot: CloneSetSnapshot, new: steps.NewPod) -> None:
    try:
        await _run(api, snapshot, steps.CreatePods((new,)))
    except KubeError as err:
        if new.failure_event is not None:
            await _quiet_event(api, snapshot, new.failure_event, str(err))
        raise


async def _quiet_event(
    api: KubeClient, snapshot: CloneSetSnapshot, record: steps.EventRecord, error: str
) -> None:
    with contextlib.suppress(KubeError):
        await runtime.execute_action(api, _event(snapshot, record, error), FIELD_MANAGER)


async def _mark_failed(
    api: KubeClient, snapshot: CloneSetSnapshot, plan: CloneSetPlan, step: steps.Action, error: str
) -> None:
    """The plan's status with kruise's FailedScale / FailedUpdate condition, best effort.

    As kruise does, status is written even when a write failed: the counts stay current and the
    condition says what the API server refused. The runtime then retries the key.
    """
    scale = isinstance(step, steps.CreatePods | steps.DeletePod)
    condition: dict[str, object] = {
        "type": FAILED_SCALE if scale else FAILED_UPDATE,
        "status": "True",
        "reason": "ApiError",
        "message": error[:1024],
        "lastTransitionTime": format_time(datetime.now(UTC)),
    }
    planned = [s.status for s in plan.steps if isinstance(s, steps.UpdateStatus)]
    observed = snapshot.observed
    status = thaw_object(planned[0]) if planned else {}
    if "conditions" in status:
        current = status["conditions"] if isinstance(status["conditions"], list) else []
    else:
        current = [c.to_wire() for c in observed.cloneset.status.conditions or ()] if observed else []
    status["conditions"] = [c for c in current if c.get("type") != condition["type"]] + [condition]
    with contextlib.suppress(KubeError):
        await api.patch(
            CLONESETS.path(snapshot.namespace, snapshot.name, "status"),
            {"status": status},
            "merge",
            FIELD_MANAGER,
        )


async def _run_step(
    api: KubeClient, snapshot: CloneSetSnapshot, plan: CloneSetPlan, step: steps.Action
) -> None:
    try:
        if isinstance(step, steps.CreatePods):
            results = await asyncio.gather(
                *(_create_one(api, snapshot, new) for new in step.pods), return_exceptions=True
            )
            _raise_first(results)
        else:
            await _run(api, snapshot, step)
    except Conflict:
        raise  # stale snapshot: the runtime re-plans from fresh state
    except KubeError as err:
        failure = _failure_event(step)
        if failure is not None:
            await _quiet_event(api, snapshot, failure, str(err))
        if isinstance(step, steps.CreatePods | steps.DeletePod | steps.PatchPod):
            await _mark_failed(api, snapshot, plan, step, str(err))
        raise


def _raise_first(results: Sequence[object]) -> None:
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]


def _segments(plan_steps: tuple[steps.Action, ...]) -> list[list[steps.Action]]:
    """Runs of consecutive pod writes (PatchPod / DeletePod) become one segment; other steps stand alone."""
    segments: list[list[steps.Action]] = []
    for step in plan_steps:
        pod_write = isinstance(step, steps.PatchPod | steps.DeletePod)
        if pod_write and segments and isinstance(segments[-1][0], steps.PatchPod | steps.DeletePod):
            segments[-1].append(step)
        else:
            segments.append([step])
    return segments


async def _run_pod_writes(
    api: KubeClient, snapshot: CloneSetSnapshot, plan: CloneSetPlan, writes: list[steps.Action]
) -> None:
    """Writes to different pods concurrently (bounded); one pod's writes in plan order."""
    chains: dict[str, list[steps.Action]] = {}
    for write in writes:
        if isinstance(write, steps.PatchPod | steps.DeletePod):
            chains.setdefault(write.name, []).append(write)
    gate = asyncio.Semaphore(POD_WRITE_CONCURRENCY)

    async def run_chain(chain: list[steps.Action]) -> None:
        async with gate:
            for step in chain:
                await _run_step(api, snapshot, plan, step)

    _raise_first(await asyncio.gather(*(run_chain(c) for c in chains.values()), return_exceptions=True))


async def act(api: KubeClient, snapshot: CloneSetSnapshot, plan: Plan) -> None:
    """Run the plan's steps in order; stop (and raise) at the first failed step or batch."""
    if not isinstance(plan, CloneSetPlan):
        await runtime.execute_plan(api, plan.actions, FIELD_MANAGER)
        return
    for segment in _segments(plan.steps):
        if len(segment) > 1:
            await _run_pod_writes(api, snapshot, plan, segment)
        else:
            await _run_step(api, snapshot, plan, segment[0])


WORKER: WorkerType[CloneSetSnapshot, PlannerConfig] = WorkerType(
    name="cloneset",
    kind="CloneSet",
    resource=CLONESETS,
    observe=observe,
    plan=plan,
    config=PlannerConfig(),
    act=act,
    has_status=True,
    field_manager=FIELD_MANAGER,
)
