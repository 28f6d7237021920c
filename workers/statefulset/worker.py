"""The Advanced StatefulSet worker shell, registered with the runtime as worker type ``statefulset``.

``observe`` reads the set (``apps.kruise.io/v1beta1``) and, as raw JSON, the pods, PVCs and
ControllerRevisions its selector matches, concurrently, through the runtime's read port (PVCs
only when the set has volumeClaimTemplates). ``plan`` adapts :func:`workers.statefulset.planner.plan`
to the runtime contract; ``act`` (``act`` module) executes it. ``flotilla worker statefulset``
finds ``WORKER`` through ``workers.statefulset``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from pydantic import ValidationError

from flotilla.runtime.kube import PODS
from flotilla.runtime.kube import JsonObject as KubeJson
from schemas.bus.envelope import KeyParts
from schemas.kruise.selectors import selector_error
from schemas.kruise.statefulset import StatefulSet
from workers.podmechanics.ownership import selector_string
from workers.runtime.contract import Plan, TerminalError, WorkerType
from workers.runtime.observe import StateReader
from workers.statefulset.act import FIELD_MANAGER, act
from workers.statefulset.builder import CONTROLLER_REVISIONS, PVCS, STATEFULSETS
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
    pods, claims, revisions = await asyncio.gather(
        read.list(PODS, key.namespace, label_selector=selector),
        read.list(PVCS, key.namespace, label_selector=selector) if wants_claims else _nothing(),
        read.list(CONTROLLER_REVISIONS, key.namespace, label_selector=selector),
    )
    return ObservedStatefulSet(sts, raw, tuple(pods), tuple(claims), tuple(revisions))


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
