"""Who is in circles, read for the features that send to them: active members with their
Slack profiles, and whether a profile says the person left Slack (or is a bot)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlmodel import Session, col, select

from storage.models import Membership, Person, Role


def left_slack(person: Person | None) -> bool:
    """Whether a member's profile says they left Slack (or are a bot): they get nothing."""
    return person is not None and (person.deleted or person.is_bot)


def members_with_profiles(
    session: Session, circle_ids: Iterable[int | None], roles: Iterable[str]
) -> list[tuple[Membership, Person | None]]:
    """Active members with one of `roles` in these circles, with their Slack profile (if any),
    oldest membership first. Callers decide what to do with people who left Slack."""
    return list(
        session.exec(
            select(Membership, Person)
            .join(
                Person,
                (col(Person.team_id) == col(Membership.team_id))
                & (col(Person.user_id) == col(Membership.user_id)),
                isouter=True,
            )
            .where(
                col(Membership.circle_id).in_(list(circle_ids)),
                col(Membership.removed_at).is_(None),
                col(Membership.role).in_(list(roles)),
            )
            .order_by(col(Membership.added_at), col(Membership.user_id))
        ).all()
    )


def participants_of(
    session: Session, circle_ids: set[int]
) -> dict[int, list[tuple[Membership, Person | None]]]:
    """Active participants per circle with their Slack profile; people gone or bots left out."""
    found: dict[int, list[tuple[Membership, Person | None]]] = defaultdict(list)
    for member, profile in members_with_profiles(session, circle_ids, [Role.PARTICIPANT]):
        if left_slack(profile):
            continue  # people who left Slack get nothing
        found[member.circle_id].append((member, profile))
    return found
