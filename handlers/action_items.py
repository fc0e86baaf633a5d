"""The Done button of an open action item (`action_item_done`), on the App Home.

Only the item's owner may complete it (`bot.reflections.action_items.apply_follow_up` decides);
anyone else, or an id that is not an item, gets a refusal that is logged. A second click is
harmless: the item is already done and stays as it was. The Home is republished either way, with a
short notice saying what happened (the Home has no ephemeral messages).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient
from sqlalchemy.exc import SQLAlchemyError

from bot.home.view import ACTION_ITEM_DONE
from bot.reflections.action_items import apply_follow_up
from bot.slack import mrkdwn
from handlers.clicks import TRY_AGAIN, read_click
from handlers.registry import Registrar
from storage.models import ActionItemStatus

logger = logging.getLogger(__name__)

NOT_FOUND = "I couldn't find this action item any more, so nothing was changed."
NOT_YOURS = "This action item belongs to someone else, so I left it alone."
ALREADY_DONE = "You had already marked *{text}* as done."
ALREADY_DROPPED = "You dropped *{text}* earlier, so it stays dropped."
DONE = "Done: *{text}*. Nice work!"
NOTICE_TEXT_CHARS = 200


def action_item_done(
    ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
) -> None:
    click = read_click(ack, body, client, context, respond, listener="action_item_done", log=logger)
    if click.id is None:
        click.answer(NOT_FOUND)
        return
    try:
        with click.services.db.session() as session:
            change = apply_follow_up(
                session,
                team_id=click.team_id,
                user_id=click.user_id,
                item_id=click.id,
                answer="done",
                now=click.services.clock(),
            )
            status = change.item.status if change.item is not None else None
            text = change.item.text if change.item is not None else ""
    except SQLAlchemyError:
        logger.exception("action_item_done of item %s failed", click.id)
        click.answer(TRY_AGAIN)
        return
    if change.outcome in ("not_found", "not_yours"):
        logger.warning(
            "action_item_done refused (%s): %s clicked item %s",
            change.outcome,
            click.user_id,
            click.id,
        )
        notice = NOT_FOUND if change.outcome == "not_found" else NOT_YOURS
    elif change.outcome == "changed":
        notice = DONE.format(text=_short(text))
    elif status == ActionItemStatus.DROPPED:
        notice = ALREADY_DROPPED.format(text=_short(text))
    else:
        notice = ALREADY_DONE.format(text=_short(text))
    click.answer(notice)


def _short(text: str) -> str:
    line = " ".join(text.split())
    if len(line) > NOTICE_TEXT_CHARS:
        line = line[: NOTICE_TEXT_CHARS - 1].rstrip() + "…"
    return mrkdwn.escape(line)


def register(registrar: Registrar) -> None:
    registrar.action(ACTION_ITEM_DONE, action_item_done)
