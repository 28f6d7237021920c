"""The UnitedDeployment worker shell, registered with the runtime as worker type ``uniteddeployment``.

``observe`` reads the UnitedDeployment (``apps.kruise.io/v1alpha1``, checked against the schemas
model), and concurrently, as raw JSON, the namespace's ControllerRevisions, the workloads of the
four subset kinds its selector matches and the pods its selector matches. ``plan`` adapts
:func:`workers.uniteddeployment.planner.plan`; ``act`` sends the actions in plan order, the
status last (the runtime's executor). ``flotilla worker uniteddeployment`` finds ``WORKER``
through ``workers.uniteddeployment``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from pydantic import ValidationError

from flotilla.runtime.kube import PODS
from schemas.bus.envelope import KeyParts
from schemas.kruise.selectors import selector_error
from schemas.kruise.uniteddeployment import UnitedDeployment
from workers.podmechanics.ownership import selector_string
from workers.runtime.contract import Plan, TerminalError, WorkerType
from workers.runtime.observe import StateReader
from workers.uniteddeployment.planner import CONTROLLER_REVISIONS, ObservedUnitedDeployment
from workers.uniteddeployment.planner import plan as plan_united
from workers.uniteddeployment.subsets import KINDS, UNITED_DEPLOYMENTS

FIELD_MANAGER = "flotilla-uniteddeployment"


async def observe(read: StateReader, key: KeyParts) -> ObservedUnitedDeployment | None:
    raw = await read.get(UNITED_DEPLOYMENTS, key.namespace, key.name)
    if raw is None:
        return None
    try:
        ud = UnitedDeployment.from_wire(dict(raw))
    except ValidationError as err:
        raise TerminalError(f"UnitedDeployment {key.namespace}/{key.name} cannot be read: {err}") from err
    problem = selector_error(ud.spec.selector)
    if problem is not None:
        raise TerminalError(f"UnitedDeployment {key.namespace}/{key.name} has an invalid selector: {problem}")
    selector = selector_string(ud.spec.selector)
    revisions, pods, *workloads = await asyncio.gather(
        read.list(CONTROLLER_REVISIONS, key.namespace),
        read.list(PODS, key.namespace, label_selector=selector),
        *(read.list(kind.resource, key.namespace, label_selector=selector) for kind in KINDS),
    )
    return ObservedUnitedDeployment(
        raw=raw,
        revisions=tuple(revisions),
        workloads={kind.type_name: tuple(items) for kind, items in zip(KINDS, workloads, strict=True)},
        pods=tuple(pods),
    )


def plan(observed: ObservedUnitedDeployment | None, config: None, now: float) -> Plan:
    del config
    if observed is None:
        return Plan(reason="UnitedDeployment is gone")
    return plan_united(observed, datetime.fromtimestamp(now, UTC))


WORKER: WorkerType[ObservedUnitedDeployment | None, None] = WorkerType(
    name="uniteddeployment",
    kind="UnitedDeployment",
    resource=UNITED_DEPLOYMENTS,
    observe=observe,
    plan=plan,
    config=None,
    has_status=True,
    field_manager=FIELD_MANAGER,
)
