"""Pod CREATE mutation: container launch priority (kruise ``containerLaunchPriorityInitialization``,
pkg/webhook/pod/mutating/container_launch_priority_initialization.go).

A pod asks for its containers to start in order in one of two ways, both written by the user:

- the annotation ``apps.kruise.io/container-launch-priority: Ordered``: the containers start in
  their spec order (priorities 0, -1, -2, ...);
- an env ``KRUISE_CONTAINER_PRIORITY: "<int>"`` on some containers (0 without): higher first;
  ignored when every container has the same priority (all 0 included).

Either way each container gets the env ``KRUISE_CONTAINER_BARRIER`` from key ``p_<priority>`` of
the ConfigMap ``<pod>-barrier`` (:func:`workers.podmechanics.launchpriority.barrier_env`), which
the ``containerlaunchpriority`` worker creates and fills; a pod known only by ``generateName`` is
given its name here, as kruise does (its barrier needs one). As kruise: a pod of one container
is left alone, the Ordered annotation wins over the env (no priority is parsed then), a
``KRUISE_CONTAINER_PRIORITY`` that is not a Go integer refuses the pod (500,
``strconv.Atoi: parsing "x": invalid syntax``), a barrier env already present is not looked at
(kruise appends another), and the step runs after SidecarSet injection on the pod the sidecars
left (``dispatch.sequence``: injected sidecars are ordered too). Nothing when the ``PodWebhook``
gate is off (kruise serves no pod webhook then). kruise has no gate of its own for it.

:func:`launch_priority_patch` is pure: the pod in, JSON patch operations out.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flotilla.runtime.features import Feature
from webhook.dispatch import AdmissionConfig, Cluster, Facts, Route
from webhook.review import AdmissionRequest, JsonObject, Verdict, allowed, denied, patched
from workers.podmechanics import launchpriority as lp

#: kruise's ``storagenames.SimpleNameGenerator``: at most 58 characters of ``generateName``,
#: then 5 random characters of the API server's alphabet (``utilrand.String``).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
MAX_GENERATED_BASE = 63 - 5


class PriorityError(ValueError):
    """A ``KRUISE_CONTAINER_PRIORITY`` value kruise cannot parse (the message is Go's)."""


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def random_suffix() -> str:
    return "".join(secrets.choice(NAME_ALPHABET) for _ in range(5))


def priorities_of(pod: Mapping[str, Any]) -> list[int] | None:
    """The priority of each container in spec order, None when the pod asks for no ordering.

    Raises :class:`PriorityError` as kruise's ``getPriority`` errors."""
    metadata = _dict(pod.get("metadata"))
    containers = [_dict(c) for c in _list(_dict(pod.get("spec")).get("containers"))]
    if len(containers) == 1:
        return None
    if _dict(metadata.get("annotations")).get(lp.PRIORITY_ANNOTATION) == lp.ORDERED:
        return [-i for i in range(len(containers))]
    priorities, asked, err = lp.declared_priorities(containers)
    if err:
        raise PriorityError(err)
    return priorities if asked else None


def launch_priority_patch(pod: Mapping[str, Any], name_suffix: str) -> list[JsonObject]:
    """The operations kruise's step makes on ``pod`` ([] when it skips): a name from
    ``generateName`` + ``name_suffix`` when the pod has none, and each container's barrier env."""
    priorities = priorities_of(pod)
    if priorities is None:
        return []
    metadata = _dict(pod.get("metadata"))
    ops: list[JsonObject] = []
    name = str(metadata.get("name") or "")
    generate = str(metadata.get("generateName") or "")
    if not name and generate:
        name = generate[:MAX_GENERATED_BASE] + name_suffix
        ops.append({"op": "add", "path": "/metadata/name", "value": name})
    containers = _list(_dict(pod.get("spec")).get("containers"))
    for i, priority in enumerate(priorities):
        env = lp.barrier_env(priority, name)
        if isinstance(_dict(containers[i]).get("env"), list):
            ops.append({"op": "add", "path": f"/spec/containers/{i}/env/-", "value": env})
        else:
            ops.append({"op": "add", "path": f"/spec/containers/{i}/env", "value": [env]})
    return ops


async def gather_suffix(_request: AdmissionRequest, _config: AdmissionConfig, _cluster: Cluster) -> Facts:
    """No read: the random part of a generated name (drawn here so the handler stays pure)."""
    return Facts(name_suffix=random_suffix())


def initialize_launch_priority(request: AdmissionRequest, config: AdmissionConfig, facts: Facts) -> Verdict:
    pod = request.object
    if pod is None:
        return denied(400, "pod CREATE without request.object")
    if not config.gates[Feature.POD_WEBHOOK] or request.sub_resource or request.operation != "CREATE":
        return allowed()
    try:
        ops = launch_priority_patch(pod, facts.name_suffix or random_suffix())
    except PriorityError as err:  # kruise: admission.Errored(http.StatusInternalServerError, err)
        return denied(500, str(err))
    return patched(ops)


ROUTE = Route(initialize_launch_priority, gather_suffix)
