"""The forget-me confirmation modal (`/circle forget-me` opens it; bot/data_rights/forget_me.py).

Submitting it is the confirmation; closing it (Cancel) sends nothing, so nothing happens.
The person forgotten is always the one who submitted (`body.user.id`): the modal carries no
metadata to trust. The modal closes at once; the deletion runs in one transaction and its
result (done, refused as the last facilitator, or failed with nothing deleted) comes by DM.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from sqlalchemy.exc import SQLAlchemyError

from bot.circles.rules import Refusal
from bot.data_rights import forget_me
from handlers.clicks import SLACK_FAILURES, publish_home, slack_error
from handlers.registry import Registrar

logger = logging.getLogger(__name__)

TRY_AGAIN = (
    "I couldn't delete your data just now, so nothing was deleted. "
    "Please run `/circle forget-me` again in a minute."
)


def forget_me_submitted(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    ack()  # close the modal; the answer follows by DM
    services = context["services"]
    user_id = str(body.get("user", {}).get("id", ""))
    team_id = context.team_id or str(body.get("team", {}).get("id", ""))
    if not user_id or not team_id:
        logger.warning("forget_me_confirm without a user or team")
        return
    try:
        with services.db.session() as session:
            report = forget_me.forget_person(session, team_id=team_id, user_id=user_id)
    except Refusal as refusal:
        # The refusal names the circles; the log says why without them.
        logger.info("forget-me of %s refused: the only facilitator of a live circle", user_id)
        text = str(refusal)
    except SQLAlchemyError:
        logger.exception("forget-me of %s failed; nothing was deleted", user_id)
        text = TRY_AGAIN
    else:
        logger.info("forgot %s: %s", user_id, report)
        text = forget_me.forgotten_text(report)
    try:
        client.chat_postMessage(channel=user_id, text=text)
    except SLACK_FAILURES as exc:
        logger.warning("could not tell %s how forget-me went: %s", user_id, slack_error(exc))
    publish_home(services, client, team_id=team_id, user_id=user_id)  # no more circles there


def register(registrar: Registrar) -> None:
    registrar.view(forget_me.FORGET_ME_CALLBACK_ID, forget_me_submitted)
