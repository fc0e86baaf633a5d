"""What every `/circle` subcommand works with: who typed it where (`Invocation`), what it needs
(`Deps`), and what it answers (`Outcome`: the ack's text, and optional work after the ack whose
answer follows through the command's response_url, so Slack gets its ack within 3 seconds)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk import WebClient

from bot.core.settings import Settings
from bot.delivery.engine import Deliverer
from storage.db import Database

SORRY = (
    "Something went wrong on my side and nothing was changed. Please try again in a minute; "
    "if it keeps happening, tell whoever runs Circlebot."
)


@dataclass(frozen=True)
class Invocation:
    """Who typed the command, where."""

    team_id: str
    user_id: str
    channel_id: str
    channel_name: str
    text: str
    trigger_id: str = ""  # opens a modal within 3 seconds (forget-me's confirmation)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Invocation:
        return cls(
            team_id=payload.get("team_id", ""),
            user_id=payload.get("user_id", ""),
            channel_id=payload.get("channel_id", ""),
            channel_name=payload.get("channel_name", ""),
            text=payload.get("text", "") or "",
            trigger_id=payload.get("trigger_id", "") or "",
        )

    @property
    def in_direct_message(self) -> bool:
        return (
            self.channel_id.startswith("D")
            or self.channel_name == "directmessage"
            or self.channel_name.startswith("mpdm-")
        )


@dataclass
class Outcome:
    """What to answer in the ack, and optionally more work whose answer follows."""

    ack_text: str
    follow_up: Callable[[], str | None] | None = None


@dataclass
class Deps:
    db: Database
    client: WebClient
    clock: Callable[[], datetime]
    deliverer: Deliverer  # configured from settings (concurrency, lease, grace)
    settings: Settings
