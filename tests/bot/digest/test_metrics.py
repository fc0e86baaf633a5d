"""Digest metrics: each figure against values worked out by hand from rows at known times.

The circle's zone is Europe/Berlin (CET, UTC+1 in November), so its week of Monday
16 Nov 2026 runs from 15 Nov 23:00 UTC to 22 Nov 23:00 UTC.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import event
from sqlmodel import Session

from bot.digest.metrics import (
    Figure,
    LateAnswers,
    Missing,
    WeekMetrics,
    combine,
    metrics_for_circle,
    metrics_for_circles,
    sparkline,
)
from storage.db import Database
from storage.models import (
    ActionItem,
    Circle,
    Delivery,
    DemoDay,
    DemoSignup,
    Person,
    Reflection,
    ReflectionAnswer,
)
from tests.factories import LONG_AGO, T, add_participant, make_circle, utc

WEEK_A, WEEK_B, WEEK_C = date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)
C_START, C_END = utc(2026, 11, 15, 23), utc(2026, 11, 22, 23)
MONDAY_AFTER = utc(2026, 11, 23, 8)  # 09:00 in Berlin: when the digest of week C goes out


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    yield database
    database.dispose()


# --- rows ------------------------------------------------------------------------------------


class Rows:
    """Writes a circle's history in one session; ids and keys are made up as needed."""

    def __init__(self, session: Session, circle: Circle) -> None:
        self.s = session
        self.circle = circle
        self.circle_id: int = circle.id  # type: ignore[assignment]
        self.count = 0

    def _next(self) -> int:
        self.count += 1
        return self.count

    def participant(self, user_id: str, **fields: Any) -> None:
        add_participant(self.s, self.circle, user_id, "Europe/Berlin", **fields)

    def left_slack(self, user_id: str) -> None:
        person = self.s.get(Person, (T, user_id))
        assert person is not None
        person.deleted = True
        self.s.add(person)

    def reflect(
        self,
        user_id: str,
        week: date,
        at: datetime,
        *,
        kind: str = "checkin",
        confidence: int | None = None,
        visibility: str = "circle",
        peer: str | None = None,
        words: str = "I tried pairing on the roadmap",
    ) -> int:
        reflection = Reflection(
            team_id=T,
            circle_id=self.circle_id,
            user_id=user_id,
            kind=kind,
            prompt_set="default",
            week_start=week,
            visibility=visibility,
            peer_user_id=peer,
            submitted_at=at,
        )
        self.s.add(reflection)
        self.s.flush()
        assert reflection.id is not None
        answers: list[tuple[str, str, str | None, int | None]] = [
            ("tried", "long_text", words, None)
        ]
        if confidence is not None:
            answers.append(("confidence", "scale", None, confidence))
        for question_id, kind_of_answer, answer_text, number in answers:
            self.s.add(
                ReflectionAnswer(
                    team_id=T,
                    reflection_id=reflection.id,
                    question_id=question_id,
                    kind=kind_of_answer,
                    text=answer_text,
                    number=number,
                )
            )
        return reflection.id

    def checkin(
        self,
        user_id: str,
        sent_at: datetime,
        *,
        answered_at: datetime | None = None,
        skipped_at: datetime | None = None,
        kind: str = "checkin",
    ) -> None:
        self.s.add(
            Delivery(
                team_id=T,
                circle_id=self.circle_id,
                key=f"{kind}:test:{user_id}:{self._next()}",
                kind=kind,
                recipient=user_id,
                due_at=sent_at,
                status="sent",
                sent_at=sent_at,
                answered_at=answered_at,
                skipped_at=skipped_at,
                created_at=sent_at,
            )
        )

    def item(
        self,
        user_id: str,
        created_at: datetime,
        due: date | None,
        *,
        done_at: datetime | None = None,
        dropped_at: datetime | None = None,
    ) -> None:
        status = "done" if done_at else "dropped" if dropped_at else "open"
        self.s.add(
            ActionItem(
                team_id=T,
                circle_id=self.circle_id,
                user_id=user_id,
                question_id=f"next_step_{self._next()}",
                text="Ask for feedback on the plan",
                due_date=due,
                status=status,
                created_at=created_at,
                done_at=done_at,
                dropped_at=dropped_at,
            )
        )

    def demo_day(
        self, starts_at: datetime, signups: int, *, cancelled_at: datetime | None = None
    ) -> int:
        day = DemoDay(
            team_id=T,
            circle_id=self.circle_id,
            title="Demo day",
            starts_at=starts_at,
            reminder_offsets="86400",
            created_by="UFAC",
            created_at=LONG_AGO,
            cancelled_at=cancelled_at,
        )
        self.s.add(day)
        self.s.flush()
        for n in range(signups):
            self.s.add(
                DemoSignup(
                    team_id=T,
                    demo_day_id=day.id,  # type: ignore[arg-type]
                    user_id=f"US{n}",
                    title="What I built",
                    created_at=LONG_AGO,
                    updated_at=LONG_AGO,
                )
            )
        assert day.id is not None
        return day.id


def new_circle(db: Database, channel: str = "C1", **fields: Any) -> int:
    with db.session() as s:
        circle = make_circle(s, channel, tz="Europe/Berlin", **fields)
        assert circle.id is not None
        return circle.id


@contextmanager
def history(db: Database, circle_id: int) -> Iterator[Rows]:
    """Rows for a circle, written in one transaction."""
    with db.session() as s:
        circle = s.get(Circle, circle_id)
        assert circle is not None
        yield Rows(s, circle)


def measure(db: Database, circle_id: int, now: datetime, week: date | None = None) -> WeekMetrics:
    with db.read_session() as s:
        return metrics_for_circle(s, circle_id, now=now, week=week)


def about(value: float, people: int) -> Figure[float]:
    """A shown figure, its value compared approximately."""
    return Figure(cast(float, pytest.approx(value)), people)


def not_enough(people: int) -> Figure[Any]:
    return Figure(None, people, Missing.NOT_ENOUGH_RESPONSES)


# --- one worked week -------------------------------------------------------------------------


def test_every_figure_of_a_week_matches_the_hand_count(db: Database) -> None:
    circle_id = new_circle(db)
    with history(db, circle_id) as rows:
        for user in ("UA", "UB", "UC", "UD", "UF"):
            rows.participant(user)
        rows.participant("UE", removed_at=utc(2026, 11, 10, 12))  # during week B
        rows.left_slack("UD")  # left Slack: out of every figure, whatever they did
        # Week A: 4 of 5 reflected; confidence 3, 4, 5, 2.
        for user, score in (("UA", 3), ("UB", 4), ("UC", 5), ("UE", 2)):
            rows.reflect(user, WEEK_A, utc(2026, 11, 3, 10), confidence=score)
        # Week B: 3 of 5 (UE was removed during it, so still counted); UA's came late.
        rows.reflect("UA", WEEK_B, utc(2026, 11, 17, 10), confidence=2)  # late: in week C
        rows.reflect("UB", WEEK_B, utc(2026, 11, 10, 10), confidence=2)
        rows.reflect("UC", WEEK_B, utc(2026, 11, 10, 10), confidence=3)
        rows.reflect("UD", WEEK_B, utc(2026, 11, 17, 11), confidence=5)  # gone: not listed
        # Week C: UA, UB, UC, UF of UA, UB, UC, UF (UE removed, UD gone).
        rows.reflect("UA", WEEK_C, utc(2026, 11, 16, 10), confidence=4)
        rows.reflect("UB", WEEK_C, utc(2026, 11, 16, 11), confidence=1, visibility="private")
        rows.reflect("UC", WEEK_C, utc(2026, 11, 16, 12), confidence=5, visibility="leaders")
        rows.reflect("UF", WEEK_C, utc(2026, 11, 18, 13), confidence=3)
        rows.reflect("UD", WEEK_C, utc(2026, 11, 16, 9), confidence=1)
        rows.reflect("UFAC", WEEK_C, utc(2026, 11, 16, 9), confidence=1)  # not a participant
        # Debriefs: UA and UB about the same session, UC with the facilitator.
        rows.reflect("UA", WEEK_C, utc(2026, 11, 19, 9), kind="debrief", peer="UB")
        rows.reflect(
            "UB", WEEK_C, utc(2026, 11, 19, 9), kind="debrief", peer="UA", visibility="private"
        )
        rows.reflect("UC", WEEK_C, utc(2026, 11, 20, 9), kind="debrief", peer="UFAC")
        rows.reflect(
            "UF", WEEK_C, MONDAY_AFTER + timedelta(hours=1), kind="debrief", peer="UC"
        )  # after now

        sent = utc(2026, 11, 16, 8)
        rows.checkin("UA", sent, answered_at=sent + timedelta(hours=2))
        rows.checkin("UB", sent, answered_at=sent + timedelta(hours=24))
        rows.checkin("UC", sent, skipped_at=sent + timedelta(hours=4))
        rows.checkin("UF", sent, answered_at=sent + timedelta(hours=53))
        rows.checkin("UD", sent, answered_at=sent + timedelta(hours=1))  # gone
        rows.checkin("UC", utc(2026, 11, 22, 22, 30))  # Sunday 23:30 in Berlin: still week C
        rows.checkin("UC", utc(2026, 11, 22, 23, 30))  # Monday 00:30: the next week
        rows.checkin("UA", utc(2026, 11, 9, 8), answered_at=utc(2026, 11, 9, 9))  # week B
        rows.checkin("UB", sent, answered_at=sent, kind="debrief")  # not a check-in

        rows.item("UA", utc(2026, 11, 17, 10), date(2026, 11, 20), done_at=utc(2026, 11, 19, 10))
        rows.item("UB", utc(2026, 11, 17, 10), date(2026, 11, 21))  # overdue
        rows.item("UC", utc(2026, 11, 3, 10), date(2026, 11, 10), done_at=utc(2026, 11, 18, 10))
        rows.item("UF", utc(2026, 10, 1, 10), date(2026, 10, 10), done_at=utc(2026, 11, 16, 10))
        rows.item("UA", utc(2026, 11, 10, 10), date(2026, 11, 22))  # due Sunday: overdue
        rows.item("UB", utc(2026, 11, 10, 10), date(2026, 11, 23))  # due Monday: not yet
        rows.item("UC", utc(2026, 11, 4, 10), date(2026, 11, 12), done_at=utc(2026, 11, 23, 7))
        rows.item(
            "UF", utc(2026, 11, 4, 10), date(2026, 11, 12), dropped_at=utc(2026, 11, 22, 23, 30)
        )
        rows.item("UB", utc(2026, 11, 4, 10), date(2026, 11, 12), dropped_at=utc(2026, 11, 20))
        rows.item("UD", utc(2026, 11, 17, 10), date(2026, 11, 18))  # gone
        rows.item("UE", utc(2026, 11, 2, 10), date(2026, 11, 5))  # removed before week C
        rows.item("UA", utc(2026, 9, 1, 10), date(2026, 9, 10))  # open for months: overdue

        rows.demo_day(utc(2026, 11, 20, 15), 2)
        following = rows.demo_day(utc(2026, 11, 27, 15), 1)
        rows.demo_day(utc(2026, 11, 25, 15), 3, cancelled_at=utc(2026, 11, 21))
        rows.demo_day(utc(2026, 11, 10, 15), 1)

    m = measure(db, circle_id, MONDAY_AFTER, WEEK_C)

    assert (m.week_start, m.starts_at, m.ends_at, m.as_of) == (WEEK_C, C_START, C_END, C_END)
    assert m.complete and not m.paused
    assert (m.active_participants, m.participants_reflected) == (4, 4)
    assert m.participation == Figure(1.0, 4)
    assert (m.checkin_reflections, m.debrief_reflections, m.private_reflections) == (4, 3, 2)
    assert m.peer_sessions == 2  # {UA, UB} once, {UC, UFAC}

    c = m.checkins
    assert (c.sent, c.answered, c.skipped) == (5, 3, 1)
    assert c.response_rate == about(3 / 5, 4)
    assert c.median_time_to_respond == Figure(timedelta(hours=24), 3)

    items = m.action_items
    assert (items.committed, items.completed, items.overdue) == (2, 3, 5)
    assert items.window_start == date(2026, 10, 26)
    # Created in the 4 weeks: 9 items of UA, UB, UC, UE, UF; done by the week's end: 2.
    assert items.completion_rate == about(2 / 9, 5)
    # Done in the 4 weeks: after 2, 15 and 46 days.
    assert items.median_time_to_implement == Figure(timedelta(days=15), 3)

    # UB's private 1 stays out: (4 + 5 + 3) / 3; the week before (2 + 2 + 3) / 3.
    assert m.confidence == about(4.0, 3)
    assert m.confidence_change == about(4.0 - 7 / 3, 3)
    assert m.confidence_previous == about(7 / 3, 3)

    assert m.participation_trend.weeks == tuple(
        WEEK_C - timedelta(weeks=n) for n in range(7, -1, -1)
    )
    assert m.participation_trend.values == [0.0] * 5 + [pytest.approx(0.8), pytest.approx(0.6), 1.0]
    assert sparkline(m.participation_trend.values) == "▁▁▁▁▁▇▅█"

    assert m.demo_days.held == 1 and m.demo_days.presenters == 2
    assert (m.demo_days.next_demo_day_id, m.demo_days.next_signups) == (following, 1)
    assert m.demo_days.next_starts_at == utc(2026, 11, 27, 15)

    assert m.late_answers == (LateAnswers(WEEK_B, 1),)  # UA's; UD's is gone with UD

    # The same week read mid-week: measured up to now, with the items as they stand now.
    wednesday = utc(2026, 11, 18, 12)
    mid = measure(db, circle_id, wednesday)
    assert (mid.week_start, mid.as_of, mid.complete) == (WEEK_C, wednesday, False)
    assert (mid.checkins.sent, mid.checkins.answered, mid.checkins.skipped) == (4, 2, 1)
    assert (mid.action_items.committed, mid.action_items.completed) == (2, 2)
    assert mid.participation == about(3 / 4, 4)  # UF wrote in the afternoon
    assert mid.demo_days.next_demo_day_id is not None and mid.demo_days.held == 0


# --- privacy ---------------------------------------------------------------------------------


def test_two_answering_people_give_a_marker_and_three_give_numbers(db: Database) -> None:
    circle_id = new_circle(db)
    now = utc(2026, 11, 20, 12)
    with history(db, circle_id) as rows:
        for user in ("UA", "UB"):
            rows.participant(user)
            rows.reflect(user, WEEK_C, utc(2026, 11, 16, 10), confidence=4)
            rows.checkin(user, utc(2026, 11, 16, 8), answered_at=utc(2026, 11, 16, 9))
            rows.item(user, utc(2026, 11, 16, 10), None, done_at=utc(2026, 11, 17, 10))

    two = measure(db, circle_id, now)
    for figure in (
        two.participation,
        two.confidence,
        two.checkins.response_rate,
        two.checkins.median_time_to_respond,
        two.action_items.completion_rate,
        two.action_items.median_time_to_implement,
    ):
        assert figure == not_enough(2)
    assert (two.participants_reflected, two.checkins.answered) == (2, 2)  # counts stay

    with history(db, circle_id) as rows:
        rows.participant("UC")
        rows.reflect("UC", WEEK_C, utc(2026, 11, 16, 10), confidence=1)
        rows.checkin("UC", utc(2026, 11, 16, 8), answered_at=utc(2026, 11, 16, 12))
        rows.item("UC", utc(2026, 11, 16, 10), None, done_at=utc(2026, 11, 19, 10))

    three = measure(db, circle_id, now)
    assert three.participation == Figure(1.0, 3)
    assert three.confidence == Figure(3.0, 3)
    assert three.checkins.response_rate == Figure(1.0, 3)
    assert three.checkins.median_time_to_respond == Figure(timedelta(hours=1), 3)
    assert three.action_items.completion_rate == Figure(1.0, 3)
    assert three.action_items.median_time_to_implement == Figure(timedelta(days=1), 3)


def strings_in(value: Any) -> Iterator[str]:
    """Every string anywhere inside a metrics object, private fields included."""
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from strings_in(getattr(value, f.name))
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings_in(k)
            yield from strings_in(v)
    elif isinstance(value, tuple | list | set | frozenset):
        for v in value:
            yield from strings_in(v)


def test_private_reflections_count_but_no_text_is_returned(db: Database) -> None:
    circle_id = new_circle(db)
    with history(db, circle_id) as rows:
        for user in ("UA", "UB", "UC"):
            rows.participant(user)
            rows.reflect(
                user,
                WEEK_C,
                utc(2026, 11, 16, 10),
                confidence=5,
                visibility="private",
                words=f"SECRET sentence by {user}",
            )
        rows.reflect(
            "UA", WEEK_C, utc(2026, 11, 17, 10), kind="debrief", peer="UB", words="SECRET too"
        )
        rows.item("UA", utc(2026, 11, 16, 10), date(2026, 11, 17))

    m = measure(db, circle_id, MONDAY_AFTER, WEEK_C)

    assert m.participation == Figure(1.0, 3)
    assert (m.checkin_reflections, m.debrief_reflections, m.private_reflections) == (3, 1, 3)
    assert m.peer_sessions == 1 and m.action_items.overdue == 1
    assert m.confidence == not_enough(0)  # private answers are not averaged
    found = set(strings_in(m))
    assert not any("SECRET" in s or "feedback" in s for s in found)
    # Only the ids the pooled figures are keyed by, the zone, and why figures are missing.
    assert found <= {"UA", "UB", "UC", "Europe/Berlin", *Missing}
    assert "SECRET" not in repr(m)


def test_someone_who_left_slack_drops_out_of_the_rates(db: Database) -> None:
    circle_id = new_circle(db)
    with history(db, circle_id) as rows:
        for user in ("UA", "UB", "UC", "UGONE"):
            rows.participant(user)
        rows.left_slack("UGONE")
        for user, score in (("UA", 2), ("UB", 2), ("UGONE", 5)):
            rows.reflect(user, WEEK_C, utc(2026, 11, 16, 10), confidence=score)
            rows.checkin(user, utc(2026, 11, 16, 8), answered_at=utc(2026, 11, 16, 9))
        rows.checkin("UC", utc(2026, 11, 16, 8))

    m = measure(db, circle_id, MONDAY_AFTER, WEEK_C)

    assert (m.active_participants, m.participants_reflected) == (3, 2)
    assert m.participation == about(2 / 3, 3)
    assert m.checkins.response_rate == about(2 / 3, 3)
    assert m.confidence == not_enough(2)  # UA and UB; UGONE's 5 is not there
    assert m.checkin_reflections == 2


# --- late answers ------------------------------------------------------------------------------


def test_a_late_answer_counts_for_its_own_week_and_is_listed_where_it_arrived(db: Database) -> None:
    circle_id = new_circle(db)
    with history(db, circle_id) as rows:
        for user in ("UA", "UB", "UC"):
            rows.participant(user)
            rows.reflect(user, WEEK_C, utc(2026, 11, 16, 10))
        rows.reflect("UA", WEEK_B, utc(2026, 11, 10, 10))
        rows.reflect("UB", WEEK_B, utc(2026, 11, 18, 10))  # for B, written in C
        rows.reflect("UC", WEEK_A, utc(2026, 11, 20, 10))  # for A, written in C
        rows.reflect("UC", WEEK_B, utc(2026, 11, 24, 10))  # written after week C

    before_it_came = measure(db, circle_id, utc(2026, 11, 16, 8), WEEK_B)
    assert before_it_came.participation == about(1 / 3, 3)
    assert before_it_came.late_answers == ()

    c = measure(db, circle_id, MONDAY_AFTER, WEEK_C)
    assert c.late_answers == (LateAnswers(WEEK_A, 1), LateAnswers(WEEK_B, 1))
    assert c.participation_trend.values[-3:] == [pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0]
    assert c.checkin_reflections == 3  # the late ones are not counted in week C

    b_now = measure(db, circle_id, MONDAY_AFTER, WEEK_B)
    assert b_now.participation == about(2 / 3, 3)
    assert b_now.late_answers == ()


# --- nothing to measure --------------------------------------------------------------------------


def test_a_circle_with_no_participants_gives_markers(db: Database) -> None:
    circle_id = new_circle(db)
    m = measure(db, circle_id, MONDAY_AFTER, WEEK_C)
    assert m.participation == Figure(None, 0, Missing.NO_PARTICIPANTS)
    assert m.participation_trend.values == [None] * 8
    assert sparkline(m.participation_trend.values) == " " * 8
    assert m.confidence == not_enough(0) and m.confidence_change == not_enough(0)
    assert m.checkins.response_rate == not_enough(0)
    assert m.action_items.completion_rate == not_enough(0)
    assert (m.checkins.sent, m.action_items.overdue, m.peer_sessions) == (0, 0, 0)
    assert m.demo_days.next_demo_day_id is None and m.late_answers == ()


def test_participants_with_no_answers_give_zero_participation_and_markers(db: Database) -> None:
    circle_id = new_circle(db)
    with history(db, circle_id) as rows:
        for user in ("UA", "UB", "UC"):
            rows.participant(user)
            rows.checkin(user, utc(2026, 11, 16, 8))
    m = measure(db, circle_id, MONDAY_AFTER, WEEK_C)
    assert m.participation == Figure(0.0, 3)
    assert m.checkins.response_rate == Figure(0.0, 3)
    assert m.checkins.median_time_to_respond == not_enough(0)
    assert m.confidence == not_enough(0)


def test_a_paused_week_gives_the_paused_marker(db: Database) -> None:
    # Paused since Wednesday of week B with no end: weeks C (all of it) is paused, B is not.
    circle_id = new_circle(db, paused_at=utc(2026, 11, 11, 12))
    with history(db, circle_id) as rows:
        for user in ("UA", "UB", "UC"):
            rows.participant(user)
            rows.reflect(user, WEEK_B, utc(2026, 11, 10, 10))
    m = measure(db, circle_id, MONDAY_AFTER, WEEK_C)
    assert m.paused
    assert m.participation == Figure(None, 3, Missing.PAUSED)
    assert m.participation_trend.values[-2:] == [1.0, None]
    assert m.confidence == not_enough(0)

    with history(db, circle_id) as rows:
        circle = rows.s.get(Circle, circle_id)
        assert circle is not None
        circle.paused_until = date(2026, 11, 21)  # back on Sunday: week C was not all paused
        rows.s.add(circle)
    m = measure(db, circle_id, MONDAY_AFTER, WEEK_C)
    assert not m.paused and m.participation == Figure(0.0, 3)


# --- several circles ---------------------------------------------------------------------------


def test_totals_pool_circles_and_apply_the_threshold_to_the_pool(sqlite_db: Database) -> None:
    db = sqlite_db
    first, second, paused = new_circle(db, "C1"), new_circle(db, "C2"), new_circle(db, "C3")
    members: list[tuple[int, tuple[str, ...]]] = [
        (first, ("UA", "UB")),
        (second, ("UC", "UD")),
        (paused, ("UE",)),
    ]
    for circle_id, users in members:
        with history(db, circle_id) as rows:
            for user in users:
                rows.participant(user)
            rows.reflect(users[0], WEEK_C, utc(2026, 11, 16, 10), confidence=4)
            if circle_id == second:
                rows.reflect(users[1], WEEK_C, utc(2026, 11, 16, 10), confidence=1)
    with history(db, paused) as rows:
        circle = rows.s.get(Circle, paused)
        assert circle is not None
        circle.paused_at = LONG_AGO
        rows.s.add(circle)
    with db.read_session() as s:
        each = metrics_for_circles(s, [first, second, paused, 999], now=MONDAY_AFTER, week=WEEK_C)
    assert sorted(each) == [first, second, paused]
    assert each[first].participation == not_enough(2)

    totals = combine([each[first], each[second], each[paused]])
    assert totals.circle_ids == (first, second, paused)
    assert totals.participation == about(3 / 4, 4)  # the paused circle is out
    assert totals.confidence == about((4 + 4 + 1 + 4) / 4, 4)
    assert (totals.checkin_reflections, totals.active_participants) == (4, 4)
    assert totals.participation_trend.values[-1] == pytest.approx(3 / 4)
    assert totals.time_zone == "Europe/Berlin" and totals.late_answers == ()
    assert combine([each[paused]]).participation.missing is Missing.PAUSED

    with pytest.raises(ValueError, match="different weeks"):
        with db.read_session() as s:
            other = metrics_for_circle(s, first, now=MONDAY_AFTER, week=WEEK_B)
        combine([each[first], other])


def test_the_current_week_is_each_circles_own(db: Database) -> None:
    berlin = new_circle(db, "C1")
    with db.session() as s:  # no zone of its own: its creator's, Europe/London
        london = make_circle(s, "C2").id
    assert london is not None
    sunday_night = utc(2026, 11, 22, 23, 30)  # Monday 00:30 in Berlin, Sunday in London
    with db.read_session() as s:
        both = metrics_for_circles(s, [berlin, london], now=sunday_night)
    assert (both[berlin].week_start, both[berlin].time_zone) == (
        date(2026, 11, 23),
        "Europe/Berlin",
    )
    assert (both[london].week_start, both[london].time_zone) == (WEEK_C, "Europe/London")
    assert both[london].as_of == sunday_night and not both[london].complete
    with pytest.raises(ValueError, match="different weeks"):
        combine([both[berlin], both[london]])


def test_bad_weeks_are_refused(sqlite_db: Database) -> None:
    circle_id = new_circle(sqlite_db)
    with sqlite_db.read_session() as s:
        with pytest.raises(ValueError, match="not a Monday"):
            metrics_for_circle(s, circle_id, now=MONDAY_AFTER, week=date(2026, 11, 17))
        with pytest.raises(ValueError, match="has not started"):
            metrics_for_circle(s, circle_id, now=MONDAY_AFTER, week=date(2026, 11, 30))
        with pytest.raises(LookupError):
            metrics_for_circle(s, 999, now=MONDAY_AFTER)


def test_sparkline_maps_rates_to_eight_levels_and_gaps() -> None:
    assert sparkline([0.0, 1 / 7, 0.5, 1.0, None, 1.5, -1.0]) == "▁▂▅█ █▁"
    assert sparkline([1.0, 3.0, 5.0], low=1.0, high=5.0) == "▁▅█"
    with pytest.raises(ValueError):
        sparkline([0.5], low=1.0, high=1.0)


# --- cost ------------------------------------------------------------------------------------


def test_every_query_reads_only_the_measured_weeks_through_an_index(sqlite_db: Database) -> None:
    """SQLite's plan for each metrics query: the tables that grow with history are searched
    by circle AND a time range, never scanned or searched by circle alone."""
    circle_id = new_circle(sqlite_db)
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(sqlite_db.engine, "before_cursor_execute", record)
    try:
        measure(sqlite_db, circle_id, MONDAY_AFTER, WEEK_C)
    finally:
        event.remove(sqlite_db.engine, "before_cursor_execute", record)
    assert len(statements) == 6
    growing = ("reflection ", "delivery ", "action_item ", "demo_day ")
    with sqlite_db.engine.connect() as connection:
        for statement, parameters in statements:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            for detail in (row[3] for row in plan):
                if detail.startswith("SCAN") and not detail.startswith("SCAN anon_"):
                    assert "USING" in detail, detail  # a table read whole
                if detail.startswith("SEARCH") and detail.split()[1] + " " in growing:
                    # From a moment on (`>`), or `status=?`: the open action items, however
                    # old. Only an upper bound (`created_at<?`) would read all history.
                    constraint = detail.split("(", 1)[1]
                    assert ">" in constraint or "status=?" in constraint, (statement, detail)
