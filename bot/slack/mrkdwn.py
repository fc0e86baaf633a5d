"""Safe mrkdwn: text a person wrote must never ping, mention or forge links."""

from __future__ import annotations


def escape(text: str) -> str:
    """Escape &, < and > so Slack shows the text literally (no <!channel>, <@U..>, <url|x>)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Undo Slack's escaping of slash-command text (it sends only & < > as entities)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def user(user_id: str) -> str:
    return f"<@{user_id}>"


def channel(channel_id: str) -> str:
    return f"<#{channel_id}>"
