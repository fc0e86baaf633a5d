"""Moments, days and durations as people read them in Slack, one copy each."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup


def day_text(day: date, *, year: bool = False) -> str:
    """`Mon 7 Dec`, or with `year` `Mon 7 Dec 2026`."""
    return f"{day:%a} {day.day} {day:%b}" + (f" {day.year}" if year else "")


def slack_date(moment: datetime, fallback_tz: ZoneInfo | None = None) -> Markup:
    """`<!date^…>`: Slack shows the moment in each reader's own zone. The fallback (for old
    clients) is in `fallback_tz`, named, or else in UTC."""
    if moment.tzinfo is None:
        raise ValueError("slack_date needs an aware datetime")
    if fallback_tz is None:
        fallback = f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    else:
        local = moment.astimezone(fallback_tz)
        fallback = f"{day_text(local.date(), year=True)}, {local:%H:%M} ({fallback_tz.key})"
    token = f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"
    return Markup(token)  # noqa: S704 (built from numbers, dates and a zone name)


def rounded_duration(value: timedelta) -> str:
    """Rounded for figures: `25 min`, `3 h`, `2 days`."""
    minutes = value.total_seconds() / 60
    if minutes < 60:
        return f"{max(1, round(minutes))} min"
    hours = minutes / 60
    if hours < 48:
        return f"{round(hours)} h"
    return f"{round(hours / 24)} days"


def duration_text(delta: timedelta) -> str:
    """Exact for settings: `3 days`, `2 hours`, `1 day 12 hours`, `90 minutes`."""
    minutes = int(delta.total_seconds()) // 60
    parts: list[str] = []
    for size, unit in ((7 * 24 * 60, "week"), (24 * 60, "day"), (60, "hour"), (1, "minute")):
        count, minutes = divmod(minutes, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts) or "0 minutes"
