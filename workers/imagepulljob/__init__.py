"""The ImagePullJob worker (kruise-manager's ``imagepulljob`` controller): fan-out into NodeImages.

``planner`` decides (pure), ``worker`` is the runtime shell (``WORKER``, type ``imagepulljob``).
"""

from workers.imagepulljob.worker import WORKER

__all__ = ["WORKER"]
