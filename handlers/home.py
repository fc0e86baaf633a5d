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

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.exc import SQLAlchemyError

from bot.circles.rules import Refusal
from bot.digest import compose as digest
from bot.home.rows import (
    ACTION_CHECKIN_NOW,
    ACTION_DIGEST_PREVIEW,
    ACTION_SHOW_ALL,
    LISTS,
    facilitated_circle,
    home_view,
    list_modal,
)
from bot.reflections.channel_readers import read_channel_readers
from bot.rhythm import now as delivery_commands
from bot.services import Services
from bot.slash.base import SORRY, Invocation
from handlers.payloads import action_value, positive_id, tell_clicker
from handlers.registry import Registrar

logger = logging.getLogger(__name__)

TRY_AGAIN = "Something went wrong on my side and nothing was changed. Please try again in a minute."
UNAVAILABLE_HOME: dict[str, Any] = {
    "type": "home",
    "blocks": [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "I couldn't load your circles just now. Open this tab again in a minute.",
            },
        }
    ],
}
NOT_FACILITATOR_PREVIEW = (
    "Only a facilitator of that circle can preview its digest. "
    "Open the Home tab again to see the circles you facilitate."
)
# Slack failures after the client's own retries: API errors, and the network giving up.
SLACK_FAILURES = (SlackClientError, OSError)


def slack_error(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return type(exc).__name__


def publish_home(
    services: Services,
    client: WebClient,
    *,
    team_id: str,
    user_id: str,
    notice: str | None = None,
) -> bool:
    """Build and publish a person's App Home; True when Slack took it.

    Other handlers call it after a change the Home shows (a reflection saved, an action item
    done). It never raises for Slack or database trouble: it logs it, so a caller that has
    already acked cannot crash on it.
    """
    try:
        with services.db.read_session() as session:
            view = home_view(
                session, team_id=team_id, user_id=user_id, now=services.clock(), notice=notice
            )
    except SQLAlchemyError:
        logger.exception("could not read the Home of %s", user_id)
        view = UNAVAILABLE_HOME
    try:
        client.views_publish(user_id=user_id, view=view)
    except SLACK_FAILURES as exc:
        logger.warning("could not publish the Home of %s: %s", user_id, slack_error(exc))
        return False
    return view is not UNAVAILABLE_HOME


def refresh_list_modal(
    services: Services,
    client: WebClient,
    *,
    view: dict[str, Any],
    team_id: str,
    user_id: str,
    notice: str | None,
) -> None:
    """Show a "Show all" modal again, fresh, with the notice (after a click inside it)."""
    what = str(view.get("private_metadata") or "")
    if what not in LISTS or not view.get("id"):
        return
    try:
        with services.db.read_session() as session:
            modal = list_modal(
                session,
                what=what,
                team_id=team_id,
                user_id=user_id,
                now=services.clock(),
                notice=notice,
            )
        client.views_update(view_id=view["id"], view=modal)
    except SQLAlchemyError:
        logger.exception("could not read the %s list of %s", what, user_id)
    except SLACK_FAILURES as exc:
        logger.warning("could not refresh the %s list of %s: %s", what, user_id, slack_error(exc))


def answer_click(
    services: Services,
    client: WebClient,
    body: dict[str, Any],
    respond: Respond | None,
    notice: str,
) -> None:
    """Tell the person who clicked how it went, where they clicked, and refresh their Home."""
    user_id, team_id = clicker(body)
    view = body.get("view") or {}
    if view.get("type") == "modal":
        refresh_list_modal(
            services, client, view=view, team_id=team_id, user_id=user_id, notice=notice
        )
    container = body.get("container") or {}
    if container.get("type") == "message" and respond is not None:
        tell_clicker(respond, client, container.get("channel_id"), user_id, notice)
        notice_on_home = None  # answered in the conversation; the Home just shows the change
    else:
        notice_on_home = notice
    publish_home(services, client, team_id=team_id, user_id=user_id, notice=notice_on_home)


def clicker(body: dict[str, Any]) -> tuple[str, str]:
    """(user id, team id) of an interaction payload."""
    user = body.get("user") or {}
    team = body.get("team") or {}
    return str(user.get("id") or ""), str(team.get("id") or user.get("team_id") or "")


def app_home_opened(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    if event.get("tab") != "home":
        return
    publish_home(context["services"], client, team_id=context.team_id or "", user_id=event["user"])


def checkin_now_clicked(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    """The "Check in now" button of a facilitator's glance: what `/circle checkin now` does."""
    ack()
    services: Services = context["services"]
    user_id, team_id = clicker(body)
    team_id = context.team_id or team_id
    raw = action_value(body)
    circle_id = positive_id(raw)
    if circle_id is None:
        logger.warning("home_checkin_now from %s with a bad value %r", user_id, raw[:40])
        answer_click(services, client, body, None, "I couldn't find that circle; nothing was sent.")
        return
    try:
        with services.db.read_session() as session:
            circle = facilitated_circle(
                session, team_id=team_id, user_id=user_id, circle_id=circle_id
            )
            channel_id = circle.channel_id
    except Refusal as refusal:
        logger.warning("home_checkin_now refused: %s clicked circle %s", user_id, circle_id)
        answer_click(services, client, body, None, str(refusal))
        return
    except SQLAlchemyError:
        logger.exception("home_checkin_now of circle %s failed", circle_id)
        answer_click(services, client, body, None, TRY_AGAIN)
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
        answer_click(services, client, body, None, str(refusal))
        return
    except Exception:
        logger.exception("home_checkin_now of circle %s failed", circle_id)
        answer_click(services, client, body, None, SORRY)
        return
    # "Sending the check-in to N participants…" while a large fan-out goes out, then the result.
    answer_click(services, client, body, None, outcome.ack_text)
    if outcome.follow_up is None:
        return
    try:
        result = outcome.follow_up()
    except Refusal as refusal:
        result = str(refusal)
    except Exception:
        logger.exception("home_checkin_now of circle %s failed while sending", circle_id)
        result = SORRY
    answer_click(services, client, body, None, result or outcome.ack_text)


def digest_preview_clicked(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    """The "Preview digest" button of a facilitator's glance: `/circle digest preview`, in a
    modal. The circle id comes back from the client, so the facilitator is checked again."""
    ack()
    services: Services = context["services"]
    user_id, team_id = clicker(body)
    team_id = context.team_id or team_id
    raw = action_value(body)
    circle_id = positive_id(raw)
    if circle_id is None:
        logger.warning("home_digest_preview from %s with a bad value %r", user_id, raw[:40])
        answer_click(services, client, body, None, "I couldn't find that circle.")
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
        answer_click(services, client, body, None, NOT_FACILITATOR_PREVIEW)
        return
    except SQLAlchemyError:
        logger.exception("home_digest_preview of circle %s failed", circle_id)
        answer_click(services, client, body, None, TRY_AGAIN)
        return
    try:
        client.views_open(trigger_id=body.get("trigger_id", ""), view=modal)
    except SLACK_FAILURES as exc:
        logger.warning("could not open the digest preview of %s: %s", circle_id, slack_error(exc))


def show_all_clicked(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    """The "Show all N …" button under a cut list: a modal with (up to 90 of) all of them."""
    ack()
    services: Services = context["services"]
    user_id, team_id = clicker(body)
    team_id = context.team_id or team_id
    what = action_value(body)
    if what not in LISTS:
        logger.warning("home_show_all from %s with a bad value %r", user_id, what[:40])
        return
    try:
        with services.db.read_session() as session:
            modal = list_modal(
                session, what=what, team_id=team_id, user_id=user_id, now=services.clock()
            )
        client.views_open(trigger_id=body.get("trigger_id", ""), view=modal)
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
