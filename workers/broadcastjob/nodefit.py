"""Would the scheduler put this pod on this node? The predicates kruise's BroadcastJob simulates.

Pure functions over raw JSON (a pod or a pod built from the template, and a Node), as kruise
v1.9.1's ``checkNodeFitness`` runs them, in its order, returning the first failure reason
(``None``: the pod fits):

* NodeName: ``spec.nodeName`` set and not this node;
* NodeAffinity: ``spec.nodeSelector`` and ``requiredDuringSchedulingIgnoredDuringExecution``
  (terms ORed; a term's ``matchExpressions`` on labels and ``matchFields`` on ``metadata.name``
  ANDed; no terms match nothing);
* TaintToleration: the first ``NoSchedule`` / ``NoExecute`` taint no toleration tolerates;
* NodeUnschedulable: a cordoned node, unless the pod tolerates ``node.kubernetes.io/unschedulable``;
* NodeResourcesFit against an empty node (kruise's simulation counts no other pod): one pod slot
  (``allocatable.pods``), the pod's cpu, memory, ephemeral-storage and scalar requests.

A node that turns NotReady is left out through the ``node.kubernetes.io/not-ready`` /
``unreachable`` taints kube-controller-manager puts on it, as in kruise (it has no readiness
check of its own). Called by :mod:`workers.broadcastjob.planner`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from kubernetes.utils.quantity import parse_quantity

JsonObject = Mapping[str, Any]

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
_NAME_FIELD = "metadata.name"
_BASIC = ("cpu", "memory", "ephemeral-storage")


def _map(obj: object, *path: str) -> Mapping[str, Any]:
    for key in path:
        if not isinstance(obj, Mapping):
            return {}
        obj = obj.get(key)
    return obj if isinstance(obj, Mapping) else {}


def _list(obj: object, *path: str) -> list[Any]:
    for key in path[:-1]:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    found = obj.get(path[-1]) if isinstance(obj, Mapping) else None
    return list(found) if isinstance(found, list) else []


def node_name(node: JsonObject) -> str:
    return str(_map(node, "metadata").get("name", ""))


def _requirement_matches(req: Mapping[str, Any], value: str | None) -> bool:
    """One NodeSelectorRequirement against the node's label (or field) value, None when absent."""
    operator = req.get("operator")
    values = [str(v) for v in req.get("values") or ()]
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt"):
        if value is None or len(values) != 1:
            return False
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if operator == "Gt" else have < want
    return False


def _term_matches(term: Mapping[str, Any], node: JsonObject) -> bool:
    expressions = _list(term, "matchExpressions")
    fields = _list(term, "matchFields")
    if not expressions and not fields:
        return False
    labels = _map(node, "metadata", "labels")
    for req in expressions:
        key = str(req.get("key", ""))
        if not _requirement_matches(req, str(labels[key]) if key in labels else None):
            return False
    for req in fields:
        if req.get("key") != _NAME_FIELD or req.get("operator") not in ("In", "NotIn"):
            return False
        if not _requirement_matches(req, node_name(node)):
            return False
    return True


def matches_node_affinity(spec: JsonObject, node: JsonObject) -> bool:
    """``nodeSelector`` and the required node affinity of a pod spec, against the node."""
    labels = _map(node, "metadata", "labels")
    for key, value in _map(spec, "nodeSelector").items():
        if key not in labels or str(labels[key]) != str(value):
            return False
    required = _map(spec, "affinity", "nodeAffinity").get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, Mapping):
        return True
    return any(_term_matches(term, node) for term in _list(required, "nodeSelectorTerms"))


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """core/v1 ``Toleration.ToleratesTaint`` (tolerationSeconds does not matter here)."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def untolerated_taint(
    taints: Iterable[Mapping[str, Any]], tolerations: list[Any]
) -> Mapping[str, Any] | None:
    """The first NoSchedule/NoExecute taint none of ``tolerations`` tolerates."""
    for taint in taints:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(isinstance(t, Mapping) and tolerates(t, taint) for t in tolerations):
            return taint
    return None


def _quantity(text: object) -> Decimal:
    try:
        return Decimal(parse_quantity(text))  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, InvalidOperation):
        return Decimal(0)


def pod_requests(spec: JsonObject) -> dict[str, Decimal]:
    """What the scheduler charges a pod: the containers' requests summed, at least the largest
    init container's (restartable init containers run alongside and add up), plus overhead.
    A resource with a limit and no request counts its limit, as the API server defaults it."""

    def requests(container: Mapping[str, Any]) -> dict[str, Decimal]:
        resources = _map(container, "resources")
        merged = {**_map(resources, "limits"), **_map(resources, "requests")}
        return {str(k): _quantity(v) for k, v in merged.items()}

    total: dict[str, Decimal] = {}
    for container in _list(spec, "containers"):
        for name, amount in requests(container).items():
            total[name] = total.get(name, Decimal(0)) + amount
    sidecars: dict[str, Decimal] = {}
    init_peak: dict[str, Decimal] = {}
    for init in _list(spec, "initContainers"):
        own = requests(init)
        if init.get("restartPolicy") == "Always":
            for name, amount in own.items():
                sidecars[name] = sidecars.get(name, Decimal(0)) + amount
            continue
        for name, amount in own.items():
            init_peak[name] = max(init_peak.get(name, Decimal(0)), amount + sidecars.get(name, Decimal(0)))
    for name, amount in sidecars.items():
        total[name] = total.get(name, Decimal(0)) + amount
    for name, amount in init_peak.items():
        total[name] = max(total.get(name, Decimal(0)), amount)
    for name, amount in _map(spec, "overhead").items():
        total[str(name)] = total.get(str(name), Decimal(0)) + _quantity(amount)
    return total


def insufficient_resources(spec: JsonObject, node: JsonObject) -> list[str]:
    """NodeResourcesFit's reasons against an otherwise empty node (kruise's simulation)."""
    allocatable = {str(k): _quantity(v) for k, v in _map(node, "status", "allocatable").items()}
    reasons: list[str] = []
    if allocatable.get("pods", Decimal(0)) < 1:
        reasons.append("Too many pods")
    wanted = {k: v for k, v in pod_requests(spec).items() if k != "pods" and v > 0}
    for name in _BASIC:
        if name in wanted and wanted[name] > allocatable.get(name, Decimal(0)):
            reasons.append(f"Insufficient {name}")
    for name in sorted(wanted):
        if name not in _BASIC and wanted[name] > allocatable.get(name, Decimal(0)):
            reasons.append(f"Insufficient {name}")
    return reasons


def unfit_reason(pod: JsonObject, node: JsonObject) -> str | None:
    """Why ``pod`` cannot run on ``node`` (the scheduler's words), or None when it fits."""
    spec = _map(pod, "spec")
    name = node_name(node)
    wanted = spec.get("nodeName") or ""
    if wanted and wanted != name:
        return "node(s) didn't match the requested node name"
    if not matches_node_affinity(spec, node):
        return "node(s) didn't match Pod's node affinity/selector"
    tolerations = _list(spec, "tolerations")
    taints = (t for t in _list(node, "spec", "taints") if isinstance(t, Mapping))
    taint = untolerated_taint(taints, tolerations)
    if taint is not None:
        key, value = taint.get("key", ""), taint.get("value", "")
        return f"node(s) had taint {{{key}: {value}}}, that the pod didn't tolerate"
    cordon = {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}
    if _map(node, "spec").get("unschedulable") and not any(
        isinstance(t, Mapping) and tolerates(t, cordon) for t in tolerations
    ):
        return "node(s) were unschedulable"
    reasons = insufficient_resources(spec, node)
    return ", ".join(reasons) if reasons else None
