"""Weekly recurrences (check-ins, debriefs, digests, pairing) and their fire times.

Pure functions: nothing here reads the clock. Callers pass the moment to search from.

Fire times come from APScheduler 3.x's ``CronTrigger(day_of_week, hour, minute,
timezone=ZoneInfo)``, asked for one scheduled local date at a time; this module applies an
interval of several weeks on top (dates in weeks outside the series are never asked for) and
corrects the trigger's answer where it breaks the daylight-saving rules below.

DST rules (enforced here, whatever the trigger does)
----------------------------------------------------
* **Spring-forward gap.** A local time that does not exist on the scheduled day fires once, at
  the first valid local moment after it, i.e. the end of the gap. America/New_York, Sunday
  2027-03-14, 02:30 fires at 03:00 EDT = 07:00 UTC.
* **Autumn overlap.** An ambiguous local time fires once, at its first occurrence (``fold=0``,
  the daylight-time instant). America/New_York, Sunday 2026-11-01, 01:30 fires at 01:30 EDT =
  05:30 UTC only.
* **Ordinary weeks** before and after a change keep the same local wall time, so the UTC
  instant shifts by the size of the change (Monday 09:00 New York is 13:00 UTC in October and
  14:00 UTC in November). No scheduled week is ever skipped.

What ``CronTrigger`` 3.11 does by itself (measured with APScheduler 3.11.3 and zoneinfo; the
raw behaviour is pinned by a characterisation test in tests/bot/calendar/test_recurrence.py):

* **Gap: fires late.** It returns the non-existent wall time with ``fold=0`` (``02:30-05:00``),
  which zoneinfo maps with the pre-transition offset, so the job runs at 03:30 EDT (07:30 UTC),
  half an hour after the gap ends. Corrected: the instant is recomputed as the gap end.
* **Overlap: fires twice.** It returns 01:30 ``fold=0`` (EDT) and then 01:30 ``fold=1`` (EST)
  an hour later. Corrected: one instant per scheduled date, the ``fold=0`` one.
* **Skips a whole week after a spring-forward day.** Stepping from one day to the next it adds
  24 hours in UTC; across a 23-hour day that lands at 01:00 instead of 00:00, so a time in the
  first hour of the following day is missed and it jumps a week ahead (New York, Monday 00:00
  or 00:30 weekly: 2027-03-08, then 2027-03-22; 2027-03-15 is skipped. Same in Berlin for
  Monday 2027-03-29). Corrected: the trigger is only ever asked from the first instant of the
  scheduled date itself, so it never steps across days; if it still does not land on that
  date, the date's wall time is resolved directly.
* **previous_fire_time can be returned again.** ``get_next_fire_time(previous, now)`` with
  ``previous`` given as the UTC twin of an ambiguous local time can return ``previous`` itself
  (its "step past previous" check is an inter-zone ``==``, which Python defines as unequal for
  ambiguous times). This module never passes ``previous_fire_time``.
* Ordinary weeks are right (same wall time, shifted UTC instant).

So do not hand a bare ``CronTrigger`` for these schedules to a scheduler: use
:class:`WeeklyTrigger` (an APScheduler trigger wrapping :func:`next_fire_time`) or a
``DateTrigger`` at the instant :func:`next_fire_time` returns.

Interval series: with ``interval_weeks > 1`` the series fires in the weeks whose Monday is a
multiple of ``interval_weeks`` weeks from the Monday of ``anchor``'s week (weeks are local
Monday-to-Sunday weeks in the zone the recurrence is evaluated in). When ``anchor`` is set the
series starts in the anchor's week: nothing fires before that week's Monday, whatever the
interval. ``anchor`` is required when ``interval_weeks > 1``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import time
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from storage.models import Schedule

__all__ = [
    "WeeklyRecurrence",
    "WeeklyTrigger",
    "fire_times_between",
    "local_date_of",
    "next_fire_time",
    "resolve_wall_time",
    "wall_time_exists",
]

UTC = dt.UTC

_ONE_MICROSECOND = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class WeeklyRecurrence:
    """Every ``interval_weeks`` weeks on ``weekday`` at local wall-clock time ``at``.

    ``weekday``: 0 = Monday .. 6 = Sunday. ``at``: naive time with minute precision.
    ``anchor``: a local date in the first week of the series (required for interval > 1).
    """

    weekday: int
    at: dt.time
    interval_weeks: int = 1
    anchor: dt.date | None = None

    def __post_init__(self) -> None:
        if isinstance(self.weekday, bool) or not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) .. 6 (Sunday), got {self.weekday!r}")
        if self.at.tzinfo is not None:
            raise ValueError("at must be a naive local wall-clock time")
        if self.at.second or self.at.microsecond:
            raise ValueError(f"at must have minute precision, got {self.at.isoformat()}")
        if isinstance(self.interval_weeks, bool) or self.interval_weeks < 1:
            raise ValueError(f"interval_weeks must be >= 1, got {self.interval_weeks!r}")
        if self.interval_weeks > 1 and self.anchor is None:
            raise ValueError("anchor is required when interval_weeks > 1")


def _require_aware(moment: dt.datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")


def local_date_of(moment: dt.datetime, tz: ZoneInfo) -> dt.date:
    """The calendar date of the aware ``moment`` as seen on a wall clock in ``tz``."""
    _require_aware(moment, "moment")
    return moment.astimezone(tz).date()


def _monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _as_utc(naive_utc: dt.datetime) -> dt.datetime:
    return naive_utc.replace(tzinfo=UTC)


def _round_trips(naive_utc: dt.datetime, wall: dt.datetime, tz: ZoneInfo) -> bool:
    return _as_utc(naive_utc).astimezone(tz).replace(tzinfo=None) == wall


def _candidates(wall: dt.datetime, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The two naive-UTC readings of ``wall`` (fold=0 and fold=1 offsets)."""
    off0 = wall.replace(tzinfo=tz, fold=0).utcoffset()
    off1 = wall.replace(tzinfo=tz, fold=1).utcoffset()
    assert off0 is not None and off1 is not None  # ZoneInfo always answers
    return wall - off0, wall - off1


def wall_time_exists(day: dt.date, at: dt.time, tz: ZoneInfo) -> bool:
    """False when ``at`` on ``day`` falls in a spring-forward gap in ``tz``."""
    wall = dt.datetime.combine(day, at.replace(tzinfo=None, fold=0))
    u0, u1 = _candidates(wall, tz)
    return _round_trips(u0, wall, tz) or _round_trips(u1, wall, tz)


def _transition_between(lo: dt.datetime, hi: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """First aware-UTC second in (lo, hi] whose UTC offset differs from the offset at ``lo``."""
    lo_aware, hi_aware = _as_utc(lo), _as_utc(hi)
    before = lo_aware.astimezone(tz).utcoffset()
    low, high = 0, int((hi_aware - lo_aware).total_seconds())
    # Invariant: offset at lo+low == before, offset at lo+high != before.
    while high - low > 1:
        mid = (low + high) // 2
        if (lo_aware + dt.timedelta(seconds=mid)).astimezone(tz).utcoffset() == before:
            low = mid
        else:
            high = mid
    return lo_aware + dt.timedelta(seconds=high)


def resolve_wall_time(day: dt.date, at: dt.time, tz: ZoneInfo) -> dt.datetime:
    """The aware UTC instant for local wall time ``at`` on ``day`` under this module's DST rules.

    Existing, unambiguous times map directly; an ambiguous time maps to its first occurrence
    (fold=0); a time inside a spring-forward gap maps to the end of the gap.
    """
    wall = dt.datetime.combine(day, at.replace(tzinfo=None, fold=0))
    u0, u1 = _candidates(wall, tz)
    valid = [u for u in (u0, u1) if _round_trips(u, wall, tz)]
    if valid:
        return _as_utc(min(valid))
    # Gap: one reading lands before the transition, the other after it.
    return _transition_between(min(u0, u1), max(u0, u1), tz)


@lru_cache(maxsize=512)
def _trigger(weekday: int, hour: int, minute: int, tz: ZoneInfo) -> CronTrigger:
    return CronTrigger(day_of_week=weekday, hour=hour, minute=minute, second=0, timezone=tz)


def _first_series_day_on_or_after(rec: WeeklyRecurrence, day: dt.date) -> dt.date:
    """The first scheduled local date (right weekday, series week) on or after ``day``."""
    candidate = day + dt.timedelta(days=(rec.weekday - day.weekday()) % 7)
    if rec.anchor is None:
        return candidate
    anchor_monday = _monday_of(rec.anchor)
    weeks = (_monday_of(candidate) - anchor_monday).days // 7
    step = rec.interval_weeks
    series_weeks = 0 if weeks <= 0 else -(-weeks // step) * step  # round up to the series
    return anchor_monday + dt.timedelta(weeks=series_weeks, days=rec.weekday)


def _fire_on(rec: WeeklyRecurrence, tz: ZoneInfo, day: dt.date) -> dt.datetime:
    """The fire instant (aware UTC) of ``rec`` on the scheduled local date ``day``.

    CronTrigger is asked from the first instant of ``day``, so that it only has to place the
    hour and minute within that day (its day-to-day stepping is what skips weeks after a
    spring-forward change, see the module docstring). Its answer is then checked and corrected.
    """
    day_start = resolve_wall_time(day, dt.time(0, 0), tz)
    candidate = _trigger(rec.weekday, rec.at.hour, rec.at.minute, tz).get_next_fire_time(
        None, day_start
    )
    expected_wall = dt.datetime.combine(day, rec.at)
    if candidate is not None and candidate.replace(tzinfo=None, fold=0) == expected_wall:
        wall = candidate.replace(tzinfo=None, fold=0)
        u0, u1 = _candidates(wall, tz)
        if u0 == u1:
            # Ordinary time: CronTrigger's answer is right as it stands.
            return candidate.astimezone(UTC)
    # Correction: a gap (CronTrigger would fire `gap` too late), an overlap (CronTrigger
    # fires twice; we keep the first occurrence), or a day CronTrigger did not land on.
    return resolve_wall_time(day, rec.at, tz)


def next_fire_time(rec: WeeklyRecurrence, tz: ZoneInfo, after: dt.datetime) -> dt.datetime:
    """The first fire of ``rec`` in ``tz`` strictly after the aware ``after``, as aware UTC."""
    _require_aware(after, "after")
    after_utc = after.astimezone(UTC)
    # Start a day early: a gap end can spill past midnight into the next local date.
    day = _first_series_day_on_or_after(rec, local_date_of(after_utc, tz) - dt.timedelta(days=1))
    # Fire instants increase with the scheduled date, so at most two dates are looked at.
    for _ in range(3):
        fire = _fire_on(rec, tz, day)
        if fire > after_utc:
            return fire
        day = _first_series_day_on_or_after(rec, day + dt.timedelta(days=1))
    raise RuntimeError(  # pragma: no cover - unreachable for real zones
        f"no fire time found for {rec!r} in {tz.key} after {after.isoformat()}"
    )


def fire_times_between(
    rec: WeeklyRecurrence, tz: ZoneInfo, start: dt.datetime, end: dt.datetime
) -> list[dt.datetime]:
    """All fires ``t`` with ``start < t <= end``, as aware UTC datetimes in ascending order."""
    _require_aware(start, "start")
    _require_aware(end, "end")
    times: list[dt.datetime] = []
    moment = start
    while True:
        fire = next_fire_time(rec, tz, moment)
        if fire > end:
            return times
        times.append(fire)
        moment = fire


class WeeklyTrigger(BaseTrigger):
    """An APScheduler 3.x trigger that fires by :func:`next_fire_time` (the rules above).

    Use it instead of a bare ``CronTrigger`` when the scheduler itself runs the job, e.g.
    ``scheduler.add_job(fn, WeeklyTrigger(rec, ZoneInfo("Europe/Berlin")), id=..., ...)``.
    Picklable, so it can live in a persistent job store.
    """

    __slots__ = ("recurrence", "timezone")

    def __init__(self, recurrence: WeeklyRecurrence, timezone: ZoneInfo) -> None:
        self.recurrence = recurrence
        self.timezone = timezone

    def get_next_fire_time(
        self, previous_fire_time: dt.datetime | None, now: dt.datetime
    ) -> dt.datetime:
        if previous_fire_time is not None:
            return next_fire_time(self.recurrence, self.timezone, previous_fire_time)
        # First run: a fire exactly at `now` still counts (APScheduler's convention).
        return next_fire_time(self.recurrence, self.timezone, now - _ONE_MICROSECOND)

    def __getstate__(self) -> dict[str, object]:
        return {"version": 1, "recurrence": self.recurrence, "timezone": self.timezone.key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("version", 1) > 1:
            raise ValueError(f"cannot read WeeklyTrigger state version {state['version']}")
        self.recurrence = state["recurrence"]
        self.timezone = ZoneInfo(state["timezone"])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WeeklyTrigger):
            return NotImplemented
        return (self.recurrence, self.timezone.key) == (other.recurrence, other.timezone.key)

    def __hash__(self) -> int:
        return hash((self.recurrence, self.timezone.key))

    def __repr__(self) -> str:
        return f"WeeklyTrigger({self.recurrence!r}, {self.timezone.key!r})"


def recurrence_of(schedule: Schedule) -> WeeklyRecurrence:
    return WeeklyRecurrence(
        weekday=schedule.weekday,
        at=time(schedule.at_minute // 60, schedule.at_minute % 60),
        interval_weeks=schedule.interval_weeks,
        anchor=schedule.anchor,
    )
