"""The admission verdict on a pod operation a PodUnavailableBudget guards (pure).

kruise's pod validating webhook (``podUnavailableBudgetValidatingPod``) and
``pubcontrol.PodUnavailableBudgetValidatePod`` / ``checkAndDecrement``, without I/O:

* :func:`classify` says which budget operation an admission request is (DELETE of a pod,
  CREATE of ``pods/eviction`` = EVICT, UPDATE that may make the pod unavailable = UPDATE, or RESIZE
  when only cpu/memory change in place), or ``None`` when no budget is concerned, honouring the
  ``PodUnavailableBudgetDeleteGate`` / ``PodUnavailableBudgetUpdateGate`` feature gates;
* :func:`decide` takes the pod as it is before the operation, its PUB (as read, or ``None``) and
  the time, and returns a :class:`Decision`: allowed or refused with kruise's message, and when
  allowed with a budget to spend, the PUB status to write (one less ``unavailableAllowed``, the pod
  recorded in ``disruptedPods`` or, for UPDATE, ``unavailablePods``).

The caller (:mod:`workers.podunavailablebudget.admit`) reads the PUB named by the pod's
``kruise.io/related-pub`` annotation, writes ``Decision.status`` with the PUB's resourceVersion as
precondition and calls :func:`decide` again on a conflict, as kruise retries.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from flotilla.runtime.features import Feature, FeatureGates
from schemas.kruise.podunavailablebudget import (
    NO_PROTECT_ANNOTATION,
    PROTECT_OPERATIONS_ANNOTATION,
    RELATED_PUB_ANNOTATION,
)
from workers.cloneset.kube_json import (
    JsonDict,
    JsonObject,
    annotations_of,
    format_time,
    integer,
    mapping,
    text,
)
from workers.podunavailablebudget.podstate import (
    can_resize_in_place,
    is_ready,
    is_state_consistent,
    is_unavailable_change,
    name,
)

#: More recorded pods than this and kruise refuses: the controller is not keeping up.
MAX_UNAVAILABLE_POD_SIZE = 2000
#: The Warning Event kruise records on the pod whose operation a budget refused.
REFUSED_EVENT_REASON = "PubPreventPodDeletion"
REFUSED_EVENT_MESSAGE = "openkruise pub prevents pod deletion"


class PubOperation(enum.StrEnum):
    """The operations ``kruise.io/pub-protect-operations`` may name."""

    DELETE = "DELETE"
    UPDATE = "UPDATE"
    EVICT = "EVICT"
    RESIZE = "RESIZE"


@dataclass(frozen=True)
class Decision:
    """The verdict. ``status``: the PUB status to write before admitting (None: nothing to record)."""

    allowed: bool
    message: str = ""
    status: JsonDict | None = None
    refused_event: bool = False
    """Record kruise's ``PubPreventPodDeletion`` Warning Event on the pod."""


ALLOW = Decision(True)
_TOO_MANY_RECORDED = (
    "DisruptedPods and UnavailablePods map too big - too many unavailable not confirmed by PUB controller"
)


def related_pub(pod: JsonObject) -> str:
    """The PUB covering ``pod`` ('' when none): its ``kruise.io/related-pub`` annotation."""
    return annotations_of(pod).get(RELATED_PUB_ANNOTATION, "")


def classify(
    request_operation: str,
    sub_resource: str,
    old_pod: JsonObject | None,
    new_pod: JsonObject | None,
    gates: FeatureGates,
) -> PubOperation | None:
    """The budget operation of an admission request on ``pods`` (None: no budget is concerned).

    ``old_pod`` / ``new_pod`` are the request's ``oldObject`` / ``object`` (for an eviction,
    ``object`` is the Eviction; the caller then reads the pod itself and passes it to :func:`decide`).
    """
    match request_operation:
        case "UPDATE":
            if not gates[Feature.POD_UNAVAILABLE_BUDGET_UPDATE_GATE] or old_pod is None or new_pod is None:
                return None
            if sub_resource or not related_pub(new_pod) or not is_unavailable_change(old_pod, new_pod):
                return None
            return PubOperation.RESIZE if can_resize_in_place(old_pod, new_pod) else PubOperation.UPDATE
        case "DELETE":
            if not gates[Feature.POD_UNAVAILABLE_BUDGET_DELETE_GATE] or sub_resource:
                return None
            return PubOperation.DELETE
        case "CREATE":
            if not gates[Feature.POD_UNAVAILABLE_BUDGET_DELETE_GATE] or sub_resource != "eviction":
                return None
            return PubOperation.EVICT
    return None


def protected_operations(pub: JsonObject, in_place_vertical_scaling: bool) -> frozenset[str]:
    """What the PUB protects: its ``kruise.io/pub-protect-operations`` (default DELETE, UPDATE, EVICT);
    without the InPlacePodVerticalScaling gate a resize is an update (``isNeedPubProtection``)."""
    value = annotations_of(pub).get(PROTECT_OPERATIONS_ANNOTATION, "")
    operations = set(value.split(","))
    if not value:
        operations |= {PubOperation.DELETE, PubOperation.UPDATE, PubOperation.EVICT}
    if not in_place_vertical_scaling and PubOperation.UPDATE in operations:
        operations.add(PubOperation.RESIZE)
    return frozenset(operations)


def forbidden(pub_name: str, reason: str) -> str:
    """kruise's ``errors.NewForbidden(Resource("podunavailablebudget"), name, reason)`` text."""
    return f'podunavailablebudget.policy.kruise.io "{pub_name}" is forbidden: {reason}'


def conflicts_message(pub_name: str) -> str:
    """What kruise answers when the status write kept conflicting (``NewTimeoutError``)."""
    return f"Timeout: couldn't update PodUnavailableBudget {pub_name} due to conflicts"


def decide(
    operation: PubOperation,
    pod: JsonObject,
    pub: JsonObject | None,
    now: datetime,
    *,
    dry_run: bool = False,
    in_place_vertical_scaling: bool = False,
) -> Decision:
    """The verdict on ``operation`` of ``pod`` (as it is now) under ``pub`` (None: no such PUB)."""
    if annotations_of(pod).get(NO_PROTECT_ANNOTATION) == "true":
        return ALLOW
    if not is_ready(pod) or not is_state_consistent(pod):
        return ALLOW  # an unavailable pod does not count towards the budget
    if pub is None:
        return ALLOW
    status = mapping(pub, "status")
    if integer(status, "desiredAvailable") == 0:
        return ALLOW
    if operation not in protected_operations(pub, in_place_vertical_scaling):
        return ALLOW
    pod_name = name(pod)
    disrupted = dict(mapping(status, "disruptedPods"))
    unavailable = dict(mapping(status, "unavailablePods"))
    if pod_name in disrupted or pod_name in unavailable:
        return ALLOW  # already counted
    pub_name = text(pub, "metadata", "name")
    allowed = integer(status, "unavailableAllowed")
    if allowed <= 0:
        return Decision(False, forbidden(pub_name, "pub unavailable allowed is negative"), refused_event=True)
    if len(disrupted) + len(unavailable) > MAX_UNAVAILABLE_POD_SIZE:
        return Decision(False, forbidden(pub_name, _TOO_MANY_RECORDED), refused_event=True)
    if dry_run:
        return ALLOW
    if operation is PubOperation.UPDATE:
        unavailable[pod_name] = format_time(now)
    else:
        disrupted[pod_name] = format_time(now)
    new_status: JsonDict = {**status, "unavailableAllowed": allowed - 1}
    new_status["disruptedPods"] = disrupted
    new_status["unavailablePods"] = unavailable
    return Decision(True, status=new_status)
