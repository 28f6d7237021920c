"""The SidecarSet worker: OpenKruise's SidecarSet (apps.kruise.io/v1beta1) upgrades in Flotilla.

Injection happens in the admission webhook (``webhook.sidecarset``); this worker upgrades the
sidecars of pods already injected, in place, and keeps the SidecarSet's status and
ControllerRevisions. ``planner.plan`` is the pure heart; ``worker`` is the shell (observe / act)
and defines ``WORKER``, which the runtime loads as ``workers.sidecarset:WORKER``. It is imported
lazily so the planner and its tests do not pull in the runtime. The modules and their roles are
listed in docs/sidecarset.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workers.lazy import lazy_worker

if TYPE_CHECKING:
    from workers.sidecarset.worker import WORKER

__all__ = ["WORKER"]
__getattr__ = lazy_worker(__name__)
