"""Signing up to demo: the `demoday_signup` button and the `demoday_signup_modal` modal.

The button acks at once, checks the demo day (exists in this workspace, not cancelled, not
started, the person is an active member of its circle) with one quick read, then opens the
modal with the action's trigger_id while it is still fresh. The submission checks everything
again on the server (private_metadata comes back from the client and may be tampered with),
then saves one sign-up per person and demo day: resubmitting updates it, and a repeated or
concurrent submission never makes a second row. The person gets a short DM after the modal
has closed.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot.reflections.modal import NO_NUL
from bot.rhythm.demodays import (
    NOT_FOUND_PLAIN,
    NOT_FOUND_TEXT,
    SignupRefused,
    save_signup,
    signup_target,
)
from bot.rhythm.messages import (
    ACTION_DEMODAY_SIGNUP,
    SIGNUP_CALLBACK_ID,
    SIGNUP_TITLE_ACTION,
    SIGNUP_TITLE_BLOCK,
    SIGNUP_TITLE_MAX,
    SIGNUP_TRIED_ACTION,
    SIGNUP_TRIED_BLOCK,
    SIGNUP_TRIED_MAX,
    demoday_signup_confirmation,
    demoday_signup_modal,
)
from bot.slack import block_kit
from handlers.clicks import MAX_ID, read_click
from handlers.registry import Registrar

logger = logging.getLogger(__name__)

TRY_AGAIN = (
    "I couldn't save your sign-up just now; nothing was saved. Please try again in a minute."
)
TRY_AGAIN_BUTTON = "I couldn't open the sign-up form just now. Please press the button again."
NEED_TITLE = "Give your demo a title."
TOO_LONG = "Keep this to {limit} characters or fewer."


# --------------------------------------------------------------------------- the button


def demoday_signup(
    ack: Ack,
    body: dict[str, Any],
    client: WebClient,
    respond: Respond,
    context: BoltContext,
) -> None:
    click = read_click(ack, body, client, context, respond, listener="demoday_signup", log=logger)
    services, user_id, team_id, demo_day_id = (
        click.services,
        click.user_id,
        click.team_id,
        click.id,
    )
    raw_value = click.value
    if demo_day_id is None:
        click.tell(NOT_FOUND_TEXT)
        return
    try:
        with services.db.session() as session:
            target = signup_target(
                session,
                team_id=team_id,
                user_id=user_id,
                demo_day_id=demo_day_id,
                now=services.clock(),
            )
            existing = target.existing
            view = demoday_signup_modal(
                demo_day_id=demo_day_id,
                circle_name=target.circle.name,
                title=target.demo_day.title,
                starts_at=target.demo_day.starts_at,
                demo_title=existing.title if existing else "",
                what_tried=existing.what_tried if existing else "",
            )
    except SignupRefused as refused:
        logger.info(
            "demoday_signup by %s on demo day %s refused: %s", user_id, raw_value, refused.plain
        )
        click.tell(refused.text)
        return
    except SQLAlchemyError:
        logger.exception("demoday_signup could not read demo day %s", raw_value)
        click.tell(TRY_AGAIN_BUTTON)
        return
    try:
        client.views_open(trigger_id=body["trigger_id"], view=view)
    except SlackApiError as exc:
        logger.warning(
            "views.open for demo day %s failed: %s", raw_value, exc.response.get("error")
        )
        click.tell(TRY_AGAIN_BUTTON)


# --------------------------------------------------------------------------- the modal


def demoday_signup_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    services = context["services"]
    user_id = body.get("user", {}).get("id", "")
    team_id = context.team_id or body.get("team", {}).get("id", "")
    values = (view.get("state") or {}).get("values") or {}
    title = block_kit.one_line(_input(values, SIGNUP_TITLE_BLOCK, SIGNUP_TITLE_ACTION))
    what_tried = block_kit.one_line(_input(values, SIGNUP_TRIED_BLOCK, SIGNUP_TRIED_ACTION))
    errors: dict[str, str] = {}
    if not title:
        errors[SIGNUP_TITLE_BLOCK] = NEED_TITLE
    elif "\x00" in title:  # no client sends it, and PostgreSQL cannot store it in text
        errors[SIGNUP_TITLE_BLOCK] = NO_NUL
    elif len(title) > SIGNUP_TITLE_MAX:
        errors[SIGNUP_TITLE_BLOCK] = TOO_LONG.format(limit=SIGNUP_TITLE_MAX)
    if "\x00" in what_tried:
        errors[SIGNUP_TRIED_BLOCK] = NO_NUL
    elif len(what_tried) > SIGNUP_TRIED_MAX:
        errors[SIGNUP_TRIED_BLOCK] = TOO_LONG.format(limit=SIGNUP_TRIED_MAX)
    demo_day_id = _demo_day_id(view.get("private_metadata"))
    if demo_day_id is None:
        logger.warning("demoday_signup_modal from %s with bad private_metadata", user_id)
        ack(response_action="errors", errors={SIGNUP_TITLE_BLOCK: NOT_FOUND_PLAIN})
        return
    if errors:
        ack(response_action="errors", errors=errors)
        return
    try:
        with services.db.session() as session:
            now = services.clock()
            target = signup_target(
                session,
                team_id=team_id,
                user_id=user_id,
                demo_day_id=demo_day_id,
                now=now,
                lock=True,
            )
            change = save_signup(
                session, target, user_id=user_id, title=title, what_tried=what_tried, now=now
            )
    except SignupRefused as refused:
        logger.warning(
            "demoday_signup_modal by %s for demo day %s refused: %s",
            user_id,
            demo_day_id,
            refused.plain,  # our words (`text` names the demo day and the circle)
        )
        ack(response_action="errors", errors={SIGNUP_TITLE_BLOCK: refused.plain})
        return
    except SQLAlchemyError:
        logger.exception("saving the sign-up of %s to demo day %s failed", user_id, demo_day_id)
        ack(response_action="errors", errors={SIGNUP_TITLE_BLOCK: TRY_AGAIN})
        return
    ack()  # closes the modal
    if change == "unchanged":  # a repeated submission: the DM was sent the first time
        return
    confirmation = demoday_signup_confirmation(
        circle_name=target.circle.name,
        title=target.demo_day.title,
        starts_at=target.demo_day.starts_at,
        demo_title=title,
        updated=change == "updated",
    )
    try:
        client.chat_postMessage(channel=user_id, **confirmation)
    except SlackApiError as exc:
        logger.warning(
            "could not confirm the sign-up of %s by DM: %s", user_id, exc.response.get("error")
        )


def _input(values: Any, block_id: str, action_id: str) -> str:
    """The text of one input; "" when missing or not shaped as Slack sends it (a forged
    payload may put anything anywhere)."""
    block = values.get(block_id) if isinstance(values, dict) else None
    element = block.get(action_id) if isinstance(block, dict) else None
    text = element.get("value") if isinstance(element, dict) else None
    return text if isinstance(text, str) else ""


def _demo_day_id(private_metadata: Any) -> int | None:
    try:
        data = json.loads(private_metadata or "")
    except (TypeError, ValueError):
        return None
    value = data.get("demo_day_id") if isinstance(data, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return value
    return None


def register(registrar: Registrar) -> None:
    registrar.action(ACTION_DEMODAY_SIGNUP, demoday_signup)
    registrar.view(SIGNUP_CALLBACK_ID, demoday_signup_submitted)
