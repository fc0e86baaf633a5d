"""Block Kit for the App Home tab, built from data."""

from __future__ import annotations

from typing import Any

from bot import mrkdwn
from storage.models import Circle, Membership

MAX_CIRCLES_SHOWN = 40  # a Home view holds at most 100 blocks


def build_home(memberships: list[tuple[Circle, Membership]]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Your peer coaching circles"}}
    ]
    if not memberships:
        blocks.append(
            _section(
                "You're not in a circle yet. A facilitator adds people with `/circle add @you`, "
                "or start one in a channel with `/circle create &lt;name&gt;`."
            )
        )
    for circle, membership in memberships[:MAX_CIRCLES_SHOWN]:
        blocks.append(
            _section(
                f"*{mrkdwn.escape(circle.name)}* in {mrkdwn.channel(circle.channel_id)}"
                f"\nYou are a {membership.role}."
            )
        )
    hidden = len(memberships) - MAX_CIRCLES_SHOWN
    if hidden > 0:
        blocks.append(_context(f"…and {hidden} more. Type `/circle help` in a circle's channel."))
    blocks.append({"type": "divider"})
    blocks.append(_context("Type `/circle help` in any channel to see what Circlebot can do."))
    return {"type": "home", "blocks": blocks}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
