"""The circle's own subcommands: create, add, remove, members, rename, archive.

Each decides, within the 3-second ack budget, what to answer now. Work that has to call Slack
(looking people up, posting in the channel) is returned as the Outcome's `follow_up`; its
answer goes back through the command's response_url. bot/subcommands.py routes to them.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from bot.circles import rules as circles
from bot.circles.rules import Refusal, circle_here
from bot.slack import mrkdwn, people
from bot.slash.base import Deps, Invocation, Outcome
from bot.slash.parse import (
    Add,
    Archive,
    Create,
    Members,
    Remove,
    Rename,
)
from prompts import render
from storage.models import Circle, Person, Role

logger = logging.getLogger(__name__)


ROLE_TITLES = {
    Role.FACILITATOR: "Facilitators",
    Role.LEADER: "Leaders",
    Role.PARTICIPANT: "Participants",
}
ROLE_NAMES = {
    Role.FACILITATOR: "a facilitator",
    Role.LEADER: "a leader",
    Role.PARTICIPANT: "a participant",
}


def members(command: Members, inv: Invocation, deps: Deps) -> Outcome:
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand="members")
        circles.require_member(session, circle, inv.user_id, "see who is in it")
        return Outcome(_members_text(session, circle))


def remove(command: Remove, inv: Invocation, deps: Deps) -> Outcome:
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand="remove")
        circles.require_facilitator(session, circle, inv.user_id, "remove people")
        removed = circles.remove_people(session, circle, command.user_ids, now=deps.clock())
        return Outcome(_removed_text(circle, removed))


def rename(command: Rename, inv: Invocation, deps: Deps) -> Outcome:
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand="rename")
        circles.require_facilitator(session, circle, inv.user_id, "rename it")
        old = circles.rename_circle(session, circle, command.name)
        return Outcome(f"Renamed *{mrkdwn.escape(old)}* to *{mrkdwn.escape(command.name)}*.")


def archive(command: Archive, inv: Invocation, deps: Deps) -> Outcome:
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand="archive")
        circles.require_facilitator(session, circle, inv.user_id, "archive it")
        circles.archive_circle(session, circle, now=deps.clock())
        return Outcome(
            f"Archived *{mrkdwn.escape(circle.name)}*. Nothing more will be sent for it and "
            "its data is kept. A new circle can be created here with "
            "`/circle create &lt;name&gt;`."
        )


def create(command: Create, inv: Invocation, deps: Deps) -> Outcome:
    if inv.in_direct_message:
        raise Refusal(
            "Circles live in channels. Run `/circle create &lt;name&gt;` in the channel your "
            "circle will use (a private channel works too)."
        )
    now = deps.clock()
    with deps.db.session() as session:
        circle = circles.create_circle(
            session,
            team_id=inv.team_id,
            channel_id=inv.channel_id,
            name=command.name,
            creator_id=inv.user_id,
            now=now,
        )
        name = circle.name

    def follow_up() -> str | None:
        try:
            people.look_up_people(deps.db, deps.client, inv.team_id, [inv.user_id], now=now)
        except people.SlackUnavailable:
            logger.warning("could not refresh the facilitator's profile", exc_info=True)
        return _announce(deps.client, inv, name)

    return Outcome(
        f"Created *{mrkdwn.escape(name)}* in this channel. You are its facilitator.\n"
        "Next: `/circle add @ana @ben` to add participants, "
        "`/circle add @dana as leader` to add a leader.\n"
        "Leaders get a digest every Monday at 08:00 in their own time zone; "
        "`/circle schedules` lists it, `/circle schedule checkin mon 09:00` adds check-ins.",
        follow_up,
    )


def _announce(client: WebClient, inv: Invocation, name: str) -> str | None:
    """Say hello in the circle's channel; tell the facilitator if the bot can't post there."""
    try:
        client.chat_postMessage(
            channel=inv.channel_id,
            text=(
                f"{mrkdwn.user(inv.user_id)} started the peer coaching circle "
                f"*{mrkdwn.escape(name)}* in this channel."
            ),
        )
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error in ("not_in_channel", "channel_not_found"):
            return (
                "I'm not in this channel yet, so I can't post reminders here. "
                "Invite me with `/invite @Circlebot`."
            )
        logger.warning("could not announce the circle: %s", error)
    return None


# --- add -------------------------------------------------------------------------------------


def add(command: Add, inv: Invocation, deps: Deps) -> Outcome:
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand="add")
        circles.require_facilitator(session, circle, inv.user_id, "add people")
        circle_id = circle.id

    def follow_up() -> str:
        now = deps.clock()
        try:
            found = people.look_up_people(
                deps.db, deps.client, inv.team_id, list(command.user_ids), now=now
            )
        except people.SlackUnavailable:
            logger.warning("users.info failed while adding people", exc_info=True)
            return (
                "I couldn't reach Slack to look those people up, so nobody was added. "
                "Please try again in a minute."
            )
        refused: list[str] = []
        addable: list[Person] = []
        for mention in command.people:
            answer = found[mention.user_id]
            if isinstance(answer, people.Unknown):
                refused.append(f"I can't find @{mrkdwn.escape(mention.label)} in this workspace")
            elif answer.is_bot:
                refused.append(f"{mrkdwn.escape(answer.label)} is a bot")
            elif answer.deleted:
                refused.append(f"{mrkdwn.escape(answer.label)}'s account is deactivated")
            else:
                addable.append(answer)
        with deps.db.session() as session:
            # Re-check inside the write: the circle may have been archived meanwhile.
            circle = session.get(Circle, circle_id)
            if circle is None or circle.is_archived:
                return "This circle was archived meanwhile, so nobody was added."
            circles.require_facilitator(session, circle, inv.user_id, "add people")
            outcome = circles.add_people(
                session, circle, addable, command.role, added_by=inv.user_id, now=now
            )
            return _added_text(circle, command.role, outcome, refused)

    count = len(command.user_ids)
    return Outcome(
        f"Adding {count} {'person' if count == 1 else 'people'} to the circle…", follow_up
    )


def _added_text(circle: Circle, role: Role, outcome: circles.AddOutcome, refused: list[str]) -> str:
    name = mrkdwn.escape(circle.name)
    lines: list[str] = []
    if outcome.added:
        who = ", ".join(mrkdwn.user(uid) for uid in outcome.added)
        lines.append(f"Added to *{name}* as {role.value}: {who}.")
    for uid, existing in outcome.already:
        lines.append(f"{mrkdwn.user(uid)} is already {ROLE_NAMES[existing]} here.")
    for uid, old, new in outcome.role_changed:
        lines.append(f"{mrkdwn.user(uid)} is now {ROLE_NAMES[new]} (was {ROLE_NAMES[old]}).")
    if refused:
        lines.append("Not added: " + "; ".join(refused) + ".")
    return "\n".join(lines)


# --- remove / members -------------------------------------------------------------------------


def _removed_text(circle: Circle, outcome: circles.RemoveOutcome) -> str:
    lines: list[str] = []
    if outcome.removed:
        who = ", ".join(mrkdwn.user(uid) for uid in outcome.removed)
        lines.append(
            f"Removed from *{mrkdwn.escape(circle.name)}*: {who}. Their past reflections are kept."
        )
    if outcome.not_members:
        who = ", ".join(mrkdwn.user(uid) for uid in outcome.not_members)
        lines.append(f"Not in this circle, so nothing to do: {who}.")
    return "\n".join(lines)


def _members_text(session: Session, circle: Circle) -> str:
    grouped = circles.members_by_role(session, circle)
    groups = [{"title": ROLE_TITLES[role], "ids": ids} for role, ids in grouped.items() if ids]
    total = sum(len(ids) for ids in grouped.values())
    return render("messages/members.md.j2", circle_name=circle.name, total=total, groups=groups)
