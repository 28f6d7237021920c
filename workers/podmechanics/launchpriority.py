"""Container launch priority, the shared part (kruise ``pkg/util/containerlaunchpriority`` and the
pure half of ``pkg/controller/containerlaunchpriority``).

A pod whose containers should start in order carries, per container, the env
``KRUISE_CONTAINER_BARRIER`` read from key ``p_<priority>`` of the ConfigMap ``<pod>-barrier``
(the admission webhook injects it, :mod:`webhook.launchpriority`). The kubelet cannot start a
container before its key exists; the ``containerlaunchpriority`` worker adds the keys one
priority at a time, highest first, each once the containers of the higher priorities are ready.
The in-place update of a prioritized pod reads the same priorities. Pure functions over pods and
ConfigMaps kept as JSON; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

#: The env users set on a container (kruise ``ContainerLaunchPriorityEnvName``).
PRIORITY_ENV = "KRUISE_CONTAINER_PRIORITY"
#: The env the webhook injects (kruise ``ContainerLaunchBarrierEnvName``).
BARRIER_ENV = "KRUISE_CONTAINER_BARRIER"
#: The pod annotation asking for containers to start in their spec order.
PRIORITY_ANNOTATION = "apps.kruise.io/container-launch-priority"
ORDERED = "Ordered"
#: The pod annotation the worker sets once every priority is in the barrier.
COMPLETED_ANNOTATION = "apps.kruise.io/container-launch-priority-completed"
BARRIER_SUFFIX = "-barrier"

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DIGITS = re.compile(r"[+-]?[0-9]+")


class BarrierEnvError(ValueError):
    """A ``KRUISE_CONTAINER_BARRIER`` env kruise cannot read (kruise's controller panics on it)."""


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def go_atoi(text: str) -> tuple[int, str]:
    """Go's ``strconv.Atoi`` on a 64-bit platform: (value, error text; "" when it parsed).

    Like Go, an out-of-range number comes back clamped to int64 together with its error."""
    if not _DIGITS.fullmatch(text):
        return 0, f"strconv.Atoi: parsing {_go_quote(text)}: invalid syntax"
    value = int(text)
    if value > _INT64_MAX or value < _INT64_MIN:
        clamped = _INT64_MAX if value > 0 else _INT64_MIN
        return clamped, f"strconv.Atoi: parsing {_go_quote(text)}: value out of range"
    return value, ""


def _go_quote(text: str) -> str:
    # Imported here: the watcher's pod routing reads priorities and needs no rule set.
    from schemas.kruise.rules.errors import go_quote

    return go_quote(text)


def barrier_name(pod_name: str) -> str:
    """The barrier ConfigMap's name (``<pod>-barrier``)."""
    return pod_name + BARRIER_SUFFIX


def key(priority: int) -> str:
    """kruise ``GetKey``: the barrier key of a priority, ``p_<priority>``."""
    return f"p_{priority}"


def barrier_env(priority: int, pod_name: str) -> dict[str, Any]:
    """kruise ``GeneratePriorityEnv``: the env the webhook appends to a container."""
    return {
        "name": BARRIER_ENV,
        "valueFrom": {"configMapKeyRef": {"name": barrier_name(pod_name), "key": key(priority)}},
    }


def container_priority(container: Mapping[str, Any]) -> int | None:
    """kruise ``GetContainerPriority``: the priority a container's first barrier env names, None
    without one. As kruise: the key's first two characters are skipped whatever they are and a
    number that does not parse reads 0; where kruise panics (no ``valueFrom.configMapKeyRef``,
    a key shorter than two characters) :class:`BarrierEnvError` says why."""
    for env in _list(container.get("env")):
        if _dict(env).get("name") != BARRIER_ENV:
            continue
        ref = _dict(_dict(_dict(env).get("valueFrom")).get("configMapKeyRef"))
        if not ref:
            raise BarrierEnvError(
                f"container {container.get('name')!r}: env {BARRIER_ENV} has no valueFrom.configMapKeyRef"
            )
        ref_key = str(ref.get("key") or "")
        if len(ref_key) < 2:
            raise BarrierEnvError(
                f"container {container.get('name')!r}: env {BARRIER_ENV} key {ref_key!r} is not p_<priority>"
            )
        value, _err = go_atoi(ref_key[2:])
        return value
    return None


def ready_containers(pod: Mapping[str, Any]) -> frozenset[str]:
    """The names of the containers whose status says ready."""
    statuses = _list(_dict(pod.get("status")).get("containerStatuses"))
    return frozenset(str(s.get("name")) for s in statuses if isinstance(s, dict) and s.get("ready") is True)


def next_priorities(pod: Mapping[str, Any]) -> list[int]:
    """kruise ``findNextPriorities``: the priorities of the containers not ready yet, ascending
    (duplicates kept); the last is the one to open next."""
    ready = ready_containers(pod)
    found: list[int] = []
    for container in _list(_dict(pod.get("spec")).get("containers")):
        if not isinstance(container, dict) or str(container.get("name")) in ready:
            continue
        priority = container_priority(container)
        if priority is not None:
            found.append(priority)
    return sorted(found)


def in_barrier(priority: int, barrier: Mapping[str, Any]) -> bool:
    """kruise ``isExistsInBarrier``: the priority's key is in the ConfigMap's data."""
    return key(priority) in _dict(barrier.get("data"))


def completed(pod: Mapping[str, Any]) -> bool:
    return _dict(_dict(pod.get("metadata")).get("annotations")).get(COMPLETED_ANNOTATION) == "true"


def containers_ready(pod: Mapping[str, Any]) -> bool:
    """The pod's ``ContainersReady`` condition is True."""
    return any(
        isinstance(c, dict) and c.get("type") == "ContainersReady" and c.get("status") == "True"
        for c in _list(_dict(pod.get("status")).get("conditions"))
    )


def worth_a_look(pod: Mapping[str, Any]) -> bool:
    """kruise's event filter (``shouldEnqueue``) without its barrier read: not marked completed,
    containers not all ready, some container with a priority not ready. (kruise also skips a pod
    whose next priority is already in the barrier; the worker finds that out and writes nothing.)
    A barrier env kruise cannot read counts as worth it: the worker reports it."""
    if completed(pod) or containers_ready(pod):
        return False
    try:
        return bool(next_priorities(pod))
    except BarrierEnvError:
        return True


def declared_priorities(containers: Sequence[Mapping[str, Any]]) -> tuple[list[int], bool, str]:
    """The webhook's ``getPriority``: each container's ``KRUISE_CONTAINER_PRIORITY`` (0 without;
    the last of several), whether they ask for ordering (some non-zero and not all equal), and
    ``strconv.Atoi``'s error text for a value that is not a number ("" else)."""
    priorities = [0] * len(containers)
    asked = False
    for i, container in enumerate(containers):
        for env in _list(container.get("env")):
            if _dict(env).get("name") != PRIORITY_ENV:
                continue
            raw = _dict(env).get("value")
            value, err = go_atoi(raw if isinstance(raw, str) else "")
            if err:
                return [], False, err
            priorities[i] = value
            if value != 0:
                asked = True
    if asked and all(p == priorities[0] for p in priorities):
        asked = False
    return priorities, asked, ""
