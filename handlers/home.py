"""The App Home tab: the circles a person belongs to and what to do next."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot import circles
from bot.app import Services
from bot.home import build_home
from handlers.registry import Registrar

logger = logging.getLogger(__name__)


def publish_home(services: Services, client: WebClient, *, team_id: str, user_id: str) -> None:
    """Build and publish a person's App Home. Other handlers call it after a change the
    Home shows (a reflection saved, an action item done)."""
    with services.db.session() as session:
        mine = circles.circles_of(session, team_id, user_id)
        view = build_home(mine)
    client.views_publish(user_id=user_id, view=view)


def app_home_opened(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    if event.get("tab") != "home":
        return
    publish_home(context["services"], client, team_id=context.team_id or "", user_id=event["user"])


def register(registrar: Registrar) -> None:
    registrar.event("app_home_opened", app_home_opened)
