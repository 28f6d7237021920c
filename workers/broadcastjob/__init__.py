"""The BroadcastJob worker (``flotilla worker broadcastjob``): one pod per eligible node.

``planner`` (pure) decides, ``worker`` observes and acts; ``nodefit`` judges nodes as kruise's
predicate simulation does, ``jobpods`` builds and reads the job's pods.
"""


def __getattr__(name: str) -> object:
    if name == "WORKER":
        from workers.broadcastjob.worker import WORKER

        return WORKER
    raise AttributeError(name)
