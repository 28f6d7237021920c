"""The Advanced StatefulSet worker: OpenKruise's StatefulSet (apps.kruise.io/v1beta1) in Flotilla.

``planner.plan`` is the pure heart (observed state in, a plan out); ``worker`` is the shell
(observe / act) and defines ``WORKER``, which the runtime loads as ``workers.statefulset:WORKER``.
It is imported lazily so the planner and its tests do not pull in the runtime. The modules and
their roles are listed in docs/statefulset.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workers.lazy import lazy_worker

if TYPE_CHECKING:
    from workers.statefulset.worker import WORKER

__all__ = ["WORKER"]
__getattr__ = lazy_worker(__name__)
