"""The container-launch-priority worker (kruise-manager's ``container-launch-priority-controller``):
the barrier ConfigMap of each pod whose containers start in priority order, one key at a time.

``planner`` decides (pure), ``worker`` is the runtime shell (``WORKER``, type
``containerlaunchpriority``). The webhook's half is :mod:`webhook.launchpriority`; the shared
priorities :mod:`workers.podmechanics.launchpriority`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workers.lazy import lazy_worker

if TYPE_CHECKING:
    from workers.containerlaunchpriority.worker import WORKER

__all__ = ["WORKER"]
__getattr__ = lazy_worker(__name__)
