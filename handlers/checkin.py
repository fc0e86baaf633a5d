"""The Skip button of check-in and debrief DMs (`checkin_skip`).

Only the recipient of a delivery may skip it. A skip is recorded once (a conditional UPDATE,
so two quick clicks or a retried request cannot both win); the DM then becomes the "skipped"
message so there is nothing left to press. The "Write my check-in" button (`reflection_open`)
belongs to the reflections feature and is registered there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col

from bot.rhythm.messages import ACTION_CHECKIN_SKIP, skipped_message
from handlers.payloads import action_value, positive_id, tell_clicker
from handlers.registry import Registrar
from storage.models import Circle, Delivery

logger = logging.getLogger(__name__)

NOT_FOUND = "I couldn't find this check-in any more, so nothing was changed."
NOT_YOURS = "This check-in belongs to someone else, so I left it alone."
ALREADY_SKIPPED = "You've already skipped this one — see you next time."
ALREADY_ANSWERED = "You've already written this one, so there is nothing to skip."

TRY_AGAIN = "I couldn't record the skip just now. Please try again in a minute."


@dataclass(frozen=True)
class SkipResult:
    outcome: str  # skipped | already_skipped | answered | not_found | not_yours
    circle_name: str = ""
    # The check-in's own DM as the sender recorded it (the click may come from its nudge).
    original: tuple[str, str] | None = None


def skip_delivery(
    session: Session, *, team_id: str, user_id: str, delivery_id: int, now: datetime
) -> SkipResult:
    """Record that `user_id` skips delivery `delivery_id` (or the check-in a nudge belongs to)."""
    clicked = session.get(Delivery, delivery_id)
    if clicked is None or clicked.team_id != team_id:
        return SkipResult("not_found")
    if clicked.recipient != user_id:
        return SkipResult("not_yours")
    target = clicked
    if clicked.parent_id is not None:  # a nudge: the skip is about its check-in
        parent = session.get(Delivery, clicked.parent_id)
        if parent is None or parent.team_id != team_id or parent.recipient != user_id:
            return SkipResult("not_found")
        target = parent
    circle = session.get(Circle, target.circle_id)
    name = circle.name if circle is not None else ""
    original = None
    if target.channel_id and target.message_ts:
        original = (target.channel_id, target.message_ts)
    if target.answered_at is not None:
        return SkipResult("answered", name)
    changed = session.exec(
        update(Delivery)
        .where(col(Delivery.id) == target.id, col(Delivery.skipped_at).is_(None))
        .values(skipped_at=now)
    ).rowcount
    return SkipResult("skipped" if changed else "already_skipped", name, original)


def checkin_skip(
    ack: Ack,
    body: dict[str, Any],
    client: WebClient,
    respond: Respond,
    context: BoltContext,
) -> None:
    ack()
    services = context["services"]
    user_id = body.get("user", {}).get("id", "")
    team_id = context.team_id or body.get("team", {}).get("id", "")
    container = body.get("container") or {}
    channel_id = container.get("channel_id") or (body.get("channel") or {}).get("id")
    message_ts = container.get("message_ts")
    raw_value = action_value(body)
    delivery_id = positive_id(raw_value)
    if delivery_id is None:
        logger.warning("checkin_skip from %s with a bad value %r", user_id, raw_value[:40])
        tell_clicker(respond, client, channel_id, user_id, NOT_FOUND)
        return
    try:
        with services.db.session() as session:
            result = skip_delivery(
                session,
                team_id=team_id,
                user_id=user_id,
                delivery_id=delivery_id,
                now=services.clock(),
            )
    except SQLAlchemyError:
        logger.exception("checkin_skip of delivery %s failed", delivery_id)
        tell_clicker(respond, client, channel_id, user_id, TRY_AGAIN)
        return
    if result.outcome in ("not_found", "not_yours"):
        logger.warning(
            "checkin_skip refused (%s): %s clicked delivery %s",
            result.outcome,
            user_id,
            delivery_id,
        )
        tell_clicker(
            respond,
            client,
            channel_id,
            user_id,
            NOT_FOUND if result.outcome == "not_found" else NOT_YOURS,
        )
        return
    if result.outcome == "answered":
        tell_clicker(respond, client, channel_id, user_id, ALREADY_ANSWERED)
        return
    if result.outcome == "already_skipped":
        tell_clicker(respond, client, channel_id, user_id, ALREADY_SKIPPED)
    # Skipped now, or before: make sure the DM shows it (idempotent, heals a failed update).
    replacement = skipped_message(circle_name=result.circle_name)
    targets = [(channel_id, message_ts)] if channel_id and message_ts else []
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
