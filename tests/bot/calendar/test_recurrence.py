"""Tests for bot.calendar.recurrence. Expected instants are written out by hand as literal UTC
values.

Offsets used: America/New_York EDT -04:00 / EST -05:00 (fall back Sun 2026-11-01 02:00 EDT ->
01:00 EST; spring forward Sun 2027-03-14 02:00 EST -> 03:00 EDT). Europe/Berlin CEST +02:00 /
CET +01:00 (fall back Sun 2026-10-25 03:00 CEST -> 02:00 CET; spring forward Sun 2027-03-28
02:00 CET -> 03:00 CEST). Asia/Kolkata is always +05:30.
"""

from __future__ import annotations

import datetime as dt
import itertools
import pickle
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.calendar.recurrence import (
    WeeklyRecurrence,
    WeeklyTrigger,
    fire_times_between,
    local_date_of,
    next_fire_time,
    resolve_wall_time,
    wall_time_exists,
)

UTC = dt.UTC
NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")
MON, SUN = 0, 6


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def weekly(weekday: int, hh: int, mm: int, **kw: object) -> WeeklyRecurrence:
    return WeeklyRecurrence(weekday, dt.time(hh, mm), **kw)  # type: ignore[arg-type]


def series(rec: WeeklyRecurrence, tz: ZoneInfo, after: dt.datetime, n: int) -> list[dt.datetime]:
    out: list[dt.datetime] = []
    for _ in range(n):
        after = next_fire_time(rec, tz, after)
        out.append(after)
    return out


# --------------------------------------------------------------------------- New York


def test_new_york_spring_forward_gap_fires_once_at_gap_end() -> None:
    rec = weekly(SUN, 2, 30)
    assert series(rec, NY, utc(2027, 3, 1), 3) == [
        utc(2027, 3, 7, 7, 30),  # 02:30 EST
        utc(2027, 3, 14, 7, 0),  # 02:30 does not exist -> 03:00 EDT
        utc(2027, 3, 21, 6, 30),  # 02:30 EDT
    ]
    fire = next_fire_time(rec, NY, utc(2027, 3, 10))
    assert fire.tzinfo is UTC
    local = fire.astimezone(NY)
    assert (local.hour, local.minute, local.utcoffset()) == (3, 0, dt.timedelta(hours=-4))


def test_new_york_gap_day_not_refired_after_gap_end() -> None:
    rec = weekly(SUN, 2, 30)
    # Exactly at, and just after, the gap end: next is the following Sunday.
    assert next_fire_time(rec, NY, utc(2027, 3, 14, 7, 0)) == utc(2027, 3, 21, 6, 30)
    assert next_fire_time(rec, NY, utc(2027, 3, 14, 7, 10)) == utc(2027, 3, 21, 6, 30)
    # Where CronTrigger alone would fire (03:30 EDT) nothing fires.
    assert next_fire_time(rec, NY, utc(2027, 3, 14, 6, 59)) == utc(2027, 3, 14, 7, 0)


def test_new_york_fall_back_ambiguous_fires_once_at_first_occurrence() -> None:
    rec = weekly(SUN, 1, 30)
    assert series(rec, NY, utc(2026, 10, 20), 3) == [
        utc(2026, 10, 25, 5, 30),  # 01:30 EDT
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT (first of two); not again at 06:30
        utc(2026, 11, 8, 6, 30),  # 01:30 EST
    ]
    # Between the two occurrences, and at the second one: nothing more that day.
    assert next_fire_time(rec, NY, utc(2026, 11, 1, 5, 30)) == utc(2026, 11, 8, 6, 30)
    assert next_fire_time(rec, NY, utc(2026, 11, 1, 6, 0)) == utc(2026, 11, 8, 6, 30)
    assert next_fire_time(rec, NY, utc(2026, 11, 1, 6, 30)) == utc(2026, 11, 8, 6, 30)


def test_new_york_0230_on_fall_back_day_is_unambiguous() -> None:
    rec = weekly(SUN, 2, 30)
    assert series(rec, NY, utc(2026, 10, 20), 3) == [
        utc(2026, 10, 25, 6, 30),  # EDT
        utc(2026, 11, 1, 7, 30),  # 02:30 happens once, in EST
        utc(2026, 11, 8, 7, 30),
    ]


def test_new_york_0130_on_spring_forward_day_exists() -> None:
    assert next_fire_time(weekly(SUN, 1, 30), NY, utc(2027, 3, 10)) == utc(2027, 3, 14, 6, 30)


def test_new_york_monday_0900_keeps_wall_time_across_changes() -> None:
    rec = weekly(MON, 9, 0)
    assert series(rec, NY, utc(2026, 10, 20), 3) == [
        utc(2026, 10, 26, 13, 0),
        utc(2026, 11, 2, 14, 0),
        utc(2026, 11, 9, 14, 0),
    ]
    assert series(rec, NY, utc(2027, 3, 1), 3) == [
        utc(2027, 3, 1, 14, 0),
        utc(2027, 3, 8, 14, 0),
        utc(2027, 3, 15, 13, 0),
    ]


def test_new_york_monday_midnight_after_spring_forward_is_not_skipped() -> None:
    # The day after the 23-hour Sunday; bare CronTrigger skips 2027-03-15 here.
    assert series(weekly(MON, 0, 0), NY, utc(2027, 3, 1), 4) == [
        utc(2027, 3, 1, 5, 0),  # 00:00 EST
        utc(2027, 3, 8, 5, 0),
        utc(2027, 3, 15, 4, 0),  # 00:00 EDT
        utc(2027, 3, 22, 4, 0),
    ]
    assert next_fire_time(weekly(MON, 0, 30), NY, utc(2027, 3, 8, 5, 30)) == utc(2027, 3, 15, 4, 30)


# --------------------------------------------------------------------------- Berlin


def test_berlin_fall_back_ambiguous_0230_fires_once() -> None:
    rec = weekly(SUN, 2, 30)
    assert series(rec, BERLIN, utc(2026, 10, 12), 3) == [
        utc(2026, 10, 18, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST, first of two (02:30 CET = 01:30Z skipped)
        utc(2026, 11, 1, 1, 30),  # 02:30 CET
    ]
    assert next_fire_time(rec, BERLIN, utc(2026, 10, 25, 1, 0)) == utc(2026, 11, 1, 1, 30)


def test_berlin_spring_forward_gap_0230_fires_at_0300_cest() -> None:
    rec = weekly(SUN, 2, 30)
    assert series(rec, BERLIN, utc(2027, 3, 15), 3) == [
        utc(2027, 3, 21, 1, 30),  # 02:30 CET
        utc(2027, 3, 28, 1, 0),  # gap -> 03:00 CEST
        utc(2027, 4, 4, 0, 30),  # 02:30 CEST
    ]


def test_berlin_0130_is_ordinary_on_both_change_days() -> None:
    rec = weekly(SUN, 1, 30)
    assert next_fire_time(rec, BERLIN, utc(2026, 10, 20)) == utc(2026, 10, 24, 23, 30)
    assert next_fire_time(rec, BERLIN, utc(2027, 3, 22)) == utc(2027, 3, 28, 0, 30)


def test_berlin_monday_0900_keeps_wall_time_across_changes() -> None:
    rec = weekly(MON, 9, 0)
    assert series(rec, BERLIN, utc(2026, 10, 13), 2) == [
        utc(2026, 10, 19, 7, 0),
        utc(2026, 10, 26, 8, 0),
    ]
    assert series(rec, BERLIN, utc(2027, 3, 16), 2) == [
        utc(2027, 3, 22, 8, 0),
        utc(2027, 3, 29, 7, 0),
    ]


def test_berlin_monday_midnight_after_spring_forward_is_not_skipped() -> None:
    assert series(weekly(MON, 0, 0), BERLIN, utc(2027, 3, 20), 3) == [
        utc(2027, 3, 21, 23, 0),  # Mon 03-22 00:00 CET
        utc(2027, 3, 28, 22, 0),  # Mon 03-29 00:00 CEST
        utc(2027, 4, 4, 22, 0),
    ]
    # ...and the Monday after the 25-hour autumn Sunday
    assert series(weekly(MON, 0, 0), BERLIN, utc(2026, 10, 18), 2) == [
        utc(2026, 10, 18, 22, 0),  # Mon 10-19 00:00 CEST
        utc(2026, 10, 25, 23, 0),  # Mon 10-26 00:00 CET
    ]


# --------------------------------------------------------------------------- Kolkata


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2026, 10, 20), utc(2026, 10, 24, 21, 0)),  # Sun 2026-10-25 02:30 IST
        (utc(2026, 10, 29), utc(2026, 10, 31, 21, 0)),  # Sun 2026-11-01
        (utc(2027, 3, 10), utc(2027, 3, 13, 21, 0)),  # Sun 2027-03-14
        (utc(2027, 3, 24), utc(2027, 3, 27, 21, 0)),  # Sun 2027-03-28
    ],
)
def test_kolkata_sunday_0230_constant_offset(after: dt.datetime, expected: dt.datetime) -> None:
    assert next_fire_time(weekly(SUN, 2, 30), KOLKATA, after) == expected


def test_kolkata_monday_0900_constant_offset() -> None:
    rec = weekly(MON, 9, 0)
    assert fire_times_between(rec, KOLKATA, utc(2026, 10, 20), utc(2026, 11, 10)) == [
        utc(2026, 10, 26, 3, 30),
        utc(2026, 11, 2, 3, 30),
        utc(2026, 11, 9, 3, 30),
    ]
    assert series(rec, KOLKATA, utc(2027, 3, 10), 3) == [
        utc(2027, 3, 15, 3, 30),
        utc(2027, 3, 22, 3, 30),
        utc(2027, 3, 29, 3, 30),
    ]


# --------------------------------------------------------------------------- intervals


def test_every_two_weeks_with_anchor_spanning_fall_back() -> None:
    # Anchor Wed 2026-10-21 -> weeks of Mon 10-19, 11-02, 11-16, ...; Oct 19 is already past.
    rec = weekly(MON, 9, 0, interval_weeks=2, anchor=dt.date(2026, 10, 21))
    assert series(rec, NY, utc(2026, 10, 21, 12, 0), 3) == [
        utc(2026, 11, 2, 14, 0),
        utc(2026, 11, 16, 14, 0),
        utc(2026, 11, 30, 14, 0),
    ]
    # Asked before the anchor week: the series starts in the anchor week.
    assert next_fire_time(rec, NY, utc(2026, 9, 1)) == utc(2026, 10, 19, 13, 0)


def test_every_two_weeks_berlin_hits_the_gap_in_series_week() -> None:
    # Anchor Sun 2027-03-14 (week of Mon 03-08): Sundays 03-14, 03-28, 04-11.
    rec = weekly(SUN, 2, 30, interval_weeks=2, anchor=dt.date(2027, 3, 14))
    assert series(rec, BERLIN, utc(2027, 3, 1), 3) == [
        utc(2027, 3, 14, 1, 30),
        utc(2027, 3, 28, 1, 0),
        utc(2027, 4, 11, 0, 30),
    ]


def test_every_three_weeks_with_mid_week_anchor() -> None:
    # Anchor Fri 2027-03-05 -> weeks of Mon 03-01, 03-22, 04-12: Sundays 03-07, 03-28, 04-18.
    rec = weekly(SUN, 2, 30, interval_weeks=3, anchor=dt.date(2027, 3, 5))
    assert series(rec, BERLIN, utc(2027, 3, 1), 3) == [
        utc(2027, 3, 7, 1, 30),
        utc(2027, 3, 28, 1, 0),
        utc(2027, 4, 18, 0, 30),
    ]
    assert series(rec, NY, utc(2027, 3, 1), 3) == [
        utc(2027, 3, 7, 7, 30),
        utc(2027, 3, 28, 6, 30),
        utc(2027, 4, 18, 6, 30),
    ]


def test_every_three_weeks_ny_fall_back_overlap() -> None:
    # Anchor Mon 2026-10-26 -> weeks 10-26, 11-16: Sundays 11-01 (overlap day), 11-22.
    rec = weekly(SUN, 1, 30, interval_weeks=3, anchor=dt.date(2026, 10, 26))
    assert series(rec, NY, utc(2026, 10, 20), 3) == [
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 22, 6, 30),
        utc(2026, 12, 13, 6, 30),
    ]


def test_anchor_far_in_future_is_reached() -> None:
    rec = weekly(MON, 9, 0, interval_weeks=2, anchor=dt.date(2030, 1, 9))  # Wed; Mon 2030-01-07
    assert next_fire_time(rec, KOLKATA, utc(2026, 1, 1)) == utc(2030, 1, 7, 3, 30)


# --------------------------------------------------------------------------- between


def test_fire_times_between_over_fall_back_has_no_duplicates() -> None:
    rec = weekly(SUN, 1, 30)
    got = fire_times_between(rec, NY, utc(2026, 10, 20), utc(2026, 11, 20))
    assert got == [
        utc(2026, 10, 25, 5, 30),
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 8, 6, 30),
        utc(2026, 11, 15, 6, 30),
    ]
    berlin = fire_times_between(weekly(SUN, 2, 30), BERLIN, utc(2026, 10, 20), utc(2026, 11, 2))
    assert berlin == [utc(2026, 10, 25, 0, 30), utc(2026, 11, 1, 1, 30)]


def test_fire_times_between_over_spring_forward() -> None:
    got = fire_times_between(
        weekly(SUN, 2, 30), NY, utc(2027, 3, 7, 7, 30), utc(2027, 3, 21, 6, 30)
    )
    # start is exclusive, end inclusive
    assert got == [utc(2027, 3, 14, 7, 0), utc(2027, 3, 21, 6, 30)]


def test_fire_times_between_empty_and_start_inside_overlap() -> None:
    rec = weekly(SUN, 1, 30)
    assert fire_times_between(rec, NY, utc(2026, 11, 1, 5, 45), utc(2026, 11, 1, 6, 45)) == []
    assert fire_times_between(rec, NY, utc(2026, 11, 2), utc(2026, 11, 1)) == []


# --------------------------------------------------------------------------- misc API


def test_result_is_utc_and_strictly_after_exact_fire() -> None:
    rec = weekly(MON, 9, 0)
    fire = next_fire_time(rec, BERLIN, utc(2026, 10, 19, 7, 0))
    assert fire == utc(2026, 10, 26, 8, 0)
    assert fire.tzinfo is UTC
    # `after` in any zone is fine
    after_ny = dt.datetime(2026, 10, 19, 2, 59, tzinfo=NY)  # = 06:59Z
    assert next_fire_time(rec, BERLIN, after_ny) == utc(2026, 10, 19, 7, 0)


def test_local_date_of() -> None:
    assert local_date_of(utc(2026, 10, 24, 23, 30), BERLIN) == dt.date(2026, 10, 25)
    assert local_date_of(utc(2026, 10, 24, 23, 30), NY) == dt.date(2026, 10, 24)
    assert local_date_of(utc(2026, 10, 31, 21, 0), KOLKATA) == dt.date(2026, 11, 1)
    with pytest.raises(ValueError, match="aware"):
        local_date_of(dt.datetime(2026, 1, 1), NY)


def test_resolve_wall_time_and_exists() -> None:
    assert resolve_wall_time(dt.date(2027, 3, 14), dt.time(2, 30), NY) == utc(2027, 3, 14, 7, 0)
    assert resolve_wall_time(dt.date(2026, 11, 1), dt.time(1, 30), NY) == utc(2026, 11, 1, 5, 30)
    assert resolve_wall_time(dt.date(2027, 3, 28), dt.time(2, 0), BERLIN) == utc(2027, 3, 28, 1)
    assert not wall_time_exists(dt.date(2027, 3, 14), dt.time(2, 0), NY)
    assert not wall_time_exists(dt.date(2027, 3, 14), dt.time(2, 59), NY)
    assert wall_time_exists(dt.date(2027, 3, 14), dt.time(3, 0), NY)
    assert wall_time_exists(dt.date(2026, 11, 1), dt.time(1, 30), NY)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"weekday": 7, "at": dt.time(9, 0)},
        {"weekday": -1, "at": dt.time(9, 0)},
        {"weekday": 0, "at": dt.time(9, 0, 30)},
        {"weekday": 0, "at": dt.time(9, 0, tzinfo=UTC)},
        {"weekday": 0, "at": dt.time(9, 0), "interval_weeks": 0},
        {"weekday": 0, "at": dt.time(9, 0), "interval_weeks": 2},  # no anchor
    ],
)
def test_invalid_recurrence_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        WeeklyRecurrence(**kwargs)  # type: ignore[arg-type]


def test_naive_after_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_fire_time(weekly(MON, 9, 0), NY, dt.datetime(2026, 1, 1))


def test_crontrigger_3_11_raw_behaviour_that_this_module_corrects() -> None:
    """Characterisation of APScheduler 3.11 CronTrigger, documented in bot.calendar.recurrence.

    If an upgrade changes this, re-check the module docstring (the corrections stay valid).
    """
    gap = CronTrigger(day_of_week="sun", hour=2, minute=30, timezone=NY)
    raw = gap.get_next_fire_time(None, utc(2027, 3, 10))
    assert raw is not None
    assert raw.astimezone(UTC) == utc(2027, 3, 14, 7, 30)  # 03:30 EDT, not the gap end

    overlap = CronTrigger(day_of_week="sun", hour=1, minute=30, timezone=NY)
    first = overlap.get_next_fire_time(None, utc(2026, 10, 30))
    assert first is not None
    second = overlap.get_next_fire_time(first, first)
    assert second is not None
    assert [first.astimezone(UTC), second.astimezone(UTC)] == [
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 1, 6, 30),  # fires twice on the fall-back Sunday
    ]

    midnight = CronTrigger(day_of_week="mon", hour=0, minute=0, timezone=NY)
    march_8 = midnight.get_next_fire_time(None, utc(2027, 3, 7))
    assert march_8 is not None
    after = midnight.get_next_fire_time(march_8, march_8)
    assert after is not None
    assert after.astimezone(UTC) == utc(2027, 3, 22, 4, 0)  # skips Monday 2027-03-15


# --------------------------------------------------------------------------- WeeklyTrigger


def test_weekly_trigger_follows_next_fire_time() -> None:
    trigger = WeeklyTrigger(weekly(SUN, 1, 30), NY)
    # first run: a fire exactly at `now` counts
    assert trigger.get_next_fire_time(None, utc(2026, 11, 1, 5, 30)) == utc(2026, 11, 1, 5, 30)
    # after a run: strictly later, and the overlap is not fired twice
    assert trigger.get_next_fire_time(utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 5, 30, 1)) == utc(
        2026, 11, 8, 6, 30
    )
    gap = WeeklyTrigger(weekly(SUN, 2, 30), NY)
    assert gap.get_next_fire_time(None, utc(2027, 3, 10)) == utc(2027, 3, 14, 7, 0)


def test_weekly_trigger_pickles() -> None:
    trigger = WeeklyTrigger(weekly(MON, 9, 0, interval_weeks=2, anchor=dt.date(2026, 10, 21)), NY)
    clone = pickle.loads(pickle.dumps(trigger))  # noqa: S301 - our own data
    assert clone == trigger
    assert clone.get_next_fire_time(None, utc(2026, 10, 21)) == utc(2026, 11, 2, 14, 0)
    assert "America/New_York" in repr(clone)


# --------------------------------------------------------------------------- property

ZONES = [NY, BERLIN, KOLKATA]


def oracle_instant(day: dt.date, at: dt.time, tz: ZoneInfo) -> dt.datetime:
    """Independent oracle: the first UTC minute whose local wall time is >= day+at.

    That is the wall time itself, the first occurrence of an ambiguous one, or the end of a gap.
    """
    wall = dt.datetime.combine(day, at)
    t = (wall - dt.timedelta(hours=16)).replace(tzinfo=UTC)
    while t.astimezone(tz).replace(tzinfo=None) < wall - dt.timedelta(hours=4):
        t += dt.timedelta(hours=1)
    while t.astimezone(tz).replace(tzinfo=None) < wall:
        t += dt.timedelta(minutes=1)
    return t


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


times = st.one_of(
    st.sampled_from(
        [
            dt.time(0, 0),
            dt.time(0, 30),
            dt.time(1, 30),
            dt.time(2, 0),
            dt.time(2, 30),
            dt.time(2, 59),
        ]
    ),
    st.builds(dt.time, st.integers(0, 23), st.integers(0, 59)),
)
afters = st.datetimes(
    min_value=dt.datetime(2026, 9, 1),
    max_value=dt.datetime(2027, 5, 1),
    timezones=st.just(UTC),
)


@settings(max_examples=300, deadline=None)
@given(
    tz=st.sampled_from(ZONES),
    weekday=st.integers(0, 6) | st.just(SUN),
    at=times,
    interval=st.integers(1, 4),
    anchor_shift=st.integers(-60, 30),
    after=afters,
)
def test_property_next_fire_time(
    tz: ZoneInfo,
    weekday: int,
    at: dt.time,
    interval: int,
    anchor_shift: int,
    after: dt.datetime,
) -> None:
    anchor = after.date() + dt.timedelta(days=anchor_shift)
    rec = WeeklyRecurrence(weekday, at, interval, anchor)
    fires = series(rec, tz, after, 6)
    previous = after
    days: list[dt.date] = []
    for fire in fires:
        assert fire.tzinfo is UTC
        assert fire > previous  # strictly later: never repeats an instant
        previous = fire
        local = fire.astimezone(tz)
        day = local.date()
        assert day.weekday() == weekday
        if local.time() != at:
            # Only allowed for a spring-forward gap: fire is at the gap end.
            assert not wall_time_exists(day, at, tz)
            assert local.time() > at
            just_before = (fire - dt.timedelta(seconds=1)).astimezone(tz)
            assert just_before.utcoffset() != local.utcoffset()
        else:
            assert local.fold == 0  # ambiguous times fire at the first occurrence
        assert fire == oracle_instant(day, at, tz)
        weeks = (monday(day) - monday(anchor)).days // 7
        assert weeks >= 0
        assert weeks % interval == 0
        days.append(day)
    # consecutive fires are exactly one series step apart: no week skipped
    for a, b in itertools.pairwise(days):
        assert (b - a).days == 7 * interval
    # and no series week was skipped before the first fire
    before = days[0] - dt.timedelta(weeks=interval)
    if monday(before) >= monday(anchor):
        assert oracle_instant(before, at, tz) <= after


@settings(max_examples=100, deadline=None)
@given(tz=st.sampled_from(ZONES), weekday=st.integers(0, 6), at=times, start=afters)
def test_property_fire_times_between_unique_sorted(
    tz: ZoneInfo, weekday: int, at: dt.time, start: dt.datetime
) -> None:
    rec = WeeklyRecurrence(weekday, at)
    end = start + dt.timedelta(days=70)
    got = fire_times_between(rec, tz, start, end)
    assert got == sorted(set(got))
    assert 9 <= len(got) <= 11  # DST shifts may move one fire across either edge
    assert all(start < t <= end for t in got)
    assert len({local_date_of(t, tz) for t in got}) == len(got)
