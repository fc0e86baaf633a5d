"""Who can read a circle's channel: the channel is not the circle.

A circle's Slack channel can hold leaders, people removed from the circle and people who were
never in it. So before a channel post quotes anything a person wrote (reflections, action
items, demo-day sign-up topics), the channel's members are read (`conversations.members`,
every page) and each one is placed under the one visibility rule (bot/reflections/visibility.py):
the post quotes only what *every* member may read. Bots, the app itself and deactivated accounts
read nothing of ours and are left out; anyone Slack cannot tell us about counts as an outsider.

Fail closed: when the members cannot be read (a missing scope, `channel_not_found`, a 5xx, a
time-out, too many members to check), `problem` says why and nothing a person wrote is quoted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlmodel import Session, col, select

from bot.delivery.kinds import EngineParts
from bot.reflections.visibility import readable_by_everyone
from bot.slack import people
from storage.db import Database
from storage.models import Circle, Membership, Person, Role, Visibility

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
MAX_PAGES = 50  # 5,000 members: a channel that big is not a circle's; quote nothing
MAX_LOOKUPS = 200  # people outside the circle looked up to tell bots from people

# Why a member may not read what was shared with the circle (shown to facilitators only).
LEADER = "leader"
REMOVED = "removed from the circle"
OUTSIDER = "not in the circle"


@dataclass(frozen=True)
class ChannelReaders:
    """The people who can read a channel, as the visibility rule sees them."""

    channel_id: str
    quotable: frozenset[Visibility]  # what every reader may read
    outside: tuple[tuple[str, str], ...] = ()  # (user id, why) readers outside the circle
    unchecked: int = 0  # readers not looked up (too many): counted as outsiders
    problem: str | None = None  # the members could not be read: nothing is quoted

    @property
    def everyone_in_circle(self) -> bool:
        """Only the circle's participants and facilitators read the channel."""
        return self.problem is None and not self.outside and not self.unchecked

    def may_quote(self, visibility: str) -> bool:
        return visibility in self.quotable


def unreadable(channel_id: str, problem: str) -> ChannelReaders:
    """Fail closed: nobody's text may be quoted."""
    return ChannelReaders(channel_id, frozenset(), problem=problem)


def channel_member_ids(client: WebClient, channel_id: str) -> list[str]:
    """Every member id of a channel, following `next_cursor`. Raises ChannelUnreadable."""
    members: list[str] = []
    cursor: str | None = None
    for _page in range(MAX_PAGES):
        try:
            response = client.conversations_members(
                channel=channel_id, limit=PAGE_SIZE, **({"cursor": cursor} if cursor else {})
            )
        except SlackApiError as exc:
            raise ChannelUnreadable(str(exc.response.get("error") or "slack_error")) from None
        except (SlackClientError, OSError):
            raise ChannelUnreadable("connection_error") from None
        members += [m for m in response.get("members") or [] if isinstance(m, str)]
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return members
    raise ChannelUnreadable("too_many_members")


class ChannelUnreadable(Exception):
    """The channel's members could not be read; the message is Slack's error code."""


def read_channel_readers(
    db: Database, client: WebClient, circle: Circle, *, now: datetime
) -> ChannelReaders:
    """Read the circle channel's members from Slack and place each under the rule."""
    try:
        member_ids = channel_member_ids(client, circle.channel_id)
    except ChannelUnreadable as exc:
        logger.warning("circle %s: could not read its channel's members: %s", circle.id, exc)
        return unreadable(circle.channel_id, str(exc))
    with db.read_session() as session:
        roles, removed = _roles(session, circle, member_ids)
        members = people.known_people(session, circle.team_id, list(roles))
        absent = {uid for uid, person in members.items() if person.is_bot or person.deleted}
    others = [m for m in member_ids if m not in roles]
    checked, unchecked = others[:MAX_LOOKUPS], len(others[MAX_LOOKUPS:])
    try:
        found = people.look_up_people(db, client, circle.team_id, checked, now=now)
    except people.SlackUnavailable as exc:
        logger.warning("circle %s: could not look up its channel's members: %s", circle.id, exc)
        return unreadable(circle.channel_id, "connection_error")
    absent |= {uid for uid, p in found.items() if isinstance(p, Person) and (p.is_bot or p.deleted)}
    return place_readers(
        circle.channel_id,
        [*roles, *checked],  # the unchecked rest are counted as outsiders
        roles=roles,
        removed=removed,
        absent=absent,
        unchecked=unchecked,
    )


def place_readers(
    channel_id: str,
    member_ids: list[str],
    *,
    roles: dict[str, str],
    removed: set[str],
    absent: set[str],
    unchecked: int = 0,
) -> ChannelReaders:
    """Each member under the rule (pure): `roles` are active roles in the circle, `removed`
    people who were members once, `absent` bots (the app too) and deactivated accounts, who
    read nothing; anyone else is an outsider."""
    reader_roles: list[str | None] = []
    outside: list[tuple[str, str]] = []
    for user_id in dict.fromkeys(member_ids):
        if user_id in absent:
            continue
        role = roles.get(user_id)
        reader_roles.append(role)
        if role == Role.LEADER:
            outside.append((user_id, LEADER))
        elif role is None:
            outside.append((user_id, REMOVED if user_id in removed else OUTSIDER))
    reader_roles += [None] * unchecked
    return ChannelReaders(
        channel_id,
        readable_by_everyone(reader_roles),
        outside=tuple(outside),
        unchecked=unchecked,
    )


def _roles(
    session: Session, circle: Circle, member_ids: list[str]
) -> tuple[dict[str, str], set[str]]:
    """Active roles in the circle of these people, and who of them was removed from it."""
    if not member_ids:
        return {}, set()
    rows = session.exec(
        select(Membership.user_id, Membership.role, Membership.removed_at).where(
            Membership.circle_id == circle.id, col(Membership.user_id).in_(member_ids)
        )
    ).all()
    roles = {user_id: role for user_id, role, removed_at in rows if removed_at is None}
    removed = {user_id for user_id, _role, removed_at in rows if removed_at is not None}
    return roles, removed - set(roles)


def cached_channel_readers(parts: EngineParts) -> Callable[[Circle], ChannelReaders]:
    """Reads who is in a circle's channel once per circle, for one send of the engine's
    (senders build in parallel: one read per channel is enough)."""
    read: dict[int | None, ChannelReaders] = {}
    lock = threading.Lock()

    def readers(circle: Circle) -> ChannelReaders:
        with lock:
            if circle.id not in read:
                read[circle.id] = read_channel_readers(
                    parts.db, parts.client, circle, now=parts.clock()
                )
            return read[circle.id]

    return readers
