"""The CloneSet worker: OpenKruise's CloneSet (apps.kruise.io/v1alpha1) as a Flotilla worker type.

``planner.plan`` is the pure heart (observed state in, a :class:`~workers.cloneset.actions.Plan`
out); ``worker`` is the shell (observe / act) and defines ``WORKER``, which the runtime loads as
``workers.cloneset:WORKER``. It is imported lazily so the planner and its tests do not pull in
the runtime. The modules and their roles are listed in docs/cloneset.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workers.lazy import lazy_worker

if TYPE_CHECKING:
    from workers.cloneset.worker import WORKER

__all__ = ["WORKER"]
__getattr__ = lazy_worker(__name__)
