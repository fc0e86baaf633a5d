"""What is due is a function of the database and the time (no Slack involved)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from sqlmodel import Session

from bot.app import message_kinds
from bot.delivery import engine
from bot.delivery.kinds import DueMessage
from storage.db import Database
from storage.models import Circle, Delivery, DeliveryStatus, DemoDay, Person, SkipDay
from tests.factories import LONG_AGO, T, add_participant, make_circle, utc, weekly


def due_messages(session: Session, *, now: datetime, since: datetime) -> list[DueMessage]:
    """Everything due, as a tick sees it (every feature's kinds)."""
    return engine.due_messages(session, message_kinds(), now=now, since=since)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


def due(db: Database, since: datetime, now: datetime) -> list[tuple[str, datetime]]:
    with db.session() as session:
        items = due_messages(session, now=now, since=since)
    return sorted((item.key.split(":", 2)[2], item.due_at) for item in items)


def test_each_participant_gets_the_checkin_at_their_own_local_time(db: Database) -> None:
    with db.session() as s:
        circle = make_circle(s)
        add_participant(s, circle, "UNY", "America/New_York")
        add_participant(s, circle, "UBER", "Europe/Berlin")
        add_participant(s, circle, "UKOL", "Asia/Kolkata")
        weekly(s, circle, "checkin", 0, "09:00")
    # Monday 7 Dec 2026 (winter everywhere)
    assert due(db, utc(2026, 12, 6, 12), utc(2026, 12, 7, 23)) == [
        ("UBER:2026-12-07", utc(2026, 12, 7, 8, 0)),  # 09:00 CET
        ("UKOL:2026-12-07", utc(2026, 12, 7, 3, 30)),  # 09:00 IST
        ("UNY:2026-12-07", utc(2026, 12, 7, 14, 0)),  # 09:00 EST
    ]


@pytest.mark.parametrize(
    ("tz", "week_before", "week_after"),
    [
        # New York falls back on Sun 1 Nov 2026: 09:00 EDT (13:00Z) then 09:00 EST (14:00Z)
        ("America/New_York", utc(2026, 10, 26, 13), utc(2026, 11, 2, 14)),
        # Berlin falls back on Sun 25 Oct 2026: 09:00 CEST (07:00Z) then 09:00 CET (08:00Z)
        ("Europe/Berlin", utc(2026, 10, 19, 7), utc(2026, 10, 26, 8)),
        # Kolkata has no DST: always 03:30Z
        ("Asia/Kolkata", utc(2026, 10, 19, 3, 30), utc(2026, 10, 26, 3, 30)),
    ],
)
def test_monday_0900_keeps_local_time_across_the_autumn_change(
    db: Database, tz: str, week_before: datetime, week_after: datetime
) -> None:
    with db.session() as s:
        circle = make_circle(s)
        add_participant(s, circle, "UP", tz)
        weekly(s, circle, "checkin", 0, "09:00")
    times = [moment for _key, moment in due(db, week_before - timedelta(days=1), week_after)]
    assert times == [week_before, week_after]


def test_spring_gap_fires_at_the_end_of_the_gap_and_autumn_overlap_fires_once(
    db: Database,
) -> None:
    with db.session() as s:
        circle = make_circle(s)
        add_participant(s, circle, "UNY", "America/New_York")
        weekly(s, circle, "checkin", 6, "02:30")  # Sundays 02:30
        weekly(s, circle, "debrief", 6, "01:30")
    # 14 Mar 2027 02:30 does not exist in New York: fires at 03:00 EDT = 07:00Z.
    spring = due(db, utc(2027, 3, 13), utc(2027, 3, 15))
    assert ("UNY:2027-03-14", utc(2027, 3, 14, 7, 0)) in spring
    # 1 Nov 2026 01:30 happens twice in New York: fires once, at the first (EDT) one = 05:30Z.
    autumn = [x for x in due(db, utc(2026, 10, 31), utc(2026, 11, 2)) if x[1].hour in (5, 6)]
    assert autumn == [("UNY:2026-11-01", utc(2026, 11, 1, 5, 30))]


def test_a_pinned_zone_overrides_everyones_own(db: Database) -> None:
    with db.session() as s:
        circle = make_circle(s)
        add_participant(s, circle, "UNY", "America/New_York")
        add_participant(s, circle, "UKOL", "Asia/Kolkata")
        weekly(s, circle, "checkin", 0, "09:00", pinned_tz="Europe/Berlin")
    assert [m for _k, m in due(db, utc(2026, 12, 6), utc(2026, 12, 8))] == [utc(2026, 12, 7, 8)] * 2


def test_every_two_weeks_follows_the_anchor(db: Database) -> None:
    with db.session() as s:
        circle = make_circle(s)
        add_participant(s, circle, "UL", "Europe/London")
        weekly(s, circle, "debrief", 3, "16:00", interval_weeks=2, anchor=date(2026, 11, 30))
    got = [m for _k, m in due(db, utc(2026, 11, 30), utc(2027, 1, 1))]
    assert got == [utc(2026, 12, 3, 16), utc(2026, 12, 17, 16), utc(2026, 12, 31, 16)]


def test_paused_skipped_away_and_new_people_get_nothing(db: Database) -> None:
    with db.session() as s:
        circle = make_circle(s, paused_at=utc(2026, 12, 1), paused_until=date(2026, 12, 13))
        add_participant(s, circle, "UA", "Europe/London")
        add_participant(s, circle, "UAWAY", "Europe/London", away_until=date(2026, 12, 21))
        add_participant(s, circle, "ULATE", "Europe/London", added_at=utc(2026, 12, 21, 12))
        weekly(s, circle, "checkin", 0, "09:00")
        s.add(
            SkipDay(
                team_id=T,
                circle_id=circle.id,
                day=date(2026, 12, 28),
                created_by="UFAC",
                created_at=LONG_AGO,
            )
        )  # type: ignore[arg-type]
    got = due(db, utc(2026, 11, 30, 12), utc(2027, 1, 5))
    assert got == [
        ("UA:2026-12-14", utc(2026, 12, 14, 9)),  # the pause ended on the 13th
        ("UA:2026-12-21", utc(2026, 12, 21, 9)),  # UAWAY is away until the 21st inclusive
        ("UA:2027-01-04", utc(2027, 1, 4, 9)),  # 28 Dec is skipped; ULATE joined after 09:00
        ("UAWAY:2027-01-04", utc(2027, 1, 4, 9)),
        ("ULATE:2027-01-04", utc(2027, 1, 4, 9)),
    ]


def test_an_indefinite_pause_and_an_archived_circle_stop_everything(db: Database) -> None:
    with db.session() as s:
        paused = make_circle(s, paused_at=utc(2026, 12, 1))
        add_participant(s, paused, "UA", "Europe/London")
        weekly(s, paused, "checkin", 0, "09:00")
        archived = Circle(
            team_id=T,
            channel_id="C2",
            name="Old",
            created_by="UFAC",
            created_at=LONG_AGO,
            archived_at=utc(2026, 11, 1),
        )
        s.add(archived)
        s.flush()
        add_participant(s, archived, "UB", "Europe/London")
        weekly(s, archived, "checkin", 0, "09:00")
    assert due(db, utc(2026, 12, 1), utc(2027, 2, 1)) == []


def test_schedules_do_not_fire_before_they_existed(db: Database) -> None:
    with db.session() as s:
        circle = make_circle(s)
        add_participant(s, circle, "UA", "Europe/London")
        weekly(s, circle, "checkin", 0, "09:00", created_at=utc(2026, 12, 7, 9, 30))
    assert [m for _k, m in due(db, utc(2026, 12, 1), utc(2026, 12, 15))] == [utc(2026, 12, 14, 9)]


def test_people_who_left_slack_get_nothing(db: Database) -> None:
    with db.session() as s:
        circle = make_circle(s)
        add_participant(s, circle, "UGONE", "Europe/London")
        weekly(s, circle, "checkin", 0, "09:00")
        gone = s.get(Person, (T, "UGONE"))
        assert gone is not None
        gone.deleted = True
    assert due(db, utc(2026, 12, 6), utc(2026, 12, 8)) == []


def test_one_nudge_after_the_circles_delay_unless_answered_or_skipped(db: Database) -> None:
    with db.session() as s:
        circle = make_circle(s, nudge_after_minutes=12 * 60)
        for user, answered, skipped in [
            ("UQUIET", None, None),
            ("UANSWERED", utc(2026, 12, 7, 10), None),
            ("USKIPPED", None, utc(2026, 12, 7, 10)),
        ]:
            s.add(
                Delivery(
                    team_id=T,
                    circle_id=circle.id,  # type: ignore[arg-type]
                    key=f"checkin:1:{user}:2026-12-07",
                    kind="checkin",
                    recipient=user,
                    due_at=utc(2026, 12, 7, 9),
                    status=DeliveryStatus.SENT,
                    sent_at=utc(2026, 12, 7, 9, 0, 20),
                    answered_at=answered,
                    skipped_at=skipped,
                    created_at=utc(2026, 12, 7, 9),
                )
            )
    with db.session() as s:
        before = due_messages(s, now=utc(2026, 12, 7, 21), since=utc(2026, 12, 7))
        after = due_messages(s, now=utc(2026, 12, 7, 22), since=utc(2026, 12, 7))
    assert before == []
    [nudge] = after
    assert nudge.recipient == "UQUIET" and nudge.due_at == utc(2026, 12, 7, 21, 0, 20)
    assert nudge.key.startswith("nudge:") and nudge.kind == "nudge"


def test_nudges_off_means_none(db: Database) -> None:
    with db.session() as s:
        circle = make_circle(s)
        circle.nudge_after_minutes = None  # what `/circle set nudge off` stores (an UPDATE)
        s.add(
            Delivery(
                team_id=T,
                circle_id=circle.id,  # type: ignore[arg-type]
                key="checkin:1:UQ:2026-12-07",
                kind="checkin",
                recipient="UQ",
                due_at=utc(2026, 12, 7, 9),
                status=DeliveryStatus.SENT,
                sent_at=utc(2026, 12, 7, 9),
                created_at=utc(2026, 12, 7, 9),
            )
        )
    with db.session() as s:
        assert due_messages(s, now=utc(2026, 12, 10), since=utc(2026, 12, 7)) == []


def test_demo_day_reminders_go_to_the_channel_at_each_offset(db: Database) -> None:
    starts = utc(2026, 12, 10, 15)
    with db.session() as s:
        circle = make_circle(s)
        s.add(
            DemoDay(
                team_id=T,
                circle_id=circle.id,  # type: ignore[arg-type]
                title="Q4 demo day",
                starts_at=starts,
                reminder_offsets="604800,86400,3600",
                created_by="UFAC",
                created_at=utc(2026, 12, 5),  # after the 7-day reminder's moment
            )
        )
    with db.session() as s:
        items = due_messages(s, now=starts, since=utc(2026, 12, 1))
    assert sorted((i.key.rsplit(":", 1)[1], i.due_at, i.recipient) for i in items) == [
        ("3600", utc(2026, 12, 10, 14), "C1"),
        ("86400", utc(2026, 12, 9, 15), "C1"),
    ]
