"""The PodUnavailableBudget worker shell, registered with the runtime as worker type ``podunavailablebudget``.

``observe`` reads the PUB and the pods it covers, kruise's ``GetPodsForPub``:

* ``targetRef``: the workload (CloneSet, Advanced StatefulSet, Deployment, ReplicaSet, StatefulSet,
  ReplicationController); its active pods are those listed by its selector that it (a Deployment:
  one of its ReplicaSets) owns; its ``spec.replicas`` is the expected count (none at 0 replicas);
* ``selector``: the active pods it selects (an empty or invalid selector covers nothing), and the
  workload of each pod's controller (a ReplicaSet's Deployment) with its replicas
  (``GetExpectedScaleForPods``).

``plan`` is :func:`workers.podunavailablebudget.planner.plan`; the runtime's executor performs the
actions (pod annotation patches, Events, the status PUT last). ``flotilla worker podunavailablebudget``
finds ``WORKER`` through ``workers.podunavailablebudget``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from pydantic import ValidationError

from flotilla.runtime.kube import PODS, JsonObject, Resource
from schemas.bus.envelope import KeyParts
from schemas.kruise.pub import LabelSelector
from schemas.kruise.selectors import selector_error
from workers.podmechanics.kube_json import field, integer, mapping, objects, text
from workers.podmechanics.ownership import selector_string
from workers.podunavailablebudget.admit import PODUNAVAILABLEBUDGETS
from workers.podunavailablebudget.budget import Workload
from workers.podunavailablebudget.planner import ObservedBudget, PlannerConfig
from workers.podunavailablebudget.planner import plan as plan_budget
from workers.podunavailablebudget.podstate import is_active
from workers.runtime.contract import Plan, WorkerType
from workers.runtime.observe import StateReader
from workers.runtime.specrefusal import refusal_plan

DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
REPLICASETS = Resource("apps", "v1", "replicasets", "ReplicaSet")
#: The workloads a targetRef or a pod's controller may name: (API group, kind) -> resource.
WORKLOADS: dict[tuple[str, str], Resource] = {
    ("apps.kruise.io", "CloneSet"): Resource("apps.kruise.io", "v1alpha1", "clonesets", "CloneSet"),
    ("apps.kruise.io", "StatefulSet"): Resource("apps.kruise.io", "v1beta1", "statefulsets", "StatefulSet"),
    ("apps", "StatefulSet"): Resource("apps", "v1", "statefulsets", "StatefulSet"),
    ("apps", "Deployment"): DEPLOYMENTS,
    ("apps", "ReplicaSet"): REPLICASETS,
    ("", "ReplicationController"): Resource("", "v1", "replicationcontrollers", "ReplicationController"),
}
FIELD_MANAGER = "flotilla-podunavailablebudget"


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def _selector(raw: object) -> str | None:
    """The label selector as a query string; None when it is absent, malformed or empty."""
    if not isinstance(raw, dict):
        return None
    try:
        selector = LabelSelector.from_wire(raw)
    except ValidationError:
        return None
    return None if selector_error(selector) else selector_string(selector)


def _replicas(obj: JsonObject) -> int:
    return integer(obj, "spec", "replicas", default=1)


def _live(obj: JsonObject | None) -> bool:
    return obj is not None and not field(obj, "metadata", "deletionTimestamp")


def _owner_uids(pod: JsonObject) -> set[str]:
    return {text(ref, "uid") for ref in objects(pod, "metadata", "ownerReferences")}


async def _target(
    read: StateReader, namespace: str, ref: Mapping[str, object]
) -> tuple[Workload | None, tuple[JsonObject, ...]]:
    resource = WORKLOADS.get((_group(text(ref, "apiVersion")), text(ref, "kind")))
    if resource is None:
        return None, ()
    workload = await read.get(resource, namespace, text(ref, "name"))
    if workload is None or not _live(workload):
        return None, ()
    target = Workload(text(workload, "metadata", "uid"), _replicas(workload))
    selector = _selector(field(workload, "spec", "selector"))
    if target.replicas == 0 or selector is None:
        return target, ()
    owners = {target.uid}
    if resource == DEPLOYMENTS:
        sets = await read.list(REPLICASETS, namespace, label_selector=selector)
        owners = {
            text(rs, "metadata", "uid")
            for rs in sets
            if _live(rs)
            and any(
                r.get("controller") is True and text(r, "uid") == target.uid
                for r in objects(rs, "metadata", "ownerReferences")
            )
        } or owners
    pods = await read.list(PODS, namespace, label_selector=selector)
    return target, tuple(p for p in pods if is_active(p) and _owner_uids(p) & owners)


async def _workload_of(read: StateReader, namespace: str, ref: Mapping[str, object]) -> Workload | None:
    """The workload whose replicas count for pods controlled by ``ref`` (kruise's controller finders)."""
    resource = WORKLOADS.get((_group(text(ref, "apiVersion")), text(ref, "kind")))
    if resource is None:
        return None
    obj = await read.get(resource, namespace, text(ref, "name"))
    if obj is None or text(obj, "metadata", "uid") != text(ref, "uid"):
        return None
    if resource == REPLICASETS:
        owner = next(
            (r for r in objects(obj, "metadata", "ownerReferences") if r.get("controller") is True), None
        )
        if owner is not None and text(owner, "kind") == "Deployment":
            return await _workload_of(read, namespace, owner)
    return Workload(text(obj, "metadata", "uid"), _replicas(obj)) if _live(obj) else None


async def _controllers(read: StateReader, namespace: str, pods: Iterable[JsonObject]) -> dict[str, Workload]:
    found: dict[str, Workload] = {}
    seen: set[str] = set()
    for pod in pods:
        for ref in objects(pod, "metadata", "ownerReferences"):
            uid = text(ref, "uid")
            if ref.get("controller") is not True or uid in seen:
                continue
            seen.add(uid)
            workload = await _workload_of(read, namespace, ref)
            if workload is not None:
                found[uid] = workload
    return found


async def observe(read: StateReader, key: KeyParts) -> ObservedBudget:
    pub = await read.get(PODUNAVAILABLEBUDGETS, key.namespace, key.name)
    if pub is None:
        return ObservedBudget(key.namespace, key.name, None)
    spec = mapping(pub, "spec")
    ref = spec.get("targetRef")
    if isinstance(ref, dict):
        target, pods = await _target(read, key.namespace, ref)
        return ObservedBudget(key.namespace, key.name, pub, pods, target)
    selector = _selector(spec.get("selector"))
    if selector is None:
        return ObservedBudget(key.namespace, key.name, pub)
    pods = tuple(p for p in await read.list(PODS, key.namespace, label_selector=selector) if is_active(p))
    return ObservedBudget(
        key.namespace, key.name, pub, pods, None, await _controllers(read, key.namespace, pods)
    )


def plan(snapshot: ObservedBudget, config: PlannerConfig, now: float) -> Plan:
    if snapshot.pub is not None:
        pubs = PODUNAVAILABLEBUDGETS
        refused = refusal_plan("PodUnavailableBudget", pubs, snapshot.pub, now, has_conditions=False)
        if refused is not None:
            return refused
    return plan_budget(snapshot, config, datetime.fromtimestamp(now, UTC))


WORKER: WorkerType[ObservedBudget, PlannerConfig] = WorkerType(
    name="podunavailablebudget",
    kind="PodUnavailableBudget",
    resource=PODUNAVAILABLEBUDGETS,
    observe=observe,
    plan=plan,
    config=PlannerConfig(),
    has_status=True,
    field_manager=FIELD_MANAGER,
)
