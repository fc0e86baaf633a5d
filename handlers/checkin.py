"""The Skip button of check-in and debrief DMs (`checkin_skip`).

Only the recipient of a delivery may skip it. A skip is recorded once (a conditional UPDATE,
so two quick clicks or a retried request cannot both win); the DM then becomes the "skipped"
message so there is nothing left to press. The "Write my check-in" button (`reflection_open`)
belongs to the reflections feature and is registered there.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot.rhythm.checkins import skip_delivery
from bot.rhythm.messages import ACTION_CHECKIN_SKIP, skipped_message
from handlers.clicks import read_click
from handlers.registry import Registrar

logger = logging.getLogger(__name__)

NOT_FOUND = "I couldn't find this check-in any more, so nothing was changed."
NOT_YOURS = "This check-in belongs to someone else, so I left it alone."
ALREADY_SKIPPED = "You've already skipped this one — see you next time."
ALREADY_ANSWERED = "You've already written this one, so there is nothing to skip."

TRY_AGAIN = "I couldn't record the skip just now. Please try again in a minute."


def checkin_skip(
    ack: Ack,
    body: dict[str, Any],
    client: WebClient,
    respond: Respond,
    context: BoltContext,
) -> None:
    click = read_click(ack, body, client, context, respond, listener="checkin_skip", log=logger)
    if click.id is None:
        click.tell(NOT_FOUND)
        return
    delivery_id = click.id
    try:
        with click.services.db.session() as session:
            result = skip_delivery(
                session,
                team_id=click.team_id,
                user_id=click.user_id,
                delivery_id=delivery_id,
                now=click.services.clock(),
            )
    except SQLAlchemyError:
        logger.exception("checkin_skip of delivery %s failed", delivery_id)
        click.tell(TRY_AGAIN)
        return
    if result.outcome in ("not_found", "not_yours"):
        logger.warning(
            "checkin_skip refused (%s): %s clicked delivery %s",
            result.outcome,
            click.user_id,
            delivery_id,
        )
        click.tell(NOT_FOUND if result.outcome == "not_found" else NOT_YOURS)
        return
    if result.outcome == "answered":
        click.tell(ALREADY_ANSWERED)
        return
    if result.outcome == "already_skipped":
        click.tell(ALREADY_SKIPPED)
    # Skipped now, or before: make sure the DM shows it (idempotent, heals a failed update).
    replacement = skipped_message(circle_name=result.circle_name)
    targets = (
        [(click.channel_id, click.message_ts)] if click.channel_id and click.message_ts else []
    )
    if result.original is not None and result.original not in targets:
        targets.append(result.original)
    for channel, ts in targets:
        try:
            client.chat_update(channel=channel, ts=ts, **replacement)
        except SlackApiError as exc:
            logger.warning(
                "could not mark delivery %s as skipped in %s: %s",
                delivery_id,
                channel,
                exc.response.get("error"),
            )


def register(registrar: Registrar) -> None:
    registrar.action(ACTION_CHECKIN_SKIP, checkin_skip)
