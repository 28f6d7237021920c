"""The BroadcastJob worker (``flotilla worker broadcastjob``): one pod per eligible node.

``planner`` (pure) decides, ``worker`` observes and acts; ``nodefit`` judges nodes as kruise's
predicate simulation does, ``jobpods`` builds and reads the job's pods.
"""

from workers.lazy import lazy_worker

__getattr__ = lazy_worker(__name__)
