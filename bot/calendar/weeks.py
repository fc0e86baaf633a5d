"""Weeks, as circles count them: Monday to Sunday in the circle's time zone.

Reflections belong to the week their check-in was for (not the week they were written in),
and digests summarise one such week, so both use these functions.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def week_start(moment: datetime, tz: ZoneInfo) -> date:
    """The Monday (local date in `tz`) of the week containing `moment`."""
    if moment.tzinfo is None:
        raise ValueError("week_start needs an aware datetime")
    local_day = moment.astimezone(tz).date()
    return local_day - timedelta(days=local_day.weekday())


def week_start_of_day(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_bounds(monday: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants [start, end) of the local week starting on `monday` (DST-correct)."""
    if monday.weekday() != 0:
        raise ValueError(f"{monday} is not a Monday")
    start = datetime.combine(monday, time(0), tzinfo=tz)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=tz)
    return start, end


def week_began(moment: datetime, tz: ZoneInfo) -> datetime:
    """The instant the week containing `moment` began: Monday 00:00 in `tz`."""
    return week_bounds(week_start(moment, tz), tz)[0]
