"""Reading a click, and answering it: the one header every button listener shares.

`read_click` acks, then reads who clicked, in which workspace, and the id the button carries,
without trusting it (`id` is None for a value we could not have made); the listener asks its
feature's rule, which authorises the person again, and answers with `Click.tell` (an
ephemeral in the conversation) or `Click.answer` (where they clicked: the conversation, a
"Show all" modal refreshed, or a notice on their App Home, which has no ephemerals).
`publish_home` republishes someone's Home after a change it shows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.exc import SQLAlchemyError

from bot.home.view import LISTS, home_view, list_modal
from bot.services import Services

logger = logging.getLogger(__name__)

MAX_ID = 2**31 - 1  # ids are 32-bit; anything bigger was not made by us


def action_value(body: dict[str, Any]) -> str:
    """The value of the clicked button ("" if there is none)."""
    return str(((body.get("actions") or [{}])[0]).get("value") or "")


def positive_id(raw: str) -> int | None:
    """The row id a button carries, or None when it is not one we could have made."""
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 0 < value <= MAX_ID else None


def tell_clicker(
    respond: Respond, client: WebClient, channel_id: str | None, user_id: str, text: str
) -> None:
    """An ephemeral answer to the person who clicked (response_url, else chat.postEphemeral)."""
    try:
        if respond.response_url:
            respond(text=text, response_type="ephemeral", replace_original=False)
        elif channel_id:
            client.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
    except Exception:
        logger.warning("could not answer %s after their click", user_id, exc_info=True)


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


@dataclass(frozen=True)
class Click:
    """Who clicked which button, where, and what it carries (read, not trusted)."""

    services: Services
    client: WebClient
    body: dict[str, Any]
    respond: Respond | None
    user_id: str
    team_id: str
    value: str  # the button's raw value
    id: int | None  # the row id the value names; None when we could not have made it
    channel_id: str | None  # the conversation of a clicked message
    message_ts: str | None

    @property
    def trigger_id(self) -> str:
        return str(self.body.get("trigger_id") or "")

    def tell(self, text: str) -> None:
        """An ephemeral answer in the conversation of the clicked message."""
        if self.respond is not None:
            tell_clicker(self.respond, self.client, self.channel_id, self.user_id, text)

    def reply(self, text: str) -> None:
        """In the conversation when a message was clicked; else as `answer` does."""
        if (self.body.get("container") or {}).get("type") == "message":
            self.tell(text)
        else:
            self.answer(text)

    def answer(self, text: str) -> None:
        """The answer where they clicked (a message, a "Show all" modal, the Home), and
        their Home republished."""
        answer_click(self.services, self.client, self.body, self.respond, text)


def read_click(
    ack: Ack,
    body: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    respond: Respond | None = None,
    *,
    listener: str,
    log: logging.Logger,
    value_is_id: bool = True,
) -> Click:
    """Ack the click, then read it. A value that is no id we could have made is logged, on the
    listener's own logger (`log`), and the listener answers that it found nothing."""
    ack()
    user_id, team_id = clicker(body)
    container = body.get("container") or {}
    value = action_value(body)
    click = Click(
        services=context["services"],
        client=client,
        body=body,
        respond=respond,
        user_id=user_id,
        team_id=context.team_id or team_id,
        value=value,
        id=positive_id(value) if value_is_id else None,
        channel_id=container.get("channel_id") or (body.get("channel") or {}).get("id"),
        message_ts=container.get("message_ts"),
    )
    if value_is_id and click.id is None:
        log.warning("%s from %s with a bad value %r", listener, user_id, value[:40])
    return click
