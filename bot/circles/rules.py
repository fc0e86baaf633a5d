"""Rules for circles and their members: plain functions over a database session.

Nothing here talks to Slack. Refusals are `Refusal` exceptions whose message is shown to the
person as is (already mrkdwn-safe).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.calendar.recurrence import local_date_of
from bot.calendar.zones import circle_zone
from bot.slack import mrkdwn
from bot.slash.base import Invocation
from storage.models import Circle, CircleStatus, Membership, Person, Role, Schedule, ScheduleKind


class Refusal(Exception):
    """A rule said no; the message says why and what to do instead."""


ROLE_ORDER = (Role.FACILITATOR, Role.LEADER, Role.PARTICIPANT)

# Every new circle starts with the leaders' digest on Mondays at 08:00, each leader's own zone.
DEFAULT_DIGEST_WEEKDAY = 0
DEFAULT_DIGEST_AT_MINUTE = 8 * 60


def live_circle_in_channel(session: Session, team_id: str, channel_id: str) -> Circle | None:
    return session.exec(
        select(Circle).where(
            Circle.team_id == team_id,
            Circle.channel_id == channel_id,
            col(Circle.archived_at).is_(None),
        )
    ).first()


def last_archived_circle_in_channel(
    session: Session, team_id: str, channel_id: str
) -> Circle | None:
    return session.exec(
        select(Circle)
        .where(
            Circle.team_id == team_id,
            Circle.channel_id == channel_id,
            col(Circle.archived_at).is_not(None),
        )
        .order_by(col(Circle.archived_at).desc())
    ).first()


def circles_of(session: Session, team_id: str, user_id: str) -> list[tuple[Circle, Membership]]:
    """The live circles a person belongs to, with their membership."""
    rows = session.exec(
        select(Circle, Membership)
        .join(Membership, col(Membership.circle_id) == col(Circle.id))
        .where(
            Membership.team_id == team_id,
            Membership.user_id == user_id,
            col(Membership.removed_at).is_(None),
            col(Circle.archived_at).is_(None),
        )
        .order_by(Circle.name)
    ).all()
    return [(circle, membership) for circle, membership in rows]


def active_memberships(session: Session, circle: Circle) -> list[Membership]:
    return list(
        session.exec(
            select(Membership)
            .where(Membership.circle_id == circle.id, col(Membership.removed_at).is_(None))
            .order_by(col(Membership.added_at), col(Membership.user_id))
        ).all()
    )


def membership_of(session: Session, circle: Circle, user_id: str) -> Membership | None:
    """The person's membership row (active or removed), if any."""
    return session.exec(
        select(Membership).where(Membership.circle_id == circle.id, Membership.user_id == user_id)
    ).first()


def facilitator_ids(session: Session, circle: Circle) -> list[str]:
    return [m.user_id for m in active_memberships(session, circle) if m.role == Role.FACILITATOR]


def _who_can(session: Session, circle: Circle) -> str:
    ids = facilitator_ids(session, circle)
    if not ids:
        return "a facilitator of this circle"
    return ", ".join(mrkdwn.user(uid) for uid in ids)


def require_facilitator(session: Session, circle: Circle, user_id: str, action: str) -> None:
    membership = membership_of(session, circle, user_id)
    if membership and membership.is_active and membership.role == Role.FACILITATOR:
        return
    raise Refusal(
        f"Only a facilitator of *{mrkdwn.escape(circle.name)}* can {action}. "
        f"Ask {_who_can(session, circle)}."
    )


def require_member(session: Session, circle: Circle, user_id: str, action: str) -> Membership:
    membership = membership_of(session, circle, user_id)
    if membership and membership.is_active:
        return membership
    raise Refusal(
        f"Only members of *{mrkdwn.escape(circle.name)}* can {action}. "
        f"Ask {_who_can(session, circle)} to add you."
    )


def create_circle(
    session: Session, *, team_id: str, channel_id: str, name: str, creator_id: str, now: datetime
) -> Circle:
    existing = live_circle_in_channel(session, team_id, channel_id)
    if existing is not None:
        raise Refusal(
            f"This channel already has a circle: *{mrkdwn.escape(existing.name)}*. "
            "A channel holds one circle; create the new one in another channel."
        )
    circle = Circle(
        team_id=team_id,
        channel_id=channel_id,
        name=name,
        created_by=creator_id,
        created_at=now,
        status=CircleStatus.ACTIVE,
    )
    session.add(circle)
    try:
        session.flush()  # the partial unique index settles a race between two creators
    except IntegrityError:
        session.rollback()
        raise Refusal("This channel already has a circle (someone just created one).") from None
    session.add(
        Membership(
            team_id=team_id,
            circle_id=circle.id,  # type: ignore[arg-type]
            user_id=creator_id,
            role=Role.FACILITATOR,
            added_by=creator_id,
            added_at=now,
        )
    )
    session.add(
        Schedule(
            team_id=team_id,
            circle_id=circle.id,  # type: ignore[arg-type]
            kind=ScheduleKind.DIGEST,
            weekday=DEFAULT_DIGEST_WEEKDAY,
            at_minute=DEFAULT_DIGEST_AT_MINUTE,
            interval_weeks=1,
            anchor=now.astimezone(UTC).date(),
            pinned_tz=None,
            created_by=creator_id,
            created_at=now,
        )
    )
    return circle


@dataclass
class AddOutcome:
    added: list[str] = field(default_factory=list)
    already: list[tuple[str, Role]] = field(default_factory=list)
    role_changed: list[tuple[str, Role, Role]] = field(default_factory=list)  # (who, old, new)


def add_people(
    session: Session,
    circle: Circle,
    people: list[Person],
    role: Role,
    *,
    added_by: str,
    now: datetime,
) -> AddOutcome:
    """Add or re-activate memberships, or change the role of people already there."""
    outcome = AddOutcome()
    for person in people:
        membership = membership_of(session, circle, person.user_id)
        if membership is None:
            session.add(
                Membership(
                    team_id=circle.team_id,
                    circle_id=circle.id,  # type: ignore[arg-type]
                    user_id=person.user_id,
                    role=role,
                    added_by=added_by,
                    added_at=now,
                )
            )
            outcome.added.append(person.user_id)
        elif not membership.is_active:
            membership.removed_at = None
            membership.role = role
            membership.added_by, membership.added_at = added_by, now
            outcome.added.append(person.user_id)
        elif membership.role == role:
            outcome.already.append((person.user_id, Role(membership.role)))
        else:
            old = Role(membership.role)
            if old == Role.FACILITATOR:
                _keep_one_facilitator(session, circle, [person.user_id])
            membership.role = role
            outcome.role_changed.append((person.user_id, old, role))
    session.flush()
    return outcome


@dataclass
class RemoveOutcome:
    removed: list[str] = field(default_factory=list)
    not_members: list[str] = field(default_factory=list)


def remove_people(
    session: Session, circle: Circle, user_ids: tuple[str, ...], *, now: datetime
) -> RemoveOutcome:
    _keep_one_facilitator(session, circle, list(user_ids))
    outcome = RemoveOutcome()
    for user_id in user_ids:
        membership = membership_of(session, circle, user_id)
        if membership is None or not membership.is_active:
            outcome.not_members.append(user_id)
            continue
        membership.removed_at = now
        outcome.removed.append(user_id)
    return outcome


def _keep_one_facilitator(session: Session, circle: Circle, leaving: list[str]) -> None:
    remaining = [uid for uid in facilitator_ids(session, circle) if uid not in leaving]
    if not remaining:
        raise Refusal(
            "A circle needs at least one facilitator. Add another first, e.g. "
            "`/circle add @someone as facilitator`, then try again."
        )


def rename_circle(session: Session, circle: Circle, name: str) -> str:
    old = circle.name
    circle.name = name
    session.add(circle)
    return old


def archive_circle(session: Session, circle: Circle, *, now: datetime) -> None:
    circle.archived_at = now
    circle.status = CircleStatus.ARCHIVED
    session.add(circle)


def members_by_role(session: Session, circle: Circle) -> dict[Role, list[str]]:
    grouped: dict[Role, list[str]] = {role: [] for role in ROLE_ORDER}
    for membership in active_memberships(session, circle):
        grouped[Role(membership.role)].append(membership.user_id)
    return grouped


def circle_here(session: Session, inv: Invocation, *, subcommand: str) -> Circle:
    """The live circle of the channel the command was typed in, or a refusal saying where."""
    if not inv.in_direct_message:
        circle = live_circle_in_channel(session, inv.team_id, inv.channel_id)
        if circle is not None:
            return circle
    where = "in a direct message" if inv.in_direct_message else "in this channel"
    archived = (
        None
        if inv.in_direct_message
        else last_archived_circle_in_channel(session, inv.team_id, inv.channel_id)
    )
    if archived is not None and archived.archived_at is not None:
        lead = (
            f"This channel's circle *{mrkdwn.escape(archived.name)}* was archived on "
            f"{archived.archived_at:%Y-%m-%d}."
        )
    else:
        lead = f"There is no circle {where}."
    mine = circles_of(session, inv.team_id, inv.user_id)
    if mine:
        places = ", ".join(
            f"{mrkdwn.channel(c.channel_id)} (*{mrkdwn.escape(c.name)}*)" for c, _ in mine
        )
        return_hint = f" Run `/circle {subcommand}` in your circle's channel: {places}."
    else:
        return_hint = (
            " Run it in a circle's channel, or start one there with `/circle create &lt;name&gt;`."
        )
    raise Refusal(lead + return_hint)


def refuse_if_paused(session: Session, circle: Circle, now: datetime, consequence: str) -> None:
    """A facilitator's "do it now" on a paused circle: say so, and how to end the pause."""
    if is_paused_on(circle, now, local_date_of(now, circle_zone(session, circle))):
        until = f" until {circle.paused_until}" if circle.paused_until else ""
        raise Refusal(
            f"*{mrkdwn.escape(circle.name)}* is paused{until}, so {consequence}. "
            "Use `/circle resume` first."
        )


def is_paused_on(circle: Circle, moment: datetime, local_day: date) -> bool:
    if circle.paused_at is None or moment < circle.paused_at:
        return False
    return circle.paused_until is None or local_day <= circle.paused_until


def is_quiet_on(
    circle: Circle, moment: datetime, local_day: date, skipped: Container[date]
) -> bool:
    """Nothing of the circle goes out at `moment`: it is paused then, or `local_day` (the local
    date of `moment` in the zone it fires in) is one of its skipped dates."""
    return is_paused_on(circle, moment, local_day) or local_day in skipped
