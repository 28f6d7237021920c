"""The AdvancedCronJob worker (``flotilla worker advancedcronjob``): Jobs or BroadcastJobs on a schedule.

``planner`` (pure, takes ``now``) decides, ``schedule`` reads cron expressions, ``worker``
observes and acts.
"""


def __getattr__(name: str) -> object:
    if name == "WORKER":
        from workers.advancedcronjob.worker import WORKER

        return WORKER
    raise AttributeError(name)
