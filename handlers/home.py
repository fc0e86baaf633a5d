"""The App Home tab: app_home_opened, "Check in now", "Preview digest" and "Show all".

The Home has no ephemeral messages, so the answer to a click on it (a check-in sent, an action
item done, a refusal) is a short notice at the top of the republished Home: the person is
looking at that tab when they click, the notice stays there until the tab is next opened, and
nothing lands in their DMs. A click inside a "Show all" modal also refreshes that modal with
the notice. Slack and database errors after the ack are logged; the person gets a notice when
one can still be shown, never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from sqlalchemy.exc import SQLAlchemyError

from bot.circles.rules import Refusal
from bot.digest import compose as digest
from bot.home.rows import facilitated_circle
from bot.home.view import (
    ACTION_CHECKIN_NOW,
    ACTION_DIGEST_PREVIEW,
    ACTION_SHOW_ALL,
    LISTS,
    list_modal,
)
from bot.reflections.channel_readers import read_channel_readers
from bot.rhythm import now as delivery_commands
from bot.slash.base import SORRY, Invocation
from handlers.clicks import (
    SLACK_FAILURES,
    TRY_AGAIN,
    publish_home,
    read_click,
    slack_error,
)
from handlers.registry import Registrar

logger = logging.getLogger(__name__)

NOT_FACILITATOR_PREVIEW = (
    "Only a facilitator of that circle can preview its digest. "
    "Open the Home tab again to see the circles you facilitate."
)


def app_home_opened(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    if event.get("tab") != "home":
        return
    publish_home(context["services"], client, team_id=context.team_id or "", user_id=event["user"])


def checkin_now_clicked(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    """The "Check in now" button of a facilitator's glance: what `/circle checkin now` does."""
    click = read_click(ack, body, client, context, listener="home_checkin_now", log=logger)
    services, user_id, team_id, circle_id = click.services, click.user_id, click.team_id, click.id
    if circle_id is None:
        click.answer("I couldn't find that circle; nothing was sent.")
        return
    try:
        with services.db.read_session() as session:
            circle = facilitated_circle(
                session, team_id=team_id, user_id=user_id, circle_id=circle_id
            )
            channel_id = circle.channel_id
    except Refusal as refusal:
        logger.warning("home_checkin_now refused: %s clicked circle %s", user_id, circle_id)
        click.answer(str(refusal))
        return
    except SQLAlchemyError:
        logger.exception("home_checkin_now of circle %s failed", circle_id)
        click.answer(TRY_AGAIN)
        return
    # The same path as typing `/circle checkin now` in the circle's channel: it checks the
    # facilitator again, the pause and who is away, and sends through the delivery engine.
    invocation = Invocation(
        team_id=team_id,
        user_id=user_id,
        channel_id=channel_id,
        channel_name="",
        text="checkin now",
    )
    deps = services.deps(client)
    try:
        outcome = delivery_commands.send_now("checkin", invocation, deps)
    except Refusal as refusal:  # paused, or nobody to send to
        click.answer(str(refusal))
        return
    except Exception:
        logger.exception("home_checkin_now of circle %s failed", circle_id)
        click.answer(SORRY)
        return
    # "Sending the check-in to N participants…" while a large fan-out goes out, then the result.
    click.answer(outcome.ack_text)
    if outcome.follow_up is None:
        return
    try:
        result = outcome.follow_up()
    except Refusal as refusal:
        result = str(refusal)
    except Exception:
        logger.exception("home_checkin_now of circle %s failed while sending", circle_id)
        result = SORRY
    click.answer(result or outcome.ack_text)


def digest_preview_clicked(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    """The "Preview digest" button of a facilitator's glance: `/circle digest preview`, in a
    modal. The circle id comes back from the client, so the facilitator is checked again."""
    click = read_click(ack, body, client, context, listener="home_digest_preview", log=logger)
    services, user_id, team_id, circle_id = click.services, click.user_id, click.team_id, click.id
    if circle_id is None:
        click.answer("I couldn't find that circle.")
        return
    now = services.clock()
    try:
        with services.db.read_session() as session:
            circle = facilitated_circle(
                session, team_id=team_id, user_id=user_id, circle_id=circle_id
            )
            readers = read_channel_readers(services.db, client, circle, now=now)
            modal = digest.preview_modal(digest.preview(session, circle, now=now, readers=readers))
    except Refusal:
        logger.warning("home_digest_preview refused: %s clicked circle %s", user_id, circle_id)
        click.answer(NOT_FACILITATOR_PREVIEW)
        return
    except SQLAlchemyError:
        logger.exception("home_digest_preview of circle %s failed", circle_id)
        click.answer(TRY_AGAIN)
        return
    try:
        client.views_open(trigger_id=click.trigger_id, view=modal)
    except SLACK_FAILURES as exc:
        logger.warning("could not open the digest preview of %s: %s", circle_id, slack_error(exc))


def show_all_clicked(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    """The "Show all N …" button under a cut list: a modal with (up to 90 of) all of them."""
    click = read_click(
        ack, body, client, context, listener="home_show_all", log=logger, value_is_id=False
    )
    services, user_id, team_id, what = click.services, click.user_id, click.team_id, click.value
    if what not in LISTS:
        logger.warning("home_show_all from %s with a bad value %r", user_id, what[:40])
        return
    try:
        with services.db.read_session() as session:
            modal = list_modal(
                session, what=what, team_id=team_id, user_id=user_id, now=services.clock()
            )
        client.views_open(trigger_id=click.trigger_id, view=modal)
    except SQLAlchemyError:
        logger.exception("could not read the %s list of %s", what, user_id)
        publish_home(services, client, team_id=team_id, user_id=user_id, notice=TRY_AGAIN)
    except SLACK_FAILURES as exc:
        logger.warning("could not open the %s list of %s: %s", what, user_id, slack_error(exc))


def register(registrar: Registrar) -> None:
    registrar.event("app_home_opened", app_home_opened)
    registrar.action(ACTION_CHECKIN_NOW, checkin_now_clicked)
    registrar.action(ACTION_SHOW_ALL, show_all_clicked)
    registrar.action(ACTION_DIGEST_PREVIEW, digest_preview_clicked)
