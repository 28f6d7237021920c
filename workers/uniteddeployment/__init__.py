"""The UnitedDeployment worker: OpenKruise's UnitedDeployment (apps.kruise.io/v1alpha1) in Flotilla.

``planner.plan`` is the pure heart (observed state in, a plan out); ``worker`` is the shell
(observe / act) and defines ``WORKER``, which the runtime loads as ``workers.uniteddeployment:WORKER``.
It is imported lazily so the planner and its tests do not pull in the runtime. The modules and
their roles are listed in docs/uniteddeployment.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workers.uniteddeployment.worker import WORKER

__all__ = ["WORKER"]


def __getattr__(name: str) -> object:
    if name == "WORKER":
        from workers.uniteddeployment.worker import WORKER

        return WORKER
    raise AttributeError(name)
