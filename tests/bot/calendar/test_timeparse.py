"""Tests for bot.calendar.timeparse: happy forms, every refusal (with a helpful message), and
fuzzing."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.calendar.recurrence import WeeklyRecurrence
from bot.calendar.timeparse import (
    DemoDaySpec,
    ParseError,
    ScheduleSpec,
    parse_clock,
    parse_date,
    parse_demoday,
    parse_duration,
    parse_interval_weeks,
    parse_nudge,
    parse_schedule_spec,
    parse_timezone,
    parse_until,
    parse_weekday,
)

UTC = dt.UTC
NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
TODAY = dt.date(2026, 11, 18)  # a Wednesday
NOW = dt.datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


def refusal(func: Callable[..., object], *args: object, **kwargs: object) -> str:
    with pytest.raises(ParseError) as info:
        func(*args, **kwargs)
    message = str(info.value)
    assert message
    assert isinstance(info.value, ValueError)
    return message


# --------------------------------------------------------------------------- weekday


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("mon", 0),
        ("Mon", 0),
        ("Mon.", 0),
        ("MONDAY", 0),
        ("tue", 1),
        ("Tues", 1),
        ("wednesday", 2),
        ("thu", 3),
        ("Thurs.", 3),
        ("fri", 4),
        ("sat", 5),
        (" sun ", 6),
        ("Sunday", 6),
    ],
)
def test_parse_weekday(word: str, expected: int) -> None:
    assert parse_weekday(word) == expected


def test_parse_weekday_refuses_unknown_day() -> None:
    message = refusal(parse_weekday, "funday")
    assert message == (
        "“funday” is not a day. Use mon, tue, wed, thu, fri, sat or sun, "
        "e.g. `/circle schedule checkin mon 09:00`."
    )
    assert "missing" in refusal(parse_weekday, "  ")


# --------------------------------------------------------------------------- clock


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("09:00", dt.time(9, 0)),
        ("9:00", dt.time(9, 0)),
        ("16:00", dt.time(16, 0)),
        ("00:00", dt.time(0, 0)),
        ("23:59", dt.time(23, 59)),
        ("9am", dt.time(9, 0)),
        ("9AM", dt.time(9, 0)),
        ("4:30pm", dt.time(16, 30)),
        ("12am", dt.time(0, 0)),
        ("12pm", dt.time(12, 0)),
        ("12:15am", dt.time(0, 15)),
        ("11:59pm", dt.time(23, 59)),
    ],
)
def test_parse_clock(word: str, expected: dt.time) -> None:
    assert parse_clock(word) == expected


@pytest.mark.parametrize(
    ("word", "problem"),
    [
        ("25:00", "hours go from 00 to 23"),
        ("24:00", "hours go from 00 to 23"),
        ("12:60", "minutes go from 00 to 59"),
        ("13pm", "hour goes from 1 to 12"),
        ("0am", "hour goes from 1 to 12"),
        ("4:75pm", "minutes go from 00 to 59"),
        ("noonish", "is not a time"),
        ("9", "add minutes or am/pm"),
        ("09:0", "is not a time"),
    ],
)
def test_parse_clock_refusals(word: str, problem: str) -> None:
    message = refusal(parse_clock, word)
    assert f"“{word}”" in message
    assert problem in message
    assert "`09:00`" in message and "`4:30pm`" in message


# --------------------------------------------------------------------------- time zone


def test_parse_timezone() -> None:
    assert parse_timezone("Europe/Berlin") == BERLIN
    assert parse_timezone("europe/berlin").key == "Europe/Berlin"
    assert parse_timezone("AMERICA/NEW_YORK").key == "America/New_York"
    assert parse_timezone("tz:Asia/Kolkata").key == "Asia/Kolkata"
    assert parse_timezone("UTC").key == "UTC"


def test_parse_timezone_refuses_unknown_with_example() -> None:
    message = refusal(parse_timezone, "Europe/Berln")
    assert "“Europe/Berln” is not a time zone" in message
    assert "Did you mean `Europe/Berlin`?" in message
    assert "tz:Europe/Berlin" in message
    message = refusal(parse_timezone, "Mars/Olympus")
    assert "“Mars/Olympus”" in message and "America/New_York" in message
    assert "missing" in refusal(parse_timezone, "")
    # Things ZoneInfo itself might try to open as files are just unknown names here.
    assert "is not a time zone" in refusal(parse_timezone, "../../etc/passwd")


# --------------------------------------------------------------------------- date


def test_parse_date() -> None:
    assert parse_date("2026-12-24") == dt.date(2026, 12, 24)
    assert parse_date(" 2027-01-05 ") == dt.date(2027, 1, 5)


@pytest.mark.parametrize(
    ("word", "problem"),
    [
        ("24.12.2026", "is not a date I can read"),
        ("12/24/2026", "is not a date I can read"),
        ("dec 24", "is not a date I can read"),
        ("2026-12-24T10:00", "is not a date I can read"),
        ("2026-02-30", "is not a real calendar date"),
        ("2026-13-01", "is not a real calendar date"),
        ("", "missing"),
    ],
)
def test_parse_date_refusals(word: str, problem: str) -> None:
    message = refusal(parse_date, word)
    assert problem in message
    assert "YYYY-MM-DD" in message and "2026-12-24" in message


# --------------------------------------------------------------------------- duration


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("12h", dt.timedelta(hours=12)),
        ("90m", dt.timedelta(minutes=90)),
        ("3d", dt.timedelta(days=3)),
        ("1w", dt.timedelta(weeks=1)),
        ("2h30m", dt.timedelta(hours=2, minutes=30)),
        ("1d12h", dt.timedelta(days=1, hours=12)),
        ("2H", dt.timedelta(hours=2)),
        ("365d", dt.timedelta(days=365)),
    ],
)
def test_parse_duration(word: str, expected: dt.timedelta) -> None:
    assert parse_duration(word) == expected


@pytest.mark.parametrize(
    ("word", "problem"),
    [
        ("0h", "is zero"),
        ("0m", "is zero"),
        ("0d0h", "is zero"),
        ("-3h", "is negative"),
        ("-1d", "is negative"),
        ("12", "is not a duration"),
        ("h", "is not a duration"),
        ("30m2h", "is not a duration"),
        ("12 hours", "is not a duration"),
        ("366d", "too long"),
        ("99999999999999999999w", "too long"),
        ("", "missing"),
    ],
)
def test_parse_duration_refusals(word: str, problem: str) -> None:
    message = refusal(parse_duration, word)
    assert problem in message
    assert "`12h`" in message and "`2h30m`" in message


# --------------------------------------------------------------------------- interval


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["every", "week"], 1),
        (["every", "1", "week"], 1),
        (["every", "2", "weeks"], 2),
        (["Every", "12", "Weeks"], 12),
        (["every", "other", "week"], 2),
        (["3", "weeks"], 3),
    ],
)
def test_parse_interval_weeks(words: list[str], expected: int) -> None:
    assert parse_interval_weeks(words) == expected


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        (["every", "0", "weeks"], "at least 1 week"),
        (["every", "13", "weeks"], "at most 12 weeks"),
        (["every", "two", "weeks"], "in digits"),
        (["every", "-2", "weeks"], "in digits"),
        (["every", "2", "days"], "whole weeks only"),
        (["every", "2"], "is not an interval"),
        (["every"], "missing"),
        ([], "missing"),
    ],
)
def test_parse_interval_weeks_refusals(words: list[str], problem: str) -> None:
    message = refusal(parse_interval_weeks, words)
    assert problem in message
    assert "`every 2 weeks`" in message


# --------------------------------------------------------------------------- schedule


def test_parse_schedule_spec_minimal() -> None:
    spec = parse_schedule_spec(["mon", "09:00"], today=TODAY)
    assert spec == ScheduleSpec(
        recurrence=WeeklyRecurrence(weekday=0, at=dt.time(9, 0), interval_weeks=1, anchor=TODAY),
        pinned_tz=None,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["thu", "16:00", "every", "2", "weeks", "tz:Europe/Berlin"],
        ["thu", "16:00", "tz:Europe/Berlin", "every", "2", "weeks"],
        ["Thursday", "4pm", "TZ:europe/berlin", "every", "2", "weeks"],
        ["thu", "at", "16:00", "tz:", "Europe/Berlin", "every", "2", "weeks"],
    ],
)
def test_parse_schedule_spec_full_any_order(args: list[str]) -> None:
    spec = parse_schedule_spec(args, today=TODAY)
    assert spec.recurrence == WeeklyRecurrence(3, dt.time(16, 0), 2, TODAY)
    assert spec.pinned_tz == BERLIN


def test_parse_schedule_spec_every_week_then_tz() -> None:
    spec = parse_schedule_spec(["mon", "08:00", "every", "week", "tz:UTC"], today=TODAY)
    assert spec.recurrence.interval_weeks == 1
    assert spec.pinned_tz is not None and spec.pinned_tz.key == "UTC"


@pytest.mark.parametrize(
    ("args", "problems"),
    [
        (["funday", "09:00"], ["“funday” is not a day", "mon 09:00"]),
        (["mon", "25:00"], ["“25:00”", "hours go from 00 to 23", "`09:00`"]),
        (["mon", "09:00", "tz:Mars/Base"], ["“Mars/Base”", "tz:Europe/Berlin"]),
        (["mon", "09:00", "every", "0", "weeks"], ["at least 1 week", "every 2 weeks"]),
        (["mon", "09:00", "every", "x", "weeks"], ["in digits", "every 2 weeks"]),
        (["mon"], ["time is missing", "mon 09:00"]),
        ([], ["day and time", "mon 09:00"]),
        (["mon", "09:00", "banana"], ["“banana”", "every 2 weeks tz:Europe/Berlin"]),
        (["mon", "09:00", "tz:UTC", "tz:UTC"], ["only once"]),
        (["mon", "09:00", "every", "week", "every", "week"], ["only once"]),
    ],
)
def test_parse_schedule_spec_refusals(args: list[str], problems: list[str]) -> None:
    message = refusal(parse_schedule_spec, args, today=TODAY)
    for problem in problems:
        assert problem in message


# --------------------------------------------------------------------------- demo day


def test_parse_demoday_defaults() -> None:
    spec = parse_demoday(["2026-12-10", "15:00", "Q4", "demo", "day"], caller_tz=NY, now=NOW)
    assert spec == DemoDaySpec(
        starts_at=dt.datetime(2026, 12, 10, 20, 0, tzinfo=UTC),  # 15:00 EST
        title="Q4 demo day",
        reminders=(dt.timedelta(days=7), dt.timedelta(days=1), dt.timedelta(hours=1)),
    )
    assert spec.starts_at.tzinfo is UTC


def test_parse_demoday_custom_reminders_sorted_longest_first() -> None:
    spec = parse_demoday(
        ["2026-12-10", "15:00", "Q4", "demo", "day", "remind:2h,3d,2h"], caller_tz=BERLIN, now=NOW
    )
    assert spec.starts_at == dt.datetime(2026, 12, 10, 14, 0, tzinfo=UTC)  # 15:00 CET
    assert spec.title == "Q4 demo day"
    assert spec.reminders == (dt.timedelta(days=3), dt.timedelta(hours=2))
    # remind: may come before the title, and may be "none"
    spec = parse_demoday(["2026-12-10", "3pm", "remind:none", "Launch"], caller_tz=BERLIN, now=NOW)
    assert spec.title == "Launch" and spec.reminders == ()


def test_parse_demoday_drops_reminders_already_past() -> None:
    # Demo day in 2 days: the 7d default is dropped, 1d and 1h stay.
    spec = parse_demoday(["2026-11-20", "12:00", "Soon"], caller_tz=ZoneInfo("UTC"), now=NOW)
    assert spec.reminders == (dt.timedelta(days=1), dt.timedelta(hours=1))
    spec = parse_demoday(
        ["2026-11-20", "12:00", "Soon", "remind:3d,2h"], caller_tz=ZoneInfo("UTC"), now=NOW
    )
    assert spec.reminders == (dt.timedelta(hours=2),)
    # In 30 minutes with default reminders: none left, not an error.
    spec = parse_demoday(["2026-11-18", "12:30", "Now"], caller_tz=ZoneInfo("UTC"), now=NOW)
    assert spec.reminders == ()


def test_parse_demoday_ambiguous_time_uses_first_occurrence() -> None:
    now = dt.datetime(2026, 10, 1, tzinfo=UTC)
    spec = parse_demoday(["2026-11-01", "01:30", "Early"], caller_tz=NY, now=now)
    assert spec.starts_at == dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT


def test_parse_demoday_exactly_365_days_ahead_is_allowed() -> None:
    spec = parse_demoday(["2027-11-18", "12:00", "Far"], caller_tz=ZoneInfo("UTC"), now=NOW)
    assert spec.starts_at == dt.datetime(2027, 11, 18, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("args", "problems"),
    [
        (["2026-11-01", "15:00", "Old"], ["2026-11-01 15:00 (America/New_York) is in the past"]),
        (["2026-11-18", "07:00", "Earlier"], ["is in the past"]),  # 12:00 UTC = 07:00 EST
        (["2027-11-19", "15:00", "Far"], ["more than a year away", "365 days"]),
        (["2030-01-01", "15:00", "Far"], ["more than a year away"]),
        (["2026-12-10", "15:00"], ["needs a title"]),
        (["2026-12-10", "15:00", "x" * 81], ["81 characters", "80"]),
        (["2026-12-10"], ["date, the time and a title"]),
        ([], ["date, the time and a title"]),
        (["10.12.2026", "15:00", "T"], ["YYYY-MM-DD"]),
        (["2026-12-10", "25:00", "T"], ["hours go from 00 to 23"]),
        (
            ["2027-03-14", "02:30", "Gap"],
            ["does not exist", "daylight saving", "`/circle demoday 2027-03-14 03:00 Gap`"],
        ),
        (["2026-11-20", "12:00", "T", "remind:8d,3d"], ["would be in the past", "remind:1h"]),
        (["2026-12-10", "15:00", "T", "remind:soon"], ["“soon” is not a duration"]),
        (["2026-12-10", "15:00", "T", "remind:3d,,2h"], ["not a list of reminders"]),
        (["2026-12-10", "15:00", "T", "remind:"], ["not a list of reminders"]),
        (["2026-12-10", "15:00", "T", "remind:0h"], ["is zero"]),
        (["2026-12-10", "15:00", "T", "remind:1h", "remind:2h"], ["only once"]),
    ],
)
def test_parse_demoday_refusals(args: list[str], problems: list[str]) -> None:
    message = refusal(parse_demoday, args, caller_tz=NY, now=NOW)
    for problem in problems:
        assert problem in message
    # examples use a date two weeks after the caller's today (2026-11-18)
    assert (
        "`/circle demoday 2026-12-02 15:00 Q4 demo day remind:3d,2h`" in message
        or "remind:1h" in message
        or "2027-03-14 03:00" in message
    )


def test_parse_demoday_requires_aware_now() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_demoday(["2026-12-10", "15:00", "T"], caller_tz=NY, now=dt.datetime(2026, 11, 1))


# --------------------------------------------------------------------------- until / nudge


def test_parse_until() -> None:
    assert parse_until([], today=TODAY) is None
    assert parse_until(["until", "2026-12-31"], today=TODAY) == dt.date(2026, 12, 31)
    assert parse_until(["Until", "2026-11-18"], today=TODAY) == TODAY
    assert parse_until(["2027-01-05"], today=TODAY) == dt.date(2027, 1, 5)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["until"], "date after `until` is missing"),
        (["until", "2026-11-17"], "2026-11-17 is in the past"),
        (["until", "tomorrow"], "is not a date I can read"),
        (["until", "2026-12-31", "please"], "didn't understand"),
    ],
)
def test_parse_until_refusals(args: list[str], problem: str) -> None:
    message = refusal(parse_until, args, today=TODAY)
    assert problem in message
    assert "`until 2026-12-02`" in message  # two weeks after TODAY


def test_parse_nudge() -> None:
    assert parse_nudge("12h") == dt.timedelta(hours=12)
    assert parse_nudge("1h") == dt.timedelta(hours=1)
    assert parse_nudge("7d") == dt.timedelta(days=7)
    assert parse_nudge("1w") == dt.timedelta(days=7)
    assert parse_nudge("off") is None
    assert parse_nudge("OFF") is None


@pytest.mark.parametrize(
    ("word", "problem"),
    [
        ("30m", "too short"),
        ("8d", "too long"),
        ("0h", "is zero"),
        ("-1h", "is negative"),
        ("sometimes", "is not a duration"),
    ],
)
def test_parse_nudge_refusals(word: str, problem: str) -> None:
    message = refusal(parse_nudge, word)
    assert problem in message
    assert "`/circle set nudge 12h`" in message and "`/circle set nudge off`" in message


# --------------------------------------------------------------------------- fuzzing

WORD_PARSERS: list[Callable[[str], object]] = [
    parse_weekday,
    parse_clock,
    parse_timezone,
    parse_date,
    parse_duration,
    parse_nudge,
]

# Text that sometimes looks almost valid, plus anything at all.
tokens = st.one_of(
    st.text(),
    st.sampled_from(
        [
            "mon", "09:00", "every", "2", "weeks", "tz:", "tz:Europe/Berlin", "remind:",
            "remind:3d,2h", "until", "2026-12-24", "9999-12-31", "0001-01-01", "12pm",
            "99999999999h", "1" * 5000, "-", ":", "",
        ]
    ),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(parser=st.sampled_from(WORD_PARSERS), text=tokens)
def test_word_parsers_return_or_raise_parse_error(
    parser: Callable[[str], object], text: str
) -> None:
    try:
        parser(text)
    except ParseError as exc:
        assert str(exc)


@settings(max_examples=300, deadline=None)
@given(words=st.lists(tokens, max_size=8), tz=st.sampled_from([NY, BERLIN, ZoneInfo("UTC")]))
def test_list_parsers_return_or_raise_parse_error(words: list[str], tz: ZoneInfo) -> None:
    for call in (
        lambda: parse_interval_weeks(words),
        lambda: parse_schedule_spec(words, today=TODAY),
        lambda: parse_demoday(words, caller_tz=tz, now=NOW),
        lambda: parse_demoday(words, caller_tz=tz, now=dt.datetime(9999, 12, 1, tzinfo=UTC)),
        lambda: parse_until(words, today=TODAY),
        lambda: parse_until(words, today=dt.date.max),
    ):
        try:
            call()
        except ParseError as exc:
            assert str(exc)


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_plain_text_everywhere(text: str) -> None:
    for parser in WORD_PARSERS:
        with contextlib.suppress(ParseError):
            parser(text)
    for list_parser in (
        lambda: parse_interval_weeks(text.split()),
        lambda: parse_schedule_spec(text.split(), today=TODAY),
        lambda: parse_demoday(text.split(), caller_tz=NY, now=NOW),
        lambda: parse_until(text.split(), today=TODAY),
    ):
        with contextlib.suppress(ParseError):
            list_parser()
