"""A sidecar's ``resourcesPolicy``: its resources computed from the pod's containers at pod CREATE.

kruise v1.9.1 ``pkg/webhook/pod/mutating/sidecarset_resources.go`` ``applyResourcesPolicy``:

- the targets are the pod's containers whose name matches ``targetContainersNameRegex``, plus
  its native-sidecar init containers (``restartPolicy: Always``), never a container a matched
  SidecarSet declares; none is an error that refuses the pod;
- ``sum`` adds the targets' cpu/memory limits (kept only when every target has that limit) and
  requests (kept when not zero); ``max`` takes the largest of each (a limit again only when every
  target has it);
- each expression of ``resourcesExpr`` is evaluated by kruise's calculator
  (:mod:`schemas.kruise.rules.calculator`) over the aggregate; a limit whose aggregate is absent
  is left unset, a request over an absent aggregate is computed from zero;
- the sidecar's ``resources`` become exactly the result.

Pure: :func:`sidecar_resources` returns the new ``resources`` or raises :class:`ResourcesPolicyError`
with kruise's message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from schemas.kruise.rules.calculator import CalculatorError, go_quote, resource_value
from schemas.kruise.rules.quantity import DECIMAL_SI, Quantity, QuantityError

JsonDict = dict[str, Any]
_RESOURCES = ("cpu", "memory")


class ResourcesPolicyError(ValueError):
    """kruise refuses the pod (500) with this message."""


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def targets(pod: Mapping[str, Any], regex: str, sidecar_names: Iterable[str]) -> list[Mapping[str, Any]]:
    """``getTargetContainers``: native-sidecar init containers, then containers, by name regex."""
    try:
        pattern = re.compile(regex)
    except re.error as err:
        raise ResourcesPolicyError(
            f"failed to get target containers: invalid regex pattern {go_quote(regex)}: {err}"
        ) from None
    skip = set(sidecar_names)
    spec = _dict(pod.get("spec"))
    found: list[Mapping[str, Any]] = []
    for container in (_dict(c) for c in _list(spec.get("initContainers"))):
        name = str(container.get("name") or "")
        if name not in skip and container.get("restartPolicy") == "Always" and pattern.search(name):
            found.append(container)
    for container in (_dict(c) for c in _list(spec.get("containers"))):
        name = str(container.get("name") or "")
        if name not in skip and pattern.search(name):
            found.append(container)
    return found


def _quantity(container: Mapping[str, Any], kind: str, resource: str) -> Quantity | None:
    raw = _dict(_dict(container.get("resources")).get(kind)).get(resource)
    if raw is None:
        return None
    try:
        return Quantity.parse(str(raw))
    except QuantityError as err:
        raise ResourcesPolicyError(f"{kind}[{resource}] of {container.get('name')}: {err}") from None


def aggregate(
    containers: Sequence[Mapping[str, Any]], mode: str
) -> tuple[dict[str, Quantity], dict[str, Quantity]]:
    """``aggregateResources``: (limits, requests) by ``sum`` or ``max`` (another mode: none)."""
    limits: dict[str, Quantity] = {}
    requests: dict[str, Quantity] = {}
    if mode not in ("sum", "max"):
        return limits, requests
    for resource in _RESOURCES:
        limit_values = [_quantity(c, "limits", resource) for c in containers]
        request_values = [
            q for q in (_quantity(c, "requests", resource) for c in containers) if q is not None
        ]
        every_limit = all(q is not None for q in limit_values)
        present = [q for q in limit_values if q is not None]
        if mode == "sum":
            if every_limit:
                limits[resource] = _sum(present)
            total = _sum(request_values)
            if total.value != 0:
                requests[resource] = total
        else:
            if every_limit and present:
                limits[resource] = _max(present)
            if request_values:
                requests[resource] = _max(request_values)
    return limits, requests


def _sum(values: Sequence[Quantity]) -> Quantity:
    total = Quantity(Fraction(0), DECIMAL_SI)  # resource.NewQuantity(0, DecimalSI), then Add
    for value in values:
        total = total.add(value)
    return total


def _max(values: Sequence[Quantity]) -> Quantity:
    best = values[0]
    for value in values[1:]:
        if value.value > best.value:
            best = value
    return best


def sidecar_resources(
    pod: Mapping[str, Any], sidecar: Mapping[str, Any], sidecar_names: Iterable[str]
) -> JsonDict:
    """The ``resources`` ``applyResourcesPolicy`` gives ``sidecar`` (which has a resourcesPolicy)."""
    policy = _dict(sidecar.get("resourcesPolicy"))
    regex = str(policy.get("targetContainersNameRegex") or "")
    found = targets(pod, regex, sidecar_names)
    if not found:
        raise ResourcesPolicyError(f"no containers match the regex pattern {go_quote(regex)}")
    limits, requests = aggregate(found, str(policy.get("targetContainersMode") or ""))
    expressions = _dict(policy.get("resourcesExpr"))
    out: JsonDict = {}
    for kind, aggregated, word in (("limits", limits, "limits"), ("requests", requests, "requests")):
        if expressions.get(kind) is None:
            continue
        values: dict[str, str] = {}
        for resource, label in (("cpu", "CPU"), ("memory", "memory")):
            expression = str(_dict(expressions.get(kind)).get(resource) or "")
            if not expression:
                continue
            base = aggregated.get(resource)
            if base is None:
                if kind == "limits":
                    continue
                base = Quantity(Fraction(0), "")
            try:
                values[resource] = resource_value(expression, base).canonical()
            except CalculatorError as err:
                raise ResourcesPolicyError(f"failed to evaluate {label} {word} expression: {err}") from None
        if values:
            out[kind] = values
    return out
