"""The CloneSet worker: OpenKruise's CloneSet (apps.kruise.io/v1alpha1) as a Flotilla worker type.

``planner.plan`` is the pure heart (observed state in, a :class:`~workers.cloneset.actions.Plan`
out); ``worker`` is the shell (observe / act) and defines ``WORKER``, which the runtime loads as
``workers.cloneset:WORKER``. It is imported lazily so the planner and its tests do not pull in
the runtime. The modules and their roles are listed in docs/cloneset.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workers.cloneset.worker import WORKER

__all__ = ["WORKER"]


def __getattr__(name: str) -> object:
    if name == "WORKER":
        from workers.cloneset.worker import WORKER

        return WORKER
    raise AttributeError(name)
