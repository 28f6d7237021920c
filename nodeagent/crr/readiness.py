"""The Pod's ``KruisePodReady`` gate during a CRR's ``unreadyGracePeriodSeconds``.

kruise's ``pkg/util/podreadiness`` for the CRR controller: a not-ready message
``{"userAgent": "ContainerRecreateRequest", "key": "<ns>/<crr>"}`` is added to the condition's
message list (the condition turns False, and Ready with it) and removed when the CRR finishes (the
condition turns True when no message is left). Only for Pods that carry the readiness gate; pure:
returns the status patch, or None when nothing changes.
"""

from __future__ import annotations

from typing import Any

from schemas.kruise.pub import KRUISE_POD_READY_CONDITION
from workers.podmechanics.lifecycle import conditions_patch, not_ready_keys, not_ready_message
from workers.podmechanics.pods import condition, has_readiness_gate, read_pod

USER_AGENT = "ContainerRecreateRequest"
#: kruise's finalizer on a CRR that holds a Pod not-ready (the same string as the annotation).
FINALIZER = "crr.apps.kruise.io/unready-acquired"


def _messages(raw: object) -> list[dict[str, str]]:
    return not_ready_keys(raw if isinstance(raw, str) else "")


def has_gate(pod: dict[str, Any] | None) -> bool:
    return pod is not None and has_readiness_gate(read_pod(pod), KRUISE_POD_READY_CONDITION)


def holds(pod: dict[str, Any] | None, crr_key: str) -> bool:
    """The Pod's KruisePodReady condition carries this CRR's not-ready message."""
    if pod is None:
        return False
    current = condition(read_pod(pod), KRUISE_POD_READY_CONDITION)
    entry = {"userAgent": USER_AGENT, "key": crr_key}
    return current is not None and entry in _messages(current.get("message"))


def not_ready_patch(pod: dict[str, Any], crr_key: str, add: bool, now: str) -> dict[str, Any] | None:
    """kruise's ``AddNotReadyKey`` (``add``) / ``RemoveNotReadyKey``: the pod status patch."""
    view = read_pod(pod)
    if not has_readiness_gate(view, KRUISE_POD_READY_CONDITION):
        return None
    current = condition(view, KRUISE_POD_READY_CONDITION)
    messages = _messages(current.get("message")) if current is not None else []
    entry = {"userAgent": USER_AGENT, "key": crr_key}
    if add:
        if entry in messages:
            return None
        messages.append(entry)
        status = "False"
    else:
        if current is None or entry not in messages:
            return None
        messages.remove(entry)
        status = "True" if not messages else str(current.get("status", "False"))
    changed: dict[str, object] = {
        "type": KRUISE_POD_READY_CONDITION,
        "status": status,
        "message": not_ready_message(messages),
        "lastTransitionTime": now,
    }
    return conditions_patch(view, {KRUISE_POD_READY_CONDITION: changed})
