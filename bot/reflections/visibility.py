"""Who may read a reflection: the one place every reader goes through.

A reflection's author chose its visibility:

| visibility | author | participant, facilitator | leader | anyone else |
| ---------- | ------ | ------------------------ | ------ | ----------- |
| private    | yes    | no                       | no     | no          |
| circle     | yes    | yes                      | no     | no          |
| leaders    | yes    | yes                      | yes    | no          |

(roles are active memberships of the reflection's circle)

Leaders see aggregates and only what was shared with them; a `private` reflection contributes
to counts and nothing else. Digests are audiences rather than people: the circle's channel
post reads like a participant, the leaders' digest like a leader.

Every reader (App Home, digests, exports, search) asks here: either `may_read` for one
reflection, or `readable_by` / `visible_to_audience` as a WHERE clause for a query, so the
rule is written once.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, false, or_
from sqlmodel import Session, col, select

from storage.models import Membership, Reflection, Role, Visibility


class Audience(StrEnum):
    """The readers of a digest or of a shared list, as opposed to one person."""

    CIRCLE = "circle"  # the circle's channel: participants and facilitators
    LEADERS = "leaders"  # the leaders' digest
    FACILITATORS = "facilitators"  # the facilitators' digest: counts and names, no text


# What each role in a circle may read of other people's reflections in that circle.
_READABLE_BY_ROLE: dict[str, frozenset[Visibility]] = {
    Role.PARTICIPANT: frozenset({Visibility.CIRCLE, Visibility.LEADERS}),
    Role.FACILITATOR: frozenset({Visibility.CIRCLE, Visibility.LEADERS}),
    Role.LEADER: frozenset({Visibility.LEADERS}),
}

_READABLE_BY_AUDIENCE: dict[Audience, frozenset[Visibility]] = {
    Audience.CIRCLE: _READABLE_BY_ROLE[Role.PARTICIPANT],
    Audience.LEADERS: _READABLE_BY_ROLE[Role.LEADER],
    Audience.FACILITATORS: frozenset(),
}


def readable_for_role(role: str | None) -> frozenset[Visibility]:
    """Visibilities of *other people's* reflections a member with `role` may read."""
    if role is None:
        return frozenset()
    return _READABLE_BY_ROLE.get(role, frozenset())


def readable_for_audience(audience: Audience) -> frozenset[Visibility]:
    return _READABLE_BY_AUDIENCE[audience]


def readable_by_everyone(roles: Iterable[str | None]) -> frozenset[Visibility]:
    """What every one of several readers may read of other people's reflections: the
    readers of a channel post (bot/reflections/channel_readers.py). `None` is someone with no
    active role in the circle, who may read nothing; no readers at all may read what the circle
    may."""
    found = readable_for_audience(Audience.CIRCLE)
    for role in roles:
        found &= readable_for_role(role)
    return found


def may_read(reflection: Reflection, *, reader_id: str, role: str | None) -> bool:
    """Whether `reader_id`, whose active role in the reflection's circle is `role`, may read it.

    `role` is None for someone who is not (or no longer) an active member of that circle.
    """
    if reflection.user_id == reader_id:
        return True
    return reflection.visibility in readable_for_role(role)


def role_in_circle(session: Session, *, team_id: str, circle_id: int, user_id: str) -> str | None:
    """The active role of a person in a circle, or None."""
    membership = session.exec(
        select(Membership).where(
            Membership.team_id == team_id,
            Membership.circle_id == circle_id,
            Membership.user_id == user_id,
            col(Membership.removed_at).is_(None),
        )
    ).first()
    return membership.role if membership is not None else None


def may_read_in_session(session: Session, reflection: Reflection, *, reader_id: str) -> bool:
    """`may_read`, looking the reader's role up."""
    if reflection.user_id == reader_id:
        return True
    role = role_in_circle(
        session,
        team_id=reflection.team_id,
        circle_id=reflection.circle_id,
        user_id=reader_id,
    )
    return may_read(reflection, reader_id=reader_id, role=role)


def readable_by(team_id: str, reader_id: str) -> ColumnElement[bool]:
    """A WHERE clause on `reflection`: the reflections `reader_id` may read, in all circles.

    Use it in any query selecting from Reflection (no join needed: the reader's memberships
    are looked up in a subquery).
    """
    memberships = select(col(Membership.circle_id)).where(
        Membership.team_id == team_id,
        Membership.user_id == reader_id,
        col(Membership.removed_at).is_(None),
    )
    by_role = [
        and_(
            col(Reflection.circle_id).in_(memberships.where(Membership.role == role)),
            col(Reflection.visibility).in_(sorted(visibilities)),
        )
        for role, visibilities in _READABLE_BY_ROLE.items()
    ]
    return and_(
        col(Reflection.team_id) == team_id,
        or_(col(Reflection.user_id) == reader_id, *by_role),
    )


def visibility_in(visibilities: frozenset[Visibility]) -> ColumnElement[bool]:
    """A WHERE clause on `reflection`: one of these visibilities (none: nothing)."""
    if not visibilities:
        return false()
    return col(Reflection.visibility).in_(sorted(visibilities))


def visible_to_audience(audience: Audience) -> ColumnElement[bool]:
    """A WHERE clause on `reflection`: what a digest for `audience` may quote."""
    return visibility_in(readable_for_audience(audience))
