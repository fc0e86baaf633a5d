"""Reading what a person clicked, without trusting it."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient

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
