"""Rows for tests that set the database up directly (no Slack round trip needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import Session

from storage.models import Circle, Membership, Person, Role, Schedule

T = "T1"
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def make_circle(session: Session, channel_id: str = "C1", **fields: object) -> Circle:
    circle = Circle(
        team_id=T,
        channel_id=channel_id,
        name="Leads",
        created_by="UFAC",
        created_at=LONG_AGO,
        **fields,  # type: ignore[arg-type]
    )
    session.add(circle)
    session.flush()
    session.merge(Person(team_id=T, user_id="UFAC", tz="Europe/London", refreshed_at=LONG_AGO))
    session.add(
        Membership(
            team_id=T,
            circle_id=circle.id,  # type: ignore[arg-type]
            user_id="UFAC",
            role=Role.FACILITATOR,
            added_by="UFAC",
            added_at=LONG_AGO,
        )
    )
    return circle


def add_participant(
    session: Session, circle: Circle, user_id: str, tz: str, **fields: object
) -> None:
    session.merge(Person(team_id=T, user_id=user_id, tz=tz, refreshed_at=LONG_AGO))
    session.add(
        Membership(
            team_id=T,
            circle_id=circle.id,  # type: ignore[arg-type]
            user_id=user_id,
            role=Role.PARTICIPANT,
            added_by="UFAC",
            added_at=fields.pop("added_at", LONG_AGO),  # type: ignore[arg-type]
            **fields,  # type: ignore[arg-type]
        )
    )


def weekly(
    session: Session, circle: Circle, kind: str, weekday: int, hhmm: str, **fields: object
) -> Schedule:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    schedule = Schedule(
        team_id=T,
        circle_id=circle.id,  # type: ignore[arg-type]
        kind=kind,
        weekday=weekday,
        at_minute=hours * 60 + minutes,
        interval_weeks=fields.pop("interval_weeks", 1),  # type: ignore[arg-type]
        anchor=fields.pop("anchor", date(2026, 1, 5)),  # type: ignore[arg-type]
        created_by="UFAC",
        created_at=fields.pop("created_at", LONG_AGO),  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )
    session.add(schedule)
    session.flush()
    return schedule
