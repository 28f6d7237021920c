"""What only a CloneSet reads of its pods, on top of the shared pod view (``podmechanics.pods``).

The ``apps.kruise.io/cloneset-instance-id`` label names a pod's instance (its PVCs carry it too,
so a new pod reuses a dead one's volumes), and a CloneSet counts a pod available only in
lifecycle state Normal (or none) and update-ready (kruise's ``IsPodUpdateReady``). Pure; called
by the CloneSet planner modules.
"""

from __future__ import annotations

from datetime import datetime

from schemas.kruise.cloneset import CLONESET_INSTANCE_ID_LABEL
from workers.podmechanics.kube_json import JsonObject, labels_of
from workers.podmechanics.pods import PodView, is_update_ready


def instance_id(obj: JsonObject) -> str:
    """The ``apps.kruise.io/cloneset-instance-id`` label of a pod's or PVC's JSON."""
    return labels_of(obj).get(CLONESET_INSTANCE_ID_LABEL, "")


def pod_instance_id(pod: PodView) -> str:
    """The instance id of a pod already read (``''`` when unset)."""
    return pod.labels.get(CLONESET_INSTANCE_ID_LABEL, "")


def is_cloneset_available(pod: PodView, min_ready_seconds: int, now: datetime) -> bool:
    """Available as the CloneSet counts it: lifecycle Normal (or unset) and update-ready."""
    if pod.lifecycle_state not in ("", "Normal"):
        return False
    return is_update_ready(pod, min_ready_seconds, now)


def is_cloneset_ready(pod: PodView, now: datetime) -> bool:
    return is_cloneset_available(pod, 0, now)
