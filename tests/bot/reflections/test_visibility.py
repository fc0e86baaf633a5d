"""The one visibility rule (bot/reflections/visibility.py), role by role and visibility by
visibility.

Every role is checked against every visibility through both forms of the rule: `may_read` for
one reflection (with the reader's role looked up in the database) and `readable_by` as the
WHERE clause of a real query, on SQLite and PostgreSQL. The two must agree with each other and
with the table below, which is the product's promise:

| reader             | private | circle | leaders |
| ------------------ | ------- | ------ | ------- |
| author             | yes     | yes    | yes     |
| other participant  | no      | yes    | yes     |
| facilitator        | no      | yes    | yes     |
| leader             | no      | no     | yes     |
| outsider           | no      | no     | no      |
| removed member     | no      | no     | no      |
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, col, select

from bot.reflections.visibility import (
    Audience,
    may_read,
    may_read_in_session,
    readable_by,
    role_in_circle,
    visible_to_audience,
)
from storage.db import Database
from storage.models import Circle, Membership, Reflection, Role, Visibility

TEAM, OTHER_TEAM = "T1", "T2"
AUTHOR, PARTICIPANT, FACILITATOR, LEADER = "UAUTHOR", "UPART", "UFAC", "ULEAD"
OUTSIDER, REMOVED, BOTH = "UOUT", "UGONE", "UBOTH"
B_AUTHOR, B_FACILITATOR = "UBAUTHOR", "UBFAC"
WHEN = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
WEEK = date(2026, 11, 16)
ALL = frozenset(Visibility)

READERS = {
    "author": AUTHOR,
    "other participant": PARTICIPANT,
    "facilitator": FACILITATOR,
    "leader": LEADER,
    "outsider": OUTSIDER,
    "removed member": REMOVED,
}
MAY_READ = {
    "author": ALL,
    "other participant": frozenset({Visibility.CIRCLE, Visibility.LEADERS}),
    "facilitator": frozenset({Visibility.CIRCLE, Visibility.LEADERS}),
    "leader": frozenset({Visibility.LEADERS}),
    "outsider": frozenset(),
    "removed member": frozenset(),
}

# What `role_in_circle` finds for each reader in circle A: removal ends every right to read.
ROLES = {
    "author": Role.PARTICIPANT,
    "other participant": Role.PARTICIPANT,
    "facilitator": Role.FACILITATOR,
    "leader": Role.LEADER,
    "outsider": None,
    "removed member": None,
}


@dataclass
class World:
    db: Database
    circle_a: int  # AUTHOR writes here; BOTH is a participant
    circle_b: int  # B_AUTHOR writes here; BOTH is a leader
    other_team_circle: int  # another workspace, where PARTICIPANT's user id also appears

    def reflections(self, circle_id: int) -> dict[Visibility, Reflection]:
        with self.db.read_session() as session:
            rows = session.exec(select(Reflection).where(Reflection.circle_id == circle_id)).all()
            session.expunge_all()  # keep them loaded: read_session rolls back, which expires
            return {Visibility(r.visibility): r for r in rows}

    def readable(self, team_id: str, reader: str, circle_id: int) -> set[Visibility]:
        """What a query through `readable_by` returns, as the visibilities of the rows found."""
        with self.db.read_session() as session:
            rows = session.exec(
                select(Reflection)
                .where(readable_by(team_id, reader))
                .where(Reflection.circle_id == circle_id)
            ).all()
            return {Visibility(r.visibility) for r in rows}


def _circle(session: Session, team_id: str, channel_id: str, name: str) -> int:
    circle = Circle(
        team_id=team_id, channel_id=channel_id, name=name, created_by="UX", created_at=WHEN
    )
    session.add(circle)
    session.flush()
    assert circle.id is not None
    return circle.id


def _member(
    session: Session,
    circle_id: int,
    user_id: str,
    role: Role,
    *,
    team_id: str = TEAM,
    removed: bool = False,
) -> None:
    session.add(
        Membership(
            team_id=team_id,
            circle_id=circle_id,
            user_id=user_id,
            role=role,
            added_by="UX",
            added_at=WHEN,
            removed_at=WHEN if removed else None,
        )
    )


def _reflections(session: Session, circle_id: int, author: str, *, team_id: str = TEAM) -> None:
    for visibility in Visibility:
        session.add(
            Reflection(
                team_id=team_id,
                circle_id=circle_id,
                user_id=author,
                kind="checkin",
                prompt_set="default",
                week_start=WEEK,
                visibility=visibility,
                submitted_at=WHEN,
            )
        )


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    db = Database(db_url)
    with db.session() as session:
        a = _circle(session, TEAM, "CA", "Product Leads")
        _member(session, a, AUTHOR, Role.PARTICIPANT)
        _member(session, a, PARTICIPANT, Role.PARTICIPANT)
        _member(session, a, FACILITATOR, Role.FACILITATOR)
        _member(session, a, LEADER, Role.LEADER)
        _member(session, a, REMOVED, Role.PARTICIPANT, removed=True)
        _member(session, a, BOTH, Role.PARTICIPANT)
        _reflections(session, a, AUTHOR)
        b = _circle(session, TEAM, "CB", "Eng Managers")
        _member(session, b, B_AUTHOR, Role.PARTICIPANT)
        _member(session, b, B_FACILITATOR, Role.FACILITATOR)
        _member(session, b, BOTH, Role.LEADER)
        _reflections(session, b, B_AUTHOR)
        # Another workspace: the same user ids (Enterprise Grid ids are global) and members.
        other = _circle(session, OTHER_TEAM, "CA", "Product Leads")
        _member(session, other, AUTHOR, Role.PARTICIPANT, team_id=OTHER_TEAM)
        _member(session, other, PARTICIPANT, Role.FACILITATOR, team_id=OTHER_TEAM)
        _reflections(session, other, AUTHOR, team_id=OTHER_TEAM)
    try:
        yield World(db, a, b, other)
    finally:
        db.dispose()


# --- the matrix ----------------------------------------------------------------------------------


def test_each_role_reads_exactly_what_each_visibility_allows(world: World) -> None:
    # One database for the whole matrix: cloning a PostgreSQL database per role is slow.
    reflections = world.reflections(world.circle_a)
    assert set(reflections) == set(ALL)
    for role, reader in READERS.items():
        expected = MAY_READ[role]
        with world.db.read_session() as session:
            looked_up = role_in_circle(
                session, team_id=TEAM, circle_id=world.circle_a, user_id=reader
            )
            assert looked_up == ROLES[role], f"role of the {role}"
            by_may_read = {
                v for v, r in reflections.items() if may_read(r, reader_id=reader, role=looked_up)
            }
            in_session = {
                v
                for v, r in reflections.items()
                if may_read_in_session(session, r, reader_id=reader)
            }
        assert by_may_read == expected, f"may_read for the {role}"
        assert in_session == expected, f"may_read_in_session for the {role}"
        assert world.readable(TEAM, reader, world.circle_a) == expected, f"readable_by, {role}"


def test_an_author_who_left_still_reads_their_own_reflections(world: World) -> None:
    with world.db.session() as session:
        membership = session.exec(
            select(Membership).where(
                Membership.circle_id == world.circle_a, Membership.user_id == AUTHOR
            )
        ).one()
        membership.removed_at = WHEN
        session.add(membership)
    assert world.readable(TEAM, AUTHOR, world.circle_a) == set(ALL)
    # ... and the circle keeps what they shared with it.
    assert world.readable(TEAM, PARTICIPANT, world.circle_a) == {
        Visibility.CIRCLE,
        Visibility.LEADERS,
    }


# --- one person, two circles, two roles ----------------------------------------------------------


def test_each_circle_is_read_by_the_readers_role_in_that_circle(world: World) -> None:
    # A participant in circle A: its circle-visibility text. A leader in circle B: only what
    # B's authors shared with leaders.
    assert world.readable(TEAM, BOTH, world.circle_a) == {Visibility.CIRCLE, Visibility.LEADERS}
    assert world.readable(TEAM, BOTH, world.circle_b) == {Visibility.LEADERS}
    with world.db.read_session() as session:
        for circle_id, expected in (
            (world.circle_a, {Visibility.CIRCLE, Visibility.LEADERS}),
            (world.circle_b, {Visibility.LEADERS}),
        ):
            rows = session.exec(select(Reflection).where(Reflection.circle_id == circle_id)).all()
            assert {
                Visibility(r.visibility)
                for r in rows
                if may_read_in_session(session, r, reader_id=BOTH)
            } == expected
        # One query over every circle (the App Home's "what can I read") gives the same.
        everywhere = [
            (r.circle_id, r.visibility)
            for r in session.exec(
                select(Reflection).where(readable_by(TEAM, BOTH)).order_by(col(Reflection.id))
            ).all()
        ]
    assert sorted(everywhere) == sorted(
        [
            (world.circle_a, Visibility.CIRCLE),
            (world.circle_a, Visibility.LEADERS),
            (world.circle_b, Visibility.LEADERS),
        ]
    )

    # Membership elsewhere gives no rights here: B's facilitator reads B, nothing of A.
    assert world.readable(TEAM, B_FACILITATOR, world.circle_b) == {
        Visibility.CIRCLE,
        Visibility.LEADERS,
    }
    assert world.readable(TEAM, B_FACILITATOR, world.circle_a) == set()
    # A workspace never reads another: PARTICIPANT facilitates the other workspace's circle,
    # yet reading as workspace T1 shows none of it, and T2's rows never join T1's queries.
    assert world.readable(TEAM, PARTICIPANT, world.other_team_circle) == set()
    assert world.readable(TEAM, AUTHOR, world.other_team_circle) == set()
    assert world.readable(OTHER_TEAM, PARTICIPANT, world.other_team_circle) == {
        Visibility.CIRCLE,
        Visibility.LEADERS,
    }
    assert world.readable(OTHER_TEAM, AUTHOR, world.circle_a) == set()


# --- digests: audiences, not people --------------------------------------------------------------


# The channel's digest reads like a participant, the leaders' digest like a leader, and the
# facilitators' digest quotes no text at all (counts and names only).
AUDIENCES = {
    Audience.CIRCLE: MAY_READ["other participant"],
    Audience.LEADERS: MAY_READ["leader"],
    Audience.FACILITATORS: frozenset(),
}


def test_a_digest_quotes_only_what_its_audience_may_read(world: World) -> None:
    assert set(AUDIENCES) == set(Audience)
    for audience, expected in AUDIENCES.items():
        with world.db.read_session() as session:
            quoted = {
                Visibility(r.visibility)
                for r in session.exec(
                    select(Reflection)
                    .where(visible_to_audience(audience))
                    .where(Reflection.circle_id == world.circle_a)
                ).all()
            }
        assert quoted == expected, audience


def test_an_unknown_visibility_is_read_by_its_author_only(world: World) -> None:
    # A value the rule doesn't know (a bad migration, a hand edit) must fail closed.
    with world.db.session() as session:
        session.add(
            Reflection(
                team_id=TEAM,
                circle_id=world.circle_a,
                user_id=AUTHOR,
                kind="checkin",
                prompt_set="default",
                week_start=WEEK,
                visibility="public",
                submitted_at=WHEN,
            )
        )
    with world.db.read_session() as session:
        [odd] = session.exec(select(Reflection).where(Reflection.visibility == "public")).all()
        assert may_read_in_session(session, odd, reader_id=AUTHOR)
        for reader in (PARTICIPANT, FACILITATOR, LEADER):
            assert not may_read_in_session(session, odd, reader_id=reader)
            ids = session.exec(select(Reflection.id).where(readable_by(TEAM, reader))).all()
            assert odd.id not in ids
        for audience in Audience:
            ids = session.exec(select(Reflection.id).where(visible_to_audience(audience))).all()
            assert odd.id not in ids
