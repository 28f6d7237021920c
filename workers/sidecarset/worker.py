"""The SidecarSet worker shell, registered with the runtime as worker type ``sidecarset``.

``observe`` reads the SidecarSet (``apps.kruise.io/v1beta1``, cluster-scoped), the pods its
selector matches (every namespace, or the namespaces its ``namespaceSelector`` selects, or the
v1alpha1 ``namespace``) and its ControllerRevisions (label ``kruise.io/sidecarset-name``) in the
namespace the worker runs in (env ``POD_NAMESPACE``, as kruise keeps them in kruise-manager's
namespace). ``plan`` adapts :func:`workers.sidecarset.planner.plan`; the runtime's default act
sends the actions in order, the status last. ``flotilla worker sidecarset`` finds ``WORKER``
through ``workers.sidecarset``.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

from pydantic import ValidationError

from flotilla.runtime.kube import PODS, Resource
from flotilla.runtime.kube import JsonObject as KubeJson
from schemas.bus.envelope import KeyParts
from schemas.kruise.selectors import selector_error
from schemas.kruise.sidecarset import SidecarSet
from workers.podmechanics.ownership import selector_string
from workers.runtime.contract import Plan, TerminalError, WorkerType
from workers.runtime.observe import StateReader
from workers.sidecarset.planner import CONTROLLER_REVISIONS, SIDECARSETS, ObservedSidecarSet
from workers.sidecarset.planner import plan as plan_sidecarset
from workers.sidecarset.revisions import SIDECARSET_NAME_LABEL

NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
FIELD_MANAGER = "flotilla-sidecarset"


def revision_namespace() -> str:
    return os.environ.get("POD_NAMESPACE") or "default"


async def observe(read: StateReader, key: KeyParts) -> ObservedSidecarSet | None:
    raw = await read.get(SIDECARSETS, "", key.name)
    if raw is None:
        return None
    try:
        sidecarset = SidecarSet.from_wire(raw)
    except ValidationError as err:
        raise TerminalError(f"SidecarSet {key.name} cannot be read: {err}") from err
    spec = sidecarset.spec
    selector = ""
    if spec.selector is not None:
        if selector_error(spec.selector) is not None:
            # the shared refusal reports it; observe nothing more
            return ObservedSidecarSet(raw, (), (), revision_namespace())
        selector = selector_string(spec.selector)
    if spec.namespace_selector is not None:
        empty = not spec.namespace_selector.match_labels and not spec.namespace_selector.match_expressions
        if not empty and selector_error(spec.namespace_selector) is not None:
            return ObservedSidecarSet(raw, (), (), revision_namespace())
        found = await read.list(NAMESPACES, "", label_selector=selector_string(spec.namespace_selector))
        namespaces = sorted(str((n.get("metadata") or {}).get("name", "")) for n in found)
    elif spec.namespace:
        namespaces = [spec.namespace]
    else:
        namespaces = [""]
    namespace = revision_namespace()
    pod_lists, revisions = await asyncio.gather(
        asyncio.gather(*(read.list(PODS, ns, label_selector=selector) for ns in namespaces)),
        read.list(CONTROLLER_REVISIONS, namespace, label_selector=f"{SIDECARSET_NAME_LABEL}={key.name}"),
    )
    pods: list[KubeJson] = [pod for found_pods in pod_lists for pod in found_pods]
    return ObservedSidecarSet(raw, tuple(pods), tuple(revisions), namespace)


def plan(observed: ObservedSidecarSet | None, config: None, now: float) -> Plan:
    del config
    if observed is None:
        return Plan(reason="SidecarSet is gone")
    return plan_sidecarset(observed, datetime.fromtimestamp(now, UTC))


WORKER: WorkerType[ObservedSidecarSet | None, None] = WorkerType(
    name="sidecarset",
    kind="SidecarSet",
    resource=SIDECARSETS,
    observe=observe,
    plan=plan,
    config=None,
    has_status=True,
    field_manager=FIELD_MANAGER,
)
