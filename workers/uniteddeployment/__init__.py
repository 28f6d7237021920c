"""The UnitedDeployment worker: OpenKruise's UnitedDeployment (apps.kruise.io/v1alpha1) in Flotilla.

``planner.plan`` is the pure heart (observed state in, a plan out); ``worker`` is the shell
(observe / act) and defines ``WORKER``, which the runtime loads as ``workers.uniteddeployment:WORKER``.
It is imported lazily so the planner and its tests do not pull in the runtime. The modules and
their roles are listed in docs/uniteddeployment.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workers.lazy import lazy_worker

if TYPE_CHECKING:
    from workers.uniteddeployment.worker import WORKER

__all__ = ["WORKER"]
__getattr__ = lazy_worker(__name__)
