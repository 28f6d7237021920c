"""The ImageListPullJob worker (kruise-manager's ``imagelistpulljob`` controller): one ImagePullJob
per image of the list.

``planner`` decides (pure), ``worker`` is the runtime shell (``WORKER``, type ``imagelistpulljob``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workers.lazy import lazy_worker

if TYPE_CHECKING:
    from workers.imagelistpulljob.worker import WORKER

__all__ = ["WORKER"]
__getattr__ = lazy_worker(__name__)
