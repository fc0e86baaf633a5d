"""Message templates (Jinja2) and, later, question sets.

Every `{{ value }}` is mrkdwn-escaped unless the value is `Markup` (text the code built
itself, such as `<@U123>` mentions), so a person's words can never ping or forge links.
Undefined variables raise (StrictUndefined) instead of rendering as nothing.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

TEMPLATES_DIR = Path(__file__).parent

_SLACK_ID = re.compile(r"^[UWCGD][A-Z0-9]{2,}$")


def _escape_mrkdwn(value: Any) -> Any:
    if isinstance(value, Markup):
        return str(value)
    text = "" if value is None else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_id: str) -> Markup:
    if not _SLACK_ID.match(user_id):
        raise ValueError(f"not a Slack user id: {user_id!r}")
    return Markup(f"<@{user_id}>")  # noqa: S704 (validated id, no person-written text)


def channel_link(channel_id: str) -> Markup:
    if not _SLACK_ID.match(channel_id):
        raise ValueError(f"not a Slack channel id: {channel_id!r}")
    return Markup(f"<#{channel_id}>")  # noqa: S704 (validated id, no person-written text)


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=StrictUndefined,
        autoescape=False,  # noqa: S701 (mrkdwn, not HTML: finalize escapes every value)
        finalize=_escape_mrkdwn,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.globals.update(mention=mention, channel=channel_link)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context).strip()
