"""The PodUnavailableBudget worker (kruise ``policy.kruise.io/v1alpha1``) and its admission decision.

``budget`` is the pure status computation (kruise's ``podunavailablebudget`` controller),
``planner`` turns it into a :class:`~workers.runtime.contract.Plan`, ``worker`` is the shell
(observe / act) defining ``WORKER`` (loaded lazily so pure code and its tests do not pull in the
runtime). ``admission`` is the pure verdict on a pod DELETE / eviction / in-place UPDATE (kruise's
``pubcontrol.PodUnavailableBudgetValidatePod``) and ``admit`` its I/O shell (read the PUB, record
the pod in its status with a resourceVersion precondition, retry on conflict), used by the webhook
and by the CloneSet worker before an in-place update. docs/podunavailablebudget.md lists them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workers.lazy import lazy_worker

if TYPE_CHECKING:
    from workers.podunavailablebudget.worker import WORKER

__all__ = ["WORKER"]
__getattr__ = lazy_worker(__name__)
