"""ContainerRecreateRequest's rules: kruise's mutating handler
(``pkg/webhook/containerrecreaterequest/mutating/crr_mutating_handler.go``), which both checks and
fills in a request; kruise registers no validating webhook for the kind.

Update: ``spec`` and the ``crr.apps.kruise.io/pod-uid`` / ``node-name`` labels are immutable, and
so is ``crr.apps.kruise.io/unready-acquired`` once set. Create: ``podName`` and ``containers``
required, ``activeDeadlineSeconds`` >= 3, grace periods >= 0, failurePolicy Fail or Ignore
(default Fail), the ``crr.apps.kruise.io/active`` label; then, from the pod (:func:`needs`), the
pod must exist, be active (or stopped by the sidecar terminator) and bound, and each container
must carry none of the read-only fields, exist in the pod and have a container
ID; the pod's Node (:func:`needs_node`) must exist; :func:`inject` then records the pod's node and
UID labels, kruise's virtual-kubelet label (``type: virtual-kubelet``) when the Node carries it,
grace period, preStop (and the ports an HTTP preStop needs) and each container's ID and restart
count.

The read-only check applies to the object as the user sent it, so the webhook runs all of this in
the one mutating call, as kruise does. kruise's "can not recreate <name> multi times" never fires
(its set of names stays empty), so a container named twice is accepted here too. kruise's
``fmt.Errorf`` texts, first error only. Pure.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from schemas.kruise.rules.errors import ErrorType, FieldError, PlainError

JsonDict = dict[str, Any]

POD_UID_KEY = "crr.apps.kruise.io/pod-uid"
NODE_NAME_KEY = "crr.apps.kruise.io/node-name"
ACTIVE_KEY = "crr.apps.kruise.io/active"
UNREADY_ACQUIRED_KEY = "crr.apps.kruise.io/unready-acquired"
SIDECAR_TERMINATED = "SidecarTerminated"
MIN_DEADLINE_SECONDS = 3
READ_ONLY = ("preStop", "ports", "statusContext")
#: kruise's ``util.VirtualKubeletLabelKey`` / ``VirtualKubeletLabelValue`` (pkg/util/virtual_kubelet.go).
VIRTUAL_KUBELET_LABEL = ("type", "virtual-kubelet")


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _plain(path: str, text: str) -> list[FieldError]:
    return [PlainError(ErrorType.INVALID, path, text)]


def _labels(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _dict(_dict(obj.get("metadata")).get("labels"))


def default_crr(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> JsonDict:
    """What kruise sets without the pod: on a create, the active label, an empty strategy and
    failurePolicy Fail (an update is never changed)."""
    out: JsonDict = copy.deepcopy(dict(obj))
    if old is not None:
        return out
    metadata: JsonDict = out.setdefault("metadata", {})
    labels = metadata.get("labels")
    if not isinstance(labels, dict):
        labels = metadata["labels"] = {}
    labels[ACTIVE_KEY] = "true"
    spec: JsonDict = out.setdefault("spec", {})
    strategy = spec.get("strategy")
    if not isinstance(strategy, dict):
        strategy = spec["strategy"] = {}
    if not strategy.get("failurePolicy"):
        strategy["failurePolicy"] = "Fail"
    return out


def _validate_update(obj: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
    if obj.get("spec") != old.get("spec"):
        return _plain("spec", "spec of ContainerRecreateRequest is immutable")
    labels, old_labels = _labels(obj), _labels(old)
    for key in (POD_UID_KEY, NODE_NAME_KEY):
        if labels.get(key, "") != old_labels.get(key, ""):
            return _plain("metadata.labels", f"not allowed to update immutable label {key}")
    annotations = _dict(_dict(obj.get("metadata")).get("annotations"))
    old_annotations = _dict(_dict(old.get("metadata")).get("annotations"))
    acquired = old_annotations.get(UNREADY_ACQUIRED_KEY, "")
    if acquired and annotations.get(UNREADY_ACQUIRED_KEY, "") != acquired:
        return _plain(
            "metadata.annotations", f"not allowed to update immutable annotation {UNREADY_ACQUIRED_KEY}"
        )
    return []


def validate_crr(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[FieldError]:
    """kruise's checks that need no pod, in its order (a create's need the object as sent, with
    :func:`default_crr` applied)."""
    if old is not None:
        return _validate_update(obj, old)
    spec = _dict(obj.get("spec"))
    if not spec.get("podName"):
        return _plain("spec.podName", "podName can not be empty")
    if not spec.get("containers"):
        return _plain("spec.containers", "containers list can not be null")
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and deadline < MIN_DEADLINE_SECONDS:
        return _plain(
            "spec.activeDeadlineSeconds",
            f"activeDeadlineSeconds can not be less than {MIN_DEADLINE_SECONDS}s",
        )
    strategy = _dict(spec.get("strategy"))
    for member in ("terminationGracePeriodSeconds", "unreadyGracePeriodSeconds"):
        value = strategy.get(member)
        if isinstance(value, int) and value < 0:
            return _plain(f"spec.strategy.{member}", f"{member} must be non-negative integer")
    policy = strategy.get("failurePolicy") or ""
    if policy not in ("", "Fail", "Ignore"):
        return _plain("spec.strategy.failurePolicy", f"unknown failurePolicy {policy}")
    return []


def needs_pod(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The pod a create reads (none on an update, or without a ``podName``)."""
    name = _dict(obj.get("spec")).get("podName")
    return (str(name),) if old is None and name else ()


def needs_node(
    obj: Mapping[str, Any], old: Mapping[str, Any] | None, pods: Mapping[str, Mapping[str, Any] | None]
) -> tuple[str, ...]:
    """The Node a create reads once it has the pod: the pod's, when the pod passed kruise's
    checks before its Node read (it exists, is active or stopped by the sidecar terminator, and
    is bound)."""
    names = needs_pod(obj, old)
    pod = pods.get(names[0]) if names else None
    if pod is None or (not _pod_active(pod) and not _terminated_by_sidecar_terminator(pod)):
        return ()
    node = _dict(pod.get("spec")).get("nodeName")
    return (str(node),) if node else ()


def _pod_active(pod: Mapping[str, Any]) -> bool:
    phase = _dict(pod.get("status")).get("phase")
    return phase not in ("Succeeded", "Failed") and not _dict(pod.get("metadata")).get("deletionTimestamp")


def _terminated_by_sidecar_terminator(pod: Mapping[str, Any]) -> bool:
    conditions = _dict(pod.get("status")).get("conditions") or []
    return any(_dict(c).get("type") == SIDECAR_TERMINATED for c in conditions)


def _named(items: object, name: object) -> Mapping[str, Any] | None:
    for item in items if isinstance(items, list) else ():
        if _dict(item).get("name") == name:
            return _dict(item)
    return None


def validate_pod(
    obj: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    pods: Mapping[str, Mapping[str, Any] | None],
    nodes: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> list[FieldError]:
    """kruise's checks against the pod (a create with a pod name only), and against its Node when
    ``nodes`` were read (Node by name, None: not found)."""
    names = needs_pod(obj, old)
    if not names or names[0] not in pods:
        return []
    pod = pods[names[0]]
    if pod is None:
        return _plain("spec.podName", f"no found Pod named {names[0]}")
    pod_spec = _dict(pod.get("spec"))
    if not _pod_active(pod) and not _terminated_by_sidecar_terminator(pod):
        return _plain("spec.podName", "not allowed to recreate containers in an inactive Pod")
    if not pod_spec.get("nodeName"):
        return _plain("spec.podName", "not allowed to recreate containers in a pending Pod")
    node_name = str(pod_spec["nodeName"])
    if nodes is not None and node_name in nodes and nodes[node_name] is None:
        # the Go client's NotFound text, as kruise formats it with %v
        return _plain("spec.podName", f'failed to get Node {node_name}: nodes "{node_name}" not found')
    statuses = _dict(pod.get("status")).get("containerStatuses")
    for index, container in enumerate(_dict(obj.get("spec")).get("containers") or []):
        container = _dict(container)
        name = str(container.get("name") or "")
        path = f"spec.containers[{index}]"
        if any(container.get(member) is not None for member in READ_ONLY):
            return _plain(path, "preStop, ports, statusContext in container are ready-only fields")
        if _named(pod_spec.get("containers"), name) is None:
            return _plain(path, f"container {name} not found in Pod")
        status = _named(statuses, name)
        if status is None:
            return _plain(path, f"not found {name} containerStatus in Pod Status")
        if not status.get("containerID"):
            return _plain(
                path,
                f"no containerID in {name} containerStatus, maybe the container has not been initialized",
            )
    return []


def inject(obj: Mapping[str, Any], pod: Mapping[str, Any], node: Mapping[str, Any] | None = None) -> JsonDict:
    """kruise's ``injectPodIntoContainerRecreateRequest`` (after :func:`validate_pod` passed);
    ``node`` is the pod's Node when it was read."""
    out: JsonDict = copy.deepcopy(dict(obj))
    pod_spec = _dict(pod.get("spec"))
    labels: JsonDict = out.setdefault("metadata", {}).setdefault("labels", {})
    labels[NODE_NAME_KEY] = pod_spec.get("nodeName", "")
    labels[POD_UID_KEY] = _dict(pod.get("metadata")).get("uid", "")
    key, value = VIRTUAL_KUBELET_LABEL
    if node is not None and _labels(node).get(key) == value:
        labels[key] = value
    strategy: JsonDict = out.setdefault("spec", {}).setdefault("strategy", {})
    if strategy.get("terminationGracePeriodSeconds") is None and "terminationGracePeriodSeconds" in pod_spec:
        strategy["terminationGracePeriodSeconds"] = pod_spec["terminationGracePeriodSeconds"]
    statuses = _dict(pod.get("status")).get("containerStatuses")
    for container in out["spec"].get("containers") or []:
        pod_container = _named(pod_spec.get("containers"), container.get("name")) or {}
        pre_stop = _dict(_dict(pod_container.get("lifecycle")).get("preStop"))
        handler = {k: pre_stop[k] for k in ("exec", "httpGet", "tcpSocket") if pre_stop.get(k) is not None}
        if pre_stop:
            container["preStop"] = handler
        if handler.get("httpGet") is not None and pod_container.get("ports") is not None:
            container["ports"] = copy.deepcopy(pod_container["ports"])
        status = _named(statuses, container.get("name")) or {}
        container["statusContext"] = {
            "containerID": status.get("containerID", ""),
            "restartCount": status.get("restartCount", 0),
        }
    return out
