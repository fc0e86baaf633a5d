"""The `/circle` slash command: parse, ack within 3 seconds, then follow up if needed."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from bot import subcommands as table
from bot.slash.base import SORRY, Invocation
from bot.subcommands import subcommand_word
from handlers.registry import Registrar

logger = logging.getLogger(__name__)

COMMAND = "/circle"


def circle_command(
    ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext
) -> None:
    services = context["services"]
    deps = services.deps(client)
    invocation = Invocation.from_payload(command)
    try:
        outcome = table.start(invocation, deps)
    except Exception:
        # The subcommand, never the text: it holds what people typed (names, searches).
        logger.exception("/circle %s failed before the ack", subcommand_word(invocation.text))
        ack(text=SORRY, response_type="ephemeral")
        return
    ack(text=outcome.ack_text, response_type="ephemeral")
    if outcome.follow_up is None:
        return
    try:
        reply = outcome.follow_up()
    except Exception:
        logger.exception("/circle %s failed after the ack", subcommand_word(invocation.text))
        reply = SORRY
    if reply:
        respond(text=reply, response_type="ephemeral", replace_original=False)


def log_unhandled_error(error: Exception, body: dict[str, Any], logger: logging.Logger) -> None:
    """Last resort: keep the traceback in the logs; Slack only ever sees our own words."""
    logger.error(
        "unhandled error for a %s request", body.get("type") or body.get("command"), exc_info=error
    )


def register(registrar: Registrar) -> None:
    registrar.command(COMMAND, circle_command)
