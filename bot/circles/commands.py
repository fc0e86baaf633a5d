"""What each `/circle` subcommand does, independent of Bolt.

`start()` decides, within the 3-second ack budget, what to answer now. Work that has to call
Slack (looking people up, posting in the channel) is returned as a `follow_up` that the
handler runs after the ack; its answer goes back through the command's response_url.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from bot.circles import rules as circles
from bot.circles.rules import Refusal
from bot.delivery.engine import Deliverer
from bot.slack import mrkdwn, people
from bot.slash.parse import (
    DATA_RIGHTS_COMMANDS,
    DELIVERY_COMMANDS,
    PAIRING_COMMANDS,
    RHYTHM_COMMANDS,
    SUBCOMMANDS,
    Add,
    Archive,
    Command,
    CommandError,
    Create,
    Help,
    Learnings,
    Members,
    Remove,
    Rename,
    parse,
)
from prompts import render
from storage.db import Database
from storage.models import Circle, Person, Role

logger = logging.getLogger(__name__)

SORRY = (
    "Something went wrong on my side and nothing was changed. Please try again in a minute; "
    "if it keeps happening, tell whoever runs Circlebot."
)

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


@dataclass(frozen=True)
class Invocation:
    """Who typed the command, where."""

    team_id: str
    user_id: str
    channel_id: str
    channel_name: str
    text: str
    trigger_id: str = ""  # opens a modal within 3 seconds (forget-me's confirmation)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Invocation:
        return cls(
            team_id=payload.get("team_id", ""),
            user_id=payload.get("user_id", ""),
            channel_id=payload.get("channel_id", ""),
            channel_name=payload.get("channel_name", ""),
            text=payload.get("text", "") or "",
            trigger_id=payload.get("trigger_id", "") or "",
        )

    @property
    def in_direct_message(self) -> bool:
        return (
            self.channel_id.startswith("D")
            or self.channel_name == "directmessage"
            or self.channel_name.startswith("mpdm-")
        )


@dataclass
class Outcome:
    """What to answer in the ack, and optionally more work whose answer follows."""

    ack_text: str
    follow_up: Callable[[], str | None] | None = None


@dataclass
class Deps:
    db: Database
    client: WebClient
    clock: Callable[[], datetime]
    deliverer: Deliverer  # configured from settings (concurrency, lease, grace)


def start(invocation: Invocation, deps: Deps) -> Outcome:
    try:
        command = parse(invocation.text)
    except CommandError as error:
        return Outcome(str(error))
    try:
        outcome = _dispatch(command, invocation, deps)
    except (CommandError, Refusal) as refusal:
        return Outcome(str(refusal))
    if outcome.follow_up is not None:
        outcome.follow_up = _refusals_as_answers(outcome.follow_up)
    return outcome


def _refusals_as_answers(work: Callable[[], str | None]) -> Callable[[], str | None]:
    """A rule may still say no after the ack (e.g. the last facilitator); say it, don't crash."""

    def run() -> str | None:
        try:
            return work()
        except (CommandError, Refusal) as refusal:
            return str(refusal)

    return run


def _dispatch(command: Command, inv: Invocation, deps: Deps) -> Outcome:
    if isinstance(command, Help):
        return Outcome(
            render("messages/help.md.j2", unknown=command.unknown, subcommands=SUBCOMMANDS)
        )
    if isinstance(command, Create):
        return _create(command, inv, deps)
    if isinstance(command, Add):
        return _add(command, inv, deps)
    if isinstance(command, RHYTHM_COMMANDS):
        from bot.rhythm import commands as rhythm_commands

        return rhythm_commands.run(command, inv, deps)
    if isinstance(command, Learnings):
        from bot.reflections import learnings

        return learnings.run(command, inv, deps)
    if isinstance(command, DELIVERY_COMMANDS):
        from bot.rhythm import now as delivery_commands

        return delivery_commands.run(command, inv, deps)
    if isinstance(command, DATA_RIGHTS_COMMANDS):
        from bot.data_rights import rights as data_rights

        return data_rights.run(command, inv, deps)
    if isinstance(command, PAIRING_COMMANDS):
        from bot.pairing import rounds as pairing_commands

        return pairing_commands.run(command, inv, deps)
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand=type(command).__name__.lower())
        if isinstance(command, Members):
            circles.require_member(session, circle, inv.user_id, "see who is in it")
            return Outcome(_members_text(session, circle))
        if isinstance(command, Remove):
            circles.require_facilitator(session, circle, inv.user_id, "remove people")
            removed = circles.remove_people(session, circle, command.user_ids, now=deps.clock())
            return Outcome(_removed_text(circle, removed))
        if isinstance(command, Rename):
            circles.require_facilitator(session, circle, inv.user_id, "rename it")
            old = circles.rename_circle(session, circle, command.name)
            return Outcome(f"Renamed *{mrkdwn.escape(old)}* to *{mrkdwn.escape(command.name)}*.")
        if isinstance(command, Archive):
            circles.require_facilitator(session, circle, inv.user_id, "archive it")
            circles.archive_circle(session, circle, now=deps.clock())
            return Outcome(
                f"Archived *{mrkdwn.escape(circle.name)}*. Nothing more will be sent for it and "
                "its data is kept. A new circle can be created here with "
                "`/circle create &lt;name&gt;`."
            )
    raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover


def circle_here(session: Session, inv: Invocation, *, subcommand: str) -> Circle:
    """The live circle of the channel the command was typed in, or a refusal saying where."""
    if not inv.in_direct_message:
        circle = circles.live_circle_in_channel(session, inv.team_id, inv.channel_id)
        if circle is not None:
            return circle
    where = "in a direct message" if inv.in_direct_message else "in this channel"
    archived = (
        None
        if inv.in_direct_message
        else circles.last_archived_circle_in_channel(session, inv.team_id, inv.channel_id)
    )
    if archived is not None and archived.archived_at is not None:
        lead = (
            f"This channel's circle *{mrkdwn.escape(archived.name)}* was archived on "
            f"{archived.archived_at:%Y-%m-%d}."
        )
    else:
        lead = f"There is no circle {where}."
    mine = circles.circles_of(session, inv.team_id, inv.user_id)
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


# --- create ----------------------------------------------------------------------------------


def _create(command: Create, inv: Invocation, deps: Deps) -> Outcome:
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


def _add(command: Add, inv: Invocation, deps: Deps) -> Outcome:
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
