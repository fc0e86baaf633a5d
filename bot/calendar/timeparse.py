"""Parsers for the time-related words facilitators type after ``/circle``.

Every parser returns a value or raises :class:`ParseError`, whose ``str()`` is a message meant
for the person who typed the command: it says what was wrong and shows the correct form.
Nothing here reads the clock; ``today`` / ``now`` are passed in.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from bot.calendar.recurrence import WeeklyRecurrence, resolve_wall_time, wall_time_exists

__all__ = [
    "DEFAULT_REMINDERS",
    "MAX_DURATION",
    "MAX_INTERVAL_WEEKS",
    "MAX_TITLE_LENGTH",
    "DemoDaySpec",
    "ParseError",
    "ScheduleSpec",
    "parse_clock",
    "parse_date",
    "parse_demoday",
    "parse_duration",
    "parse_interval_weeks",
    "parse_nudge",
    "parse_schedule_spec",
    "parse_timezone",
    "parse_until",
    "parse_weekday",
]

MAX_INTERVAL_WEEKS = 12
MAX_TITLE_LENGTH = 80
MAX_DURATION = dt.timedelta(days=365)
MAX_DEMODAY_AHEAD = dt.timedelta(days=365)
NUDGE_MIN = dt.timedelta(hours=1)
NUDGE_MAX = dt.timedelta(days=7)
DEFAULT_REMINDERS: tuple[dt.timedelta, ...] = (
    dt.timedelta(days=7),
    dt.timedelta(days=1),
    dt.timedelta(hours=1),
)

_EX_SCHEDULE = "`/circle schedule checkin mon 09:00`"
_EX_SCHEDULE_FULL = "`/circle schedule checkin mon 09:00 every 2 weeks tz:Europe/Berlin`"
_EX_CLOCK = "a 24-hour time like `09:00` or `16:30`, or `9am` / `4:30pm`"
_EX_TZ = (
    "an IANA time zone name such as `Europe/Berlin` or `America/New_York`, e.g. `tz:Europe/Berlin`"
)
_EX_DATE = "`YYYY-MM-DD`, e.g. `2026-12-24`"
_EX_DURATION = "a number with a unit: `90m`, `12h`, `3d`, `1w` or combined like `2h30m`"
_EX_INTERVAL = "`every week` or `every 2 weeks` (1 to 12 weeks)"
_EXAMPLE_LEAD = dt.timedelta(days=14)  # how far ahead example dates in messages are


def _example_date(today: dt.date) -> str:
    """A plausible future date for examples (static if ``today`` is at the end of time)."""
    try:
        return (today + _EXAMPLE_LEAD).isoformat()
    except OverflowError:
        return "2026-12-24"


_EX_NUDGE = "`/circle set nudge 12h` (between 1h and 7d) or `/circle set nudge off`"


class ParseError(ValueError):
    """Bad input. ``str(e)`` is the message to show to the person who typed it."""


def _show(word: str, limit: int = 40) -> str:
    """The user's text, quoted and trimmed so that it is safe to echo back."""
    flat = " ".join(word.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    flat = flat.replace("`", "'")
    return f"“{flat}”"


def _norm(word: str) -> str:
    return word.strip().casefold()


# --------------------------------------------------------------------------- weekday

_WEEKDAYS: dict[str, int] = {}
for _index, _names in enumerate(
    (
        ("mon", "monday"),
        ("tue", "tues", "tuesday"),
        ("wed", "weds", "wednesday"),
        ("thu", "thur", "thurs", "thursday"),
        ("fri", "friday"),
        ("sat", "saturday"),
        ("sun", "sunday"),
    )
):
    for _name in _names:
        _WEEKDAYS[_name] = _index


def parse_weekday(word: str) -> int:
    """``mon`` / ``Monday`` / ``Mon.`` (any case) -> 0 .. ``sun`` -> 6."""
    key = _norm(word).rstrip(".")
    if key in _WEEKDAYS:
        return _WEEKDAYS[key]
    if not key:
        raise ParseError(
            f"A day is missing. Use mon, tue, wed, thu, fri, sat or sun, e.g. {_EX_SCHEDULE}."
        )
    raise ParseError(
        f"{_show(word)} is not a day. Use mon, tue, wed, thu, fri, sat or sun, e.g. {_EX_SCHEDULE}."
    )


# --------------------------------------------------------------------------- clock

_CLOCK_24 = re.compile(r"([0-9]{1,2})[:h.]([0-9]{2})")
_CLOCK_12 = re.compile(r"([0-9]{1,2})(?:[:.]([0-9]{2}))?\s*(am|pm|a\.m\.|p\.m\.)")


def parse_clock(word: str) -> dt.time:
    """``09:00``, ``9:00``, ``16:00``, ``9am``, ``4:30pm`` -> a naive :class:`datetime.time`."""
    text = _norm(word)
    if not text:
        raise ParseError(f"A time is missing. Use {_EX_CLOCK}.")
    m12 = _CLOCK_12.fullmatch(text)
    if m12:
        hour, minute = int(m12.group(1)), int(m12.group(2) or 0)
        if not 1 <= hour <= 12:
            raise ParseError(
                f"{_show(word)} is not a time: with am/pm the hour goes from 1 to 12. "
                f"Use {_EX_CLOCK}."
            )
        if minute > 59:
            raise ParseError(
                f"{_show(word)} is not a time: minutes go from 00 to 59. Use {_EX_CLOCK}."
            )
        hour = hour % 12 + (12 if m12.group(3).startswith("p") else 0)
        return dt.time(hour, minute)
    m24 = _CLOCK_24.fullmatch(text)
    if m24:
        hour, minute = int(m24.group(1)), int(m24.group(2))
        if hour > 23:
            raise ParseError(
                f"{_show(word)} is not a time: hours go from 00 to 23. Use {_EX_CLOCK}."
            )
        if minute > 59:
            raise ParseError(
                f"{_show(word)} is not a time: minutes go from 00 to 59. Use {_EX_CLOCK}."
            )
        return dt.time(hour, minute)
    if re.fullmatch(r"[0-9]{1,2}", text):
        raise ParseError(
            f"{_show(word)} is not a full time: add minutes or am/pm, e.g. `{int(text):02d}:00`. "
            f"Use {_EX_CLOCK}."
        )
    raise ParseError(f"{_show(word)} is not a time. Use {_EX_CLOCK}.")


# --------------------------------------------------------------------------- time zone


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    return {name.casefold(): name for name in available_timezones()}


def parse_timezone(word: str) -> ZoneInfo:
    """An IANA zone name, matched case-insensitively (``europe/berlin`` -> Europe/Berlin)."""
    text = word.strip()
    if text.casefold().startswith("tz:"):
        text = text[3:].strip()
    if not text:
        raise ParseError(f"A time zone is missing. Use {_EX_TZ}.")
    names = _zone_names()
    canonical = names.get(text.casefold())
    if canonical is None:
        close = difflib.get_close_matches(text.casefold()[:64], list(names), n=1, cutoff=0.8)
        hint = f" Did you mean `{names[close[0]]}`?" if close else ""
        raise ParseError(f"{_show(text)} is not a time zone I know.{hint} Use {_EX_TZ}.")
    return ZoneInfo(canonical)


# --------------------------------------------------------------------------- date


def parse_date(word: str) -> dt.date:
    """An ISO date ``YYYY-MM-DD`` (``2026-12-24``); nothing else."""
    text = word.strip()
    if not text:
        raise ParseError(f"A date is missing. Use {_EX_DATE}.")
    match = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", text)
    if not match:
        raise ParseError(f"{_show(word)} is not a date I can read. Use {_EX_DATE}.")
    year, month, day = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ParseError(f"{_show(word)} is not a real calendar date. Use {_EX_DATE}.") from None


# --------------------------------------------------------------------------- duration

_DURATION = re.compile(r"(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?")
_MAX_DIGITS = 7


def parse_duration(word: str) -> dt.timedelta:
    """``90m``, ``12h``, ``3d``, ``1w``, ``2h30m`` (units in the order w, d, h, m); > 0, <= 365d."""
    text = _norm(word)
    if not text:
        raise ParseError(f"A duration is missing. Use {_EX_DURATION}.")
    if text.startswith("-"):
        raise ParseError(
            f"{_show(word)} is negative: a duration must be longer than zero. Use {_EX_DURATION}."
        )
    match = _DURATION.fullmatch(text)
    if not match or not any(match.groups()):
        raise ParseError(f"{_show(word)} is not a duration. Use {_EX_DURATION}.")
    groups = [g or "0" for g in match.groups()]
    if any(len(g) > _MAX_DIGITS for g in groups):
        raise ParseError(
            f"{_show(word)} is too long: the longest duration is 365d. Use {_EX_DURATION}."
        )
    weeks, days, hours, minutes = (int(g) for g in groups)
    total_minutes = ((weeks * 7 + days) * 24 + hours) * 60 + minutes
    if total_minutes == 0:
        raise ParseError(
            f"{_show(word)} is zero: a duration must be longer than zero. Use {_EX_DURATION}."
        )
    if total_minutes > MAX_DURATION // dt.timedelta(minutes=1):
        raise ParseError(
            f"{_show(word)} is too long: the longest duration is 365d. Use {_EX_DURATION}."
        )
    return dt.timedelta(minutes=total_minutes)


# --------------------------------------------------------------------------- interval


def parse_interval_weeks(words: list[str]) -> int:
    """``every week`` / ``every 1 week`` / ``every 2 weeks`` -> 1 .. 12."""
    tokens = [_norm(w) for w in words if w.strip()]
    shown = _show(" ".join(words))
    if tokens and tokens[0] == "every":
        tokens = tokens[1:]
    if tokens in (["week"], ["weekly"]):
        return 1
    if tokens == ["other", "week"]:
        return 2
    if not tokens:
        raise ParseError(f"The interval is missing. Use {_EX_INTERVAL}.")
    if len(tokens) == 1 or tokens[1] not in ("week", "weeks"):
        if len(tokens) >= 2 and tokens[1] in ("day", "days", "month", "months", "year", "years"):
            raise ParseError(f"{shown}: schedules repeat in whole weeks only. Use {_EX_INTERVAL}.")
        raise ParseError(f"{shown} is not an interval. Use {_EX_INTERVAL}.")
    if len(tokens) > 2:
        raise ParseError(f"{shown} is not an interval. Use {_EX_INTERVAL}.")
    number = tokens[0]
    if not re.fullmatch(r"[0-9]{1,4}", number):
        raise ParseError(
            f"{shown}: the number of weeks must be written in digits from 1 to "
            f"{MAX_INTERVAL_WEEKS}. Use {_EX_INTERVAL}."
        )
    weeks = int(number)
    if weeks < 1:
        raise ParseError(f"{shown}: the interval must be at least 1 week. Use {_EX_INTERVAL}.")
    if weeks > MAX_INTERVAL_WEEKS:
        raise ParseError(
            f"{shown} is too long: the interval can be at most {MAX_INTERVAL_WEEKS} weeks. "
            f"Use {_EX_INTERVAL}."
        )
    return weeks


# --------------------------------------------------------------------------- schedule


@dataclass(frozen=True)
class ScheduleSpec:
    """A parsed ``schedule`` command. ``pinned_tz`` None = each recipient's own zone."""

    recurrence: WeeklyRecurrence
    pinned_tz: ZoneInfo | None


def _is_tz_token(token: str) -> bool:
    return _norm(token).startswith("tz:")


def parse_schedule_spec(args: list[str], *, today: dt.date) -> ScheduleSpec:
    """``["mon", "09:00", "every", "2", "weeks", "tz:Europe/Berlin"]`` -> :class:`ScheduleSpec`.

    The day and time come first (in that order, an optional ``at`` between them is allowed);
    ``every N weeks`` and ``tz:Zone`` may follow in either order. The series is anchored at
    ``today``: its first week is the current week.
    """
    positional: list[str] = []
    interval: int | None = None
    pinned: ZoneInfo | None = None
    tokens = [a for a in args if a.strip()]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        key = _norm(token)
        if _is_tz_token(token):
            if pinned is not None:
                raise ParseError(f"Give the time zone only once, e.g. {_EX_SCHEDULE_FULL}.")
            value = token.strip()[3:].strip()
            if not value and i + 1 < len(tokens):
                i += 1
                value = tokens[i]
            pinned = parse_timezone(value)
            i += 1
        elif key == "every":
            if interval is not None:
                raise ParseError(f"Give the interval only once, e.g. {_EX_SCHEDULE_FULL}.")
            words = [token]
            j = i + 1
            while j < len(tokens) and len(words) < 3 and not _is_tz_token(tokens[j]):
                words.append(tokens[j])
                j += 1
                if _norm(words[-1]) in ("week", "weeks", "weekly"):
                    break
            try:
                interval = parse_interval_weeks(words)
            except ParseError as exc:
                raise ParseError(
                    f"{exc} The whole command looks like {_EX_SCHEDULE_FULL}."
                ) from None
            i = j
        elif key == "at" and len(positional) == 1:
            i += 1
        else:
            positional.append(token)
            i += 1
    if not positional:
        raise ParseError(f"Say which day and time, e.g. {_EX_SCHEDULE} or {_EX_SCHEDULE_FULL}.")
    weekday = parse_weekday(positional[0])
    if len(positional) < 2:
        raise ParseError(f"A time is missing after the day, e.g. {_EX_SCHEDULE}.")
    at = parse_clock(positional[1])
    if len(positional) > 2:
        raise ParseError(
            f"I didn't understand {_show(' '.join(positional[2:]))}. "
            f"The form is {_EX_SCHEDULE_FULL} (the `every` and `tz:` parts are optional)."
        )
    recurrence = WeeklyRecurrence(
        weekday=weekday, at=at, interval_weeks=interval or 1, anchor=today
    )
    return ScheduleSpec(recurrence=recurrence, pinned_tz=pinned)


# --------------------------------------------------------------------------- demo day


@dataclass(frozen=True)
class DemoDaySpec:
    """A parsed ``demoday`` command. ``reminders`` are offsets before ``starts_at``,
    longest first; reminders that were already in the past are left out."""

    starts_at: dt.datetime
    title: str
    reminders: tuple[dt.timedelta, ...]


def _parse_reminders(text: str, example: str) -> tuple[dt.timedelta, ...]:
    if _norm(text) in ("none", "off"):
        return ()
    parts = text.split(",")
    if not text.strip() or any(not p.strip() for p in parts):
        raise ParseError(
            f"{_show('remind:' + text)} is not a list of reminders. Use durations separated "
            f"by commas, e.g. `remind:3d,2h`, as in {example}."
        )
    offsets: set[dt.timedelta] = set()
    for part in parts:
        try:
            offsets.add(parse_duration(part))
        except ParseError as exc:
            raise ParseError(
                f"In `remind:` {exc} Reminders look like `remind:3d,2h`, as in {example}."
            ) from None
    return tuple(sorted(offsets, reverse=True))


def parse_demoday(args: list[str], *, caller_tz: ZoneInfo, now: dt.datetime) -> DemoDaySpec:
    """``["2026-12-10", "15:00", "Q4", "demo", "day", "remind:3d,2h"]`` in ``caller_tz``.

    Default reminders are 7d, 1d and 1h before. Refuses past moments, moments more than 365 days
    ahead, local times that do not exist (spring-forward gap), a missing or over-long title, and
    a ``remind:`` list that is malformed or entirely in the past. Individual reminders that would
    already be in the past are dropped.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    local_today = now.astimezone(caller_tz).date()
    example = f"`/circle demoday {_example_date(local_today)} 15:00 Q4 demo day remind:3d,2h`"
    remind_text: str | None = None
    rest: list[str] = []
    tokens = [a for a in args if a.strip()]
    i = 0
    while i < len(tokens):
        token = tokens[i].strip()
        if _norm(token).startswith("remind:"):
            if remind_text is not None:
                raise ParseError(f"Give `remind:` only once, e.g. {example}.")
            remind_text = token[len("remind:") :]
            if not remind_text and i + 1 < len(tokens):
                i += 1
                remind_text = tokens[i].strip()
        else:
            rest.append(token)
        i += 1
    if len(rest) < 2:
        raise ParseError(f"Give the date, the time and a title, e.g. {example}.")
    try:
        day = parse_date(rest[0])
        at = parse_clock(rest[1])
    except ParseError as exc:
        raise ParseError(f"{exc} The whole command looks like {example}.") from None
    title = " ".join(rest[2:]).strip()
    if not title:
        raise ParseError(f"The demo day needs a title after the time, e.g. {example}.")
    if len(title) > MAX_TITLE_LENGTH:
        raise ParseError(
            f"The title is {len(title)} characters long; keep it to {MAX_TITLE_LENGTH}, "
            f"e.g. {example}."
        )

    when = f"{day.isoformat()} {at.strftime('%H:%M')} ({caller_tz.key})"
    # Compare dates first so that far-off years never reach datetime arithmetic (overflow).
    if day < local_today:
        raise ParseError(f"{when} is in the past. Pick a future date and time, e.g. {example}.")
    if (day - local_today).days > MAX_DEMODAY_AHEAD.days + 1:
        raise ParseError(
            f"{when} is more than a year away; demo days can be scheduled up to 365 days ahead, "
            f"e.g. {example}."
        )
    starts_at = resolve_wall_time(day, at, caller_tz)
    if not wall_time_exists(day, at, caller_tz):
        gap_end = starts_at.astimezone(caller_tz).strftime("%H:%M")
        safe_title = title.replace("`", "'")
        raise ParseError(
            f"{when} does not exist: the clocks jump forward past it that day for daylight "
            f"saving time, straight to {gap_end}. Pick a time that exists, e.g. "
            f"`/circle demoday {day.isoformat()} {gap_end} {safe_title}`."
        )
    if starts_at <= now:
        raise ParseError(f"{when} is in the past. Pick a future date and time, e.g. {example}.")
    if starts_at - now > MAX_DEMODAY_AHEAD:
        raise ParseError(
            f"{when} is more than a year away; demo days can be scheduled up to 365 days ahead, "
            f"e.g. {example}."
        )

    if remind_text is None:
        reminders = tuple(r for r in DEFAULT_REMINDERS if starts_at - r > now)
    else:
        asked = _parse_reminders(remind_text, example)
        reminders = tuple(r for r in asked if starts_at - r > now)
        if asked and not reminders:
            raise ParseError(
                f"All the reminders in `remind:{remind_text.strip()}` would be in the past: "
                f"the demo day starts in less time than that. Use shorter ones, e.g. "
                f"`remind:1h`, or `remind:none`."
            )
    return DemoDaySpec(starts_at=starts_at, title=title, reminders=reminders)


# --------------------------------------------------------------------------- until / nudge


def parse_until(args: list[str], *, today: dt.date) -> dt.date | None:
    """``[]`` -> None (no end); ``["until", "2026-12-31"]`` -> that date (today or later)."""
    tokens = [a.strip() for a in args if a.strip()]
    if not tokens:
        return None
    example = f"`until {_example_date(today)}`"
    if _norm(tokens[0]) == "until":
        tokens = tokens[1:]
        if not tokens:
            raise ParseError(f"The date after `until` is missing. Use {example}.")
    if len(tokens) > 1:
        raise ParseError(f"I didn't understand {_show(' '.join(args))}. Use {example}.")
    try:
        day = parse_date(tokens[0])
    except ParseError as exc:
        raise ParseError(f"{exc} The form is {example}.") from None
    if day < today:
        raise ParseError(
            f"{day.isoformat()} is in the past. Use today ({today.isoformat()}) or a later "
            f"date, as in {example}."
        )
    return day


def parse_nudge(word: str) -> dt.timedelta | None:
    """``12h`` -> timedelta (between 1h and 7d), ``off`` -> None."""
    if _norm(word) in ("off", "none", "never"):
        return None
    try:
        value = parse_duration(word)
    except ParseError as exc:
        raise ParseError(f"{exc} For nudges use {_EX_NUDGE}.") from None
    if value < NUDGE_MIN:
        raise ParseError(f"{_show(word)} is too short for a nudge: use {_EX_NUDGE}.")
    if value > NUDGE_MAX:
        raise ParseError(f"{_show(word)} is too long for a nudge: use {_EX_NUDGE}.")
    return value
