"""The ImageListPullJob worker (kruise-manager's ``imagelistpulljob`` controller): one ImagePullJob
per image of the list.

``planner`` decides (pure), ``worker`` is the runtime shell (``WORKER``, type ``imagelistpulljob``).
"""

from workers.imagelistpulljob.worker import WORKER

__all__ = ["WORKER"]
