"""Cron schedules as kruise's AdvancedCronJob reads them (robfig/cron ``ParseStandard``), over croniter.

Pure. A schedule is five standard fields or a descriptor (``@hourly``, ``@daily``...), optionally
prefixed ``TZ=<zone>`` / ``CRON_TZ=<zone>``; ``spec.timeZone`` applies when the schedule has no
such prefix (kruise's ``formatSchedule``; an unloadable zone falls back to the bare schedule);
with neither, the controller's zone, which is UTC here. :func:`missed_and_next` is kruise's
``getNextSchedule``: the latest start time missed since the earliest moment that still counts
(last schedule time, else creation, moved up by ``startingDeadlineSeconds``) and the next one.
Called by :mod:`workers.advancedcronjob.planner`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

#: kruise gives up past this many missed start times.
MAX_MISSED = 100
TOO_MANY = (
    "too many missed start times (> 100). Set or decrease .spec.startingDeadlineSeconds or check clock skew"
)


class ScheduleError(ValueError):
    """The schedule cannot be used; the message is kruise's."""


def _zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class Schedule:
    expression: str
    zone: tzinfo

    def next_after(self, moment: datetime) -> datetime:
        """The first start time strictly after ``moment`` (whole seconds)."""
        start = moment.astimezone(self.zone).replace(microsecond=0)
        found: datetime = croniter(self.expression, start).get_next(datetime)
        return found


def parse(schedule: str, time_zone: str | None) -> Schedule:
    """The schedule with its zone; ScheduleError names what is wrong."""
    text = schedule.strip()
    zone: tzinfo = UTC
    if "TZ" in text:
        head, _, rest = text.partition(" ")
        key, _, name = head.partition("=")
        found = _zone(name) if key in ("TZ", "CRON_TZ") else None
        if found is None:
            raise ScheduleError(f"unparsable schedule {schedule!r}: provided bad location {name}")
        zone, text = found, rest.strip()
    elif time_zone is not None:
        zone = _zone(time_zone) or UTC
    if text.startswith("@every"):
        raise ScheduleError(f"unparsable schedule {schedule!r}: @every is not supported by Flotilla")
    if not text.startswith("@") and len(text.split()) != 5:
        raise ScheduleError(
            f"unparsable schedule {schedule!r}: expected exactly 5 fields, found {len(text.split())}"
        )
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=zone))
    except (CroniterError, ValueError, KeyError) as err:
        raise ScheduleError(f"unparsable schedule {schedule!r}: {err}") from err
    return Schedule(text, zone)


def missed_and_next(
    schedule: Schedule,
    now: datetime,
    last_schedule: datetime | None,
    created: datetime,
    starting_deadline_seconds: int | None,
) -> tuple[datetime | None, datetime]:
    """(the latest missed start time or None, the next start time after ``now``)."""
    earliest = last_schedule or created
    if starting_deadline_seconds is not None:
        deadline = datetime.fromtimestamp(now.timestamp() - starting_deadline_seconds, UTC)
        earliest = max(earliest, deadline)
    if earliest > now:
        return None, schedule.next_after(now)
    missed: datetime | None = None
    starts = 0
    moment = schedule.next_after(earliest)
    while moment <= now:
        missed = moment
        starts += 1
        if starts > MAX_MISSED:
            raise ScheduleError(TOO_MANY)
        moment = schedule.next_after(moment)
    return missed, schedule.next_after(now)
