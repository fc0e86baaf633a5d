"""Weekly recurrences (check-ins, debriefs, digests, pairing) and their fire times.

Pure functions: nothing here reads the clock. Callers pass the moment to search from.

Fire times are found with APScheduler 3.x's ``CronTrigger(day_of_week, hour, minute,
timezone=ZoneInfo)``; this module then applies an interval of several weeks on top (weeks that
are not part of the series are skipped) and enforces the daylight-saving rules below.

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
  14:00 UTC in November).

What ``CronTrigger`` 3.11 does by itself (measured with APScheduler 3.11.3 and zoneinfo):

* In a gap it returns the non-existent wall time with ``fold=0`` (e.g. ``02:30-05:00``), which
  zoneinfo maps with the pre-transition offset: the job runs at 03:30 EDT (07:30 UTC), half an
  hour after the gap ends. Corrected: the instant is recomputed as the gap end.
* In an overlap it returns the time twice, ``fold=0`` and then ``fold=1`` (01:30 EDT and one
  hour later 01:30 EST), so a weekly job runs twice that Sunday. Corrected: only one candidate
  per local date is considered and its instant is the ``fold=0`` one.
* ``get_next_fire_time(previous, now)`` with ``previous`` given as the UTC twin of an ambiguous
  local time can hand back ``previous`` itself (the equality check it uses to step past the
  previous fire is an inter-zone comparison, which Python defines as unequal for ambiguous
  times). This module never passes ``previous_fire_time``; it asks for the first candidate at
  or after a cursor and steps the cursor itself.
* Ordinary weeks are right (same wall time, shifted UTC instant).

Interval series: with ``interval_weeks > 1`` the series fires in the weeks whose Monday is a
multiple of ``interval_weeks`` weeks from the Monday of ``anchor``'s week (weeks are local
Monday-to-Sunday weeks in the zone the recurrence is evaluated in). When ``anchor`` is set the
series starts in the anchor's week: nothing fires before that week's Monday, whatever the
interval. ``anchor`` is required when ``interval_weeks > 1``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

__all__ = [
    "WeeklyRecurrence",
    "fire_times_between",
    "local_date_of",
    "next_fire_time",
    "resolve_wall_time",
    "wall_time_exists",
]

UTC = dt.UTC

_ONE_MICROSECOND = dt.timedelta(microseconds=1)
# A weekly series with interval <= 12 needs at most ~14 candidates; anchors far in the future
# are reached by jumping, so this bound only protects against a trigger that stops advancing.
_MAX_CANDIDATES = 1000


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


def _in_series(rec: WeeklyRecurrence, day: dt.date) -> bool:
    if rec.anchor is None:
        return True
    weeks = (_monday_of(day) - _monday_of(rec.anchor)).days // 7
    return weeks >= 0 and weeks % rec.interval_weeks == 0


def _next_series_monday(rec: WeeklyRecurrence, day: dt.date) -> dt.date:
    """Monday of the first series week strictly after ``day``'s week."""
    assert rec.anchor is not None
    anchor_monday = _monday_of(rec.anchor)
    weeks = (_monday_of(day) - anchor_monday).days // 7
    if weeks < 0:
        return anchor_monday
    step = rec.interval_weeks
    return anchor_monday + dt.timedelta(weeks=(weeks // step + 1) * step)


def next_fire_time(rec: WeeklyRecurrence, tz: ZoneInfo, after: dt.datetime) -> dt.datetime:
    """The first fire of ``rec`` in ``tz`` strictly after the aware ``after``, as aware UTC."""
    _require_aware(after, "after")
    trigger = _trigger(rec.weekday, rec.at.hour, rec.at.minute, tz)
    after_utc = after.astimezone(UTC)
    # Start a day early: cheap, and immune to any trigger quirk around the start instant.
    # Candidates whose instant is not after `after` are rejected below.
    cursor = after_utc - dt.timedelta(days=1)
    last_day: dt.date | None = None
    for _ in range(_MAX_CANDIDATES):
        candidate = trigger.get_next_fire_time(None, cursor)
        if candidate is None:  # pragma: no cover - no end_date is ever set
            break
        candidate_utc = candidate.astimezone(UTC)
        day = candidate.replace(tzinfo=None).date()
        next_cursor = max(cursor, candidate_utc) + _ONE_MICROSECOND
        if day.weekday() != rec.weekday or (last_day is not None and day <= last_day):
            # Second reading of an ambiguous time (or a trigger oddity): already handled.
            cursor = next_cursor
            continue
        last_day = day
        if not _in_series(rec, day):
            target = _next_series_monday(rec, day)
            jump = resolve_wall_time(target, dt.time(0, 0), tz) - dt.timedelta(days=1)
            cursor = max(next_cursor, jump)
            continue
        fire = resolve_wall_time(day, rec.at, tz)
        if fire > after_utc:
            return fire
        cursor = next_cursor
    raise RuntimeError(f"no fire time found for {rec!r} in {tz.key} after {after.isoformat()}")


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
