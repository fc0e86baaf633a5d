"""Parsing of the rhythm subcommands into typed commands (pure: no Slack, no database)."""

from __future__ import annotations

from datetime import date, time

import pytest

from bot.slash.parse import (
    Away,
    Back,
    CancelDemoDay,
    CommandError,
    Help,
    ListDemoDays,
    ListSchedules,
    NewDemoDay,
    NewSchedule,
    Pause,
    Resume,
    SetNudge,
    Skip,
    Unschedule,
)
from bot.subcommands import SUBCOMMANDS, Subcommand
from bot.subcommands import parse_text as parse
from storage.models import ScheduleKind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "schedule checkin mon 09:00",
            NewSchedule(ScheduleKind.CHECKIN, 0, time(9, 0), 1, None),
        ),
        (
            "Schedule Check-in Thursday at 4:30pm tz:america/new_york every 3 weeks",
            NewSchedule(ScheduleKind.CHECKIN, 3, time(16, 30), 3, "America/New_York"),
        ),
        (
            "schedule debrief fri 16:00 every other week",
            NewSchedule(ScheduleKind.DEBRIEF, 4, time(16, 0), 2, None),
        ),
        ("schedule digest sun 18:00", NewSchedule(ScheduleKind.DIGEST, 6, time(18, 0), 1, None)),
        ("schedules", ListSchedules()),
        ("unschedule 3", Unschedule(3)),
        ("unschedule #12", Unschedule(12)),
        (
            "demoday 2026-12-10 15:00 Q4 demo &amp; drinks remind:3d,2h",
            NewDemoDay(("2026-12-10", "15:00", "Q4", "demo", "&", "drinks", "remind:3d,2h")),
        ),
        ("demoday cancel 2", CancelDemoDay(2)),
        ("demodays", ListDemoDays()),
        ("pause", Pause(None)),
        ("pause until 2026-12-31", Pause(date(2026, 12, 31))),
        ("pause 2026-12-31", Pause(date(2026, 12, 31))),
        ("resume", Resume()),
        ("skip 2026-12-24", Skip(date(2026, 12, 24))),
        ("away until 2027-01-05", Away(date(2027, 1, 5))),
        ("back", Back()),
        ("set nudge 12h", SetNudge(720)),
        ("set NUDGE 2h30m", SetNudge(150)),
        ("set nudge off", SetNudge(None)),
    ],
)
def test_rhythm_subcommands_parse_into_typed_commands(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("schedule checkin mon 09:00 every 13 weeks", "at most 12 weeks"),
        ("schedule checkin mon 09:00 tz:Europe/Berlin tz:Europe/Paris", "time zone only once"),
        ("schedule checkin mon 09:00 sharp", "I didn't understand “sharp”"),
        ("schedule checkin <#C1|general> 09:00", "#general has no place in `/circle schedule`"),
        ("unschedule 1234567890", "is not a schedule id"),
        ("demoday cancel 1 2", "Give one demo day id at a time."),
        ("skip 2026-13-01", "is not a real calendar date"),
        ("away <@UBEN|ben>", "`/circle away` is for yourself"),
        ("set nudge 0h", "is zero"),
    ],
)
def test_rhythm_subcommands_refuse_bad_input(text: str, expected: str) -> None:
    with pytest.raises(CommandError) as refused:
        parse(text)
    assert expected in str(refused.value)


# `checkin now`, `debrief now` and `status` belong to the delivery engine and are tested there.
DELIVERY_HELP = {"checkin now", "debrief now", "status"}


MENTIONS = {"@ana": "<@UANA|ana>", "@ben": "<@UBEN|ben>", "@dana": "<@UDANA|dana>"}


@pytest.mark.parametrize(
    "sub", [s for s in SUBCOMMANDS if s.name not in DELIVERY_HELP], ids=lambda s: s.name
)
def test_every_example_in_help_parses(sub: Subcommand) -> None:
    for example in sub.example.split("  ·  "):
        text = example.removeprefix("/circle ")
        for typed, sent in MENTIONS.items():
            text = text.replace(typed, sent)  # Slack sends mentions escaped
        command = parse(text)
        assert not isinstance(command, Help) or sub.name == "help", example
