"""Time zones: a person's or circle's zone by IANA name (unknown names mean UTC), and a
circle's zone (its own setting, else its creating facilitator's, else UTC)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, col, select

from storage.models import Circle, Person


def zone(name: str | None) -> ZoneInfo:
    """A person's or circle's zone; unknown or missing names fall back to UTC."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def circle_zone(session: Session, circle: Circle) -> ZoneInfo:
    """The circle's zone: its own setting, else its creator's, else UTC."""
    if circle.tz:
        return zone(circle.tz)
    creator = session.get(Person, (circle.team_id, circle.created_by))
    return zone(creator.tz if creator else None)


def circle_zones(session: Session, circles: list[Circle]) -> dict[int, ZoneInfo]:
    """`circle_zone` for many circles, reading their creators' profiles in one query."""
    creators = {c.created_by for c in circles if not c.tz}
    people = (
        {
            (p.team_id, p.user_id): p.tz
            for p in session.exec(select(Person).where(col(Person.user_id).in_(creators))).all()
        }
        if creators
        else {}
    )
    return {c.id or 0: zone(c.tz or people.get((c.team_id, c.created_by))) for c in circles}
