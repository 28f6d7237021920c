"""Spend a PodUnavailableBudget for one pod operation: read the PUB, decide, record, retry on conflict.

The I/O shell around :func:`workers.podunavailablebudget.admission.decide`, kruise's
``PodUnavailableBudgetValidatePod``: the PUB named by the pod's ``kruise.io/related-pub`` is read
from the API server, and when the verdict records the pod, the new status is PUT on the status
subresource with the PUB's resourceVersion as precondition; a conflict re-reads and decides again,
at most :data:`CONFLICT_STEPS` times, ~0.5 s apart (kruise's ``ConflictRetry``), then refuses with
kruise's timeout message. A refusal records kruise's ``PubPreventPodDeletion`` Warning Event on the
pod. Called by the admission webhook (pod DELETE / eviction / UPDATE) and by the CloneSet worker
before it updates a pod in place.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from flotilla.runtime.errors import Conflict, NotFound
from flotilla.runtime.kube import JsonObject, KubeClient, Resource
from workers.cloneset.kube_json import text
from workers.podunavailablebudget.admission import (
    ALLOW,
    REFUSED_EVENT_MESSAGE,
    REFUSED_EVENT_REASON,
    Decision,
    PubOperation,
    conflicts_message,
    decide,
    related_pub,
)
from workers.runtime.events import ObjectRef, emit_event

PODUNAVAILABLEBUDGETS = Resource(
    "policy.kruise.io", "v1alpha1", "podunavailablebudgets", "PodUnavailableBudget"
)
CONFLICT_STEPS = 4
CONFLICT_DELAY_SECONDS = 0.5
EVENT_COMPONENT = "flotilla-webhook"


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def admit(
    api: KubeClient,
    operation: PubOperation,
    pod: Mapping[str, object],
    *,
    dry_run: bool = False,
    in_place_vertical_scaling: bool = False,
    clock: Callable[[], datetime] = _utcnow,
    component: str = EVENT_COMPONENT,
) -> Decision:
    """The verdict on ``operation`` of ``pod`` (as it is before the operation), the budget spent when
    allowed. Raises :mod:`flotilla.runtime.errors` when the PUB cannot be read (kruise: an error)."""
    pub_name = related_pub(pod)
    if not pub_name:
        return ALLOW
    namespace = text(pod, "metadata", "namespace")
    path = PODUNAVAILABLEBUDGETS.path(namespace, pub_name)
    for attempt in range(CONFLICT_STEPS):
        try:
            pub: JsonObject | None = await api.get(path)
        except NotFound:
            pub = None
        decision = decide(
            operation, pod, pub, clock(), dry_run=dry_run, in_place_vertical_scaling=in_place_vertical_scaling
        )
        if decision.refused_event:
            refused_on = ObjectRef.of(dict(pod))
            reason, message = REFUSED_EVENT_REASON, REFUSED_EVENT_MESSAGE
            await emit_event(api, refused_on, reason, message, "Warning", component)
        if decision.status is None or pub is None:
            return decision
        try:
            await api.replace(
                PODUNAVAILABLEBUDGETS.path(namespace, pub_name, "status"), {**pub, "status": decision.status}
            )
            return decision
        except NotFound:
            return ALLOW  # the PUB went away meanwhile: nothing guards the pod any more
        except Conflict:
            if attempt + 1 < CONFLICT_STEPS:
                await asyncio.sleep(CONFLICT_DELAY_SECONDS * (1 + random.uniform(0, 0.1)))
    return Decision(False, conflicts_message(pub_name))
