"""The AdvancedCronJob worker (``flotilla worker advancedcronjob``): Jobs or BroadcastJobs on a schedule.

``planner`` (pure, takes ``now``) decides, ``schedule`` reads cron expressions, ``worker``
observes and acts.
"""

from workers.lazy import lazy_worker

__getattr__ = lazy_worker(__name__)
