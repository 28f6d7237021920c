"""The ImagePullJob worker (kruise-manager's ``imagepulljob`` controller): fan-out into NodeImages.

``planner`` decides (pure), ``worker`` is the runtime shell (``WORKER``, type ``imagepulljob``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workers.lazy import lazy_worker

if TYPE_CHECKING:
    from workers.imagepulljob.worker import WORKER

__all__ = ["WORKER"]
__getattr__ = lazy_worker(__name__)
