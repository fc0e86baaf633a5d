"""`/circle my-data`, `/circle forget-me` and `/circle export`, and sending a file by DM."""

from __future__ import annotations

import logging
import re

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.circles.rules import circle_here, require_facilitator
from bot.data_rights.export import export_circle_csv
from bot.data_rights.forget_me import (
    circles_needing_a_facilitator,
    count_text,
    forget_me_modal,
    last_facilitator_refusal,
    person_summary,
)
from bot.data_rights.my_data import collect_person_data, person_data_json
from bot.data_rights.rows import own_row_counts
from bot.slack import mrkdwn
from bot.slash.base import Deps, Invocation, Outcome
from bot.slash.parse import Export, ForgetMe, MyData
from storage.models import (
    Circle,
)

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- where ids live


# --------------------------------------------------------------------------- forget


# --------------------------------------------------------------------------- my-data


# --------------------------------------------------------------------------- export


# --------------------------------------------------------------------------- retention


# --------------------------------------------------------------------------- Slack side


def send_file_by_dm(
    client: WebClient, user_id: str, *, filename: str, content: bytes, title: str, comment: str
) -> str | None:
    """Upload a file into the person's DM with the bot; None when done, else Slack's error.

    files.completeUploadExternal takes a conversation id, not a user id, so the DM is
    opened first.
    """
    try:
        opened = client.conversations_open(users=user_id)
        client.files_upload_v2(
            channel=str(opened["channel"]["id"]),
            filename=filename,
            content=content,
            title=title,
            initial_comment=comment,
        )
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        logger.warning("could not send %s to %s: %s", filename, user_id, error)
        return error
    except (SlackClientError, OSError) as exc:
        logger.warning("could not send %s to %s", filename, user_id, exc_info=True)
        return type(exc).__name__
    return None


NOTHING_HELD = (
    "I don't hold any data about you: you're not in any circle and haven't written anything "
    "here, so there is nothing to send or delete."
)


def my_data(command: MyData, inv: Invocation, deps: Deps) -> Outcome:
    return _my_data(inv, deps)


def forget_me(command: ForgetMe, inv: Invocation, deps: Deps) -> Outcome:
    return _forget_me(inv, deps)


def export(command: Export, inv: Invocation, deps: Deps) -> Outcome:
    return _export(inv, deps)


def _my_data(inv: Invocation, deps: Deps) -> Outcome:
    with deps.db.read_session() as session:
        if not any(own_row_counts(session, inv.team_id, inv.user_id).values()):
            return Outcome(NOTHING_HELD)

    def follow_up() -> str:
        now = deps.clock()
        with deps.db.read_session() as session:
            data = collect_person_data(session, team_id=inv.team_id, user_id=inv.user_id, now=now)
        error = send_file_by_dm(
            deps.client,
            inv.user_id,
            filename=f"circlebot-my-data-{now:%Y-%m-%d}.json",
            content=person_data_json(data),
            title="Your Circlebot data",
            comment="Here is everything Circlebot holds about you (JSON, UTF-8).",
        )
        if error:
            return (
                f"I couldn't send your data just now (Slack said `{mrkdwn.escape(error)}`). "
                "Please try `/circle my-data` again in a minute."
            )
        return "Sent: your data is a JSON file in your direct messages with me."

    return Outcome(
        "Preparing your data… I'll send it to you as a file in a direct message.", follow_up
    )


def _forget_me(inv: Invocation, deps: Deps) -> Outcome:
    with deps.db.read_session() as session:
        summary = person_summary(session, inv.team_id, inv.user_id)
        if summary.is_empty:
            return Outcome(NOTHING_HELD)
        stuck = circles_needing_a_facilitator(session, inv.team_id, inv.user_id)
        if stuck:
            raise last_facilitator_refusal(stuck)
    view = forget_me_modal(summary)

    def follow_up() -> str | None:
        try:
            deps.client.views_open(trigger_id=inv.trigger_id, view=view)
        except (SlackClientError, OSError):
            logger.warning("could not open the forget-me confirmation", exc_info=True)
            return (
                "I couldn't open the confirmation just now, so nothing was deleted. "
                "Please run `/circle forget-me` again."
            )
        return None

    return Outcome("Check the form that opened: nothing is deleted until you confirm.", follow_up)


def _export(inv: Invocation, deps: Deps) -> Outcome:
    with deps.db.read_session() as session:
        circle = circle_here(session, inv, subcommand="export")
        require_facilitator(session, circle, inv.user_id, "export its data")
        circle_id, name = circle.id, circle.name

    def follow_up() -> str:
        now = deps.clock()
        with deps.db.read_session() as session:
            found = session.get(Circle, circle_id)
            if found is None:
                return "This circle no longer exists, so there is nothing to export."
            require_facilitator(session, found, inv.user_id, "export its data")
            export = export_circle_csv(session, found, reader_id=inv.user_id)
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "circle"
        error = send_file_by_dm(
            deps.client,
            inv.user_id,
            filename=f"circlebot-{slug}-{now:%Y-%m-%d}.csv",
            content=export.content,
            title=f"{name}: reflections",
            comment=(
                f"The reflections of {mrkdwn.escape(name)} you may read, one row per answer "
                f"({count_text(export.reflections, 'reflection')}; private ones are counted "
                "without their text)."
            ),
        )
        if error:
            return (
                f"I couldn't send the export just now (Slack said `{mrkdwn.escape(error)}`). "
                "Please try `/circle export` again in a minute."
            )
        counted = count_text(export.reflections, "reflection")
        return (
            f"Sent: the export of *{mrkdwn.escape(name)}* "
            f"({counted}, {export.private} private without text) "
            "is a CSV file in your direct messages with me."
        )

    return Outcome(
        f"Preparing the export of *{mrkdwn.escape(name)}*… I'll send it to you in a direct "
        "message, not in this channel.",
        follow_up,
    )
