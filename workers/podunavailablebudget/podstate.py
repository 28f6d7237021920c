"""How a PodUnavailableBudget judges one pod: active, ready, consistent, and what a change does.

Pure functions on raw pod JSON, kruise's ``pubcontrol`` (``IsPodReady``, ``IsPodStateConsistent``,
``IsPodUnavailableChanged``, ``CanResizeInplace``). Used by :mod:`~workers.podunavailablebudget.budget`
(counting available pods) and :mod:`~workers.podunavailablebudget.admission` (the webhook's verdict).
The in-place completion check is the shared one (``workers.cloneset.inplace.update_completed``,
kruise ``DefaultCheckInPlaceUpdateCompleted``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from schemas.kruise.podunavailablebudget import UNAVAILABLE_POD_LABEL_PREFIX
from workers.cloneset.inplace import update_completed
from workers.cloneset.kube_json import JsonObject, annotations_of, field, labels_of, mapping, objects, text
from workers.cloneset.pods import read_pod

#: Resources the kubelet can resize in place (kruise ``allowedResizeResourceKey``).
RESIZABLE_RESOURCES = frozenset({"cpu", "memory"})
_STATIC_POD_SOURCE = "kubernetes.io/config.source"


def name(pod: JsonObject) -> str:
    return text(pod, "metadata", "name")


def is_active(pod: JsonObject) -> bool:
    """Not Succeeded / Failed and not being deleted (``kubecontroller.IsPodActive``)."""
    return text(pod, "status", "phase") not in ("Succeeded", "Failed") and not field(
        pod, "metadata", "deletionTimestamp"
    )


def has_unavailable_label(pod_labels: Mapping[str, str]) -> bool:
    """A label with the ``unavailable-pod.kruise.io/`` prefix marks the pod unavailable."""
    return any(key.startswith(UNAVAILABLE_POD_LABEL_PREFIX) for key in pod_labels)


def is_ready(pod: JsonObject) -> bool:
    """Running, Ready, not being deleted, and no unavailable label (``PubControl.IsPodReady``)."""
    if text(pod, "status", "phase") != "Running" or field(pod, "metadata", "deletionTimestamp"):
        return False
    ready = next((c for c in objects(pod, "status", "conditions") if c.get("type") == "Ready"), None)
    if ready is None or ready.get("status") != "True":
        return False
    return not has_unavailable_label(labels_of(pod))


def _digest_ref(image: str) -> tuple[str, str] | None:
    """``(normalised repository, digest)`` of a digest image reference; None for a tag reference."""
    image = image.split("://", 1)[-1]
    repo, at, digest = image.partition("@")
    if not at or not digest:
        return None
    first, slash, _rest = repo.partition("/")
    if not slash:
        repo = f"docker.io/library/{repo}"
    elif "." not in first and ":" not in first and first != "localhost":
        repo = f"docker.io/{repo}"
    return repo, digest


def is_state_consistent(pod: JsonObject) -> bool:
    """The containers run what the spec asks (``PubControl.IsPodStateConsistent``).

    When every container image is a digest, each container's reported imageID must be that digest;
    otherwise an in-place update in flight must have completed. (kruise also checks SidecarSet
    sidecar updates; Flotilla has no SidecarSet worker yet, so that part is not checked.)
    """
    image_ids = {text(s, "name"): text(s, "imageID") for s in objects(pod, "status", "containerStatuses")}
    all_digest = True
    for container in objects(pod, "spec", "containers"):
        wanted = _digest_ref(text(container, "image"))
        if wanted is None:
            all_digest = False
            continue
        reported = image_ids.get(text(container, "name"))
        if reported is None or _digest_ref(reported) != wanted:
            return False
    if all_digest:
        return True
    return update_completed(read_pod(pod))


def is_available(pod: JsonObject) -> bool:
    """Counted in ``currentAvailable``: active, consistent and ready."""
    return is_active(pod) and is_state_consistent(pod) and is_ready(pod)


def is_unavailable_change(old_pod: JsonObject, new_pod: JsonObject) -> bool:
    """The update may make the pod unavailable: its spec changes, or it gains an unavailable label
    (``PubControl.IsPodUnavailableChanged``)."""
    if mapping(old_pod, "spec") != mapping(new_pod, "spec"):
        return True
    return not has_unavailable_label(labels_of(old_pod)) and has_unavailable_label(labels_of(new_pod))


_SUFFIXES = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}  # fmt: skip
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def quantity(value: object) -> Decimal | str:
    """A resource quantity's value (``"1"`` equals ``"1000m"``); an unparsable one stays its text."""
    raw = str(value)
    match = _QUANTITY.match(raw)
    if match is None or match.group(2) not in _SUFFIXES:
        return raw
    try:
        return Decimal(match.group(1)) * _SUFFIXES[match.group(2)]
    except InvalidOperation:
        return raw


def _resources(container: JsonObject, kind: str) -> dict[str, Decimal | str]:
    return {str(k): quantity(v) for k, v in mapping(container, "resources", kind).items()}


def _without_resources(pod: JsonObject) -> object:
    spec = dict(mapping(pod, "spec"))
    spec["containers"] = [
        {k: v for k, v in c.items() if k != "resources"} for c in objects(pod, "spec", "containers")
    ]
    return spec


def qos_class(pod: JsonObject) -> str:
    """The pod's QoS class from its containers' cpu/memory requests and limits (``ComputePodQOS``)."""
    requests: dict[str, Decimal | str] = {}
    limits: dict[str, Decimal | str] = {}
    guaranteed = True
    for container in (*objects(pod, "spec", "initContainers"), *objects(pod, "spec", "containers")):
        req = {
            k: v for k, v in _resources(container, "requests").items() if k in RESIZABLE_RESOURCES and v != 0
        }
        lim = {
            k: v for k, v in _resources(container, "limits").items() if k in RESIZABLE_RESOURCES and v != 0
        }
        requests.update(req)
        limits.update(lim)
        if set(lim) != RESIZABLE_RESOURCES or any(req.get(k, lim[k]) != lim[k] for k in lim):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _is_static(pod: JsonObject) -> bool:
    return annotations_of(pod).get(_STATIC_POD_SOURCE, "api") != "api"


def can_resize_in_place(old_pod: JsonObject, new_pod: JsonObject) -> bool:
    """Only cpu/memory of containers change, with a ``NotRequired`` (or no) resize policy, the QoS
    class stays, and neither pod is static: the change is a RESIZE (``PubControl.CanResizeInplace``)."""
    if not has_unavailable_label(labels_of(old_pod)) and has_unavailable_label(labels_of(new_pod)):
        return False
    if _without_resources(old_pod) != _without_resources(new_pod):
        return False
    if _is_static(old_pod) or _is_static(new_pod) or qos_class(old_pod) != qos_class(new_pod):
        return False
    old_containers = {text(c, "name"): c for c in objects(old_pod, "spec", "containers")}
    new_containers = objects(new_pod, "spec", "containers")
    if len(old_containers) != len(new_containers):
        return False
    for container in new_containers:
        old = old_containers.get(text(container, "name"))
        if old is None:
            return False
        policies = {
            text(p, "resourceName"): text(p, "restartPolicy") for p in objects(container, "resizePolicy")
        }
        for kind in ("requests", "limits"):
            before, after = _resources(old, kind), _resources(container, kind)
            for resource in set(before) | set(after):
                if before.get(resource) == after.get(resource):
                    continue
                if resource not in RESIZABLE_RESOURCES:
                    return False
                if policies.get(resource, "") not in ("", "NotRequired"):
                    return False
    return True
