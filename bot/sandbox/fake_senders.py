"""The Slack side of FakeSlack: payload builders and a signed HTTP sender.

The builders produce the payloads Slack sends to an app (slash commands, interactions, Events
API envelopes); :func:`post_signed` delivers one to a Request URL with Slack's signature
headers and returns ``(status, headers, body)`` without raising on 4xx/5xx.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

__all__ = [
    "SlackIdentity",
    "block_action_payload",
    "event_envelope",
    "form_body",
    "interaction_body",
    "post_signed",
    "sign",
    "slash_command_payload",
    "view_closed_payload",
    "view_submission_payload",
]


@dataclass(frozen=True)
class SlackIdentity:
    """Who Slack says it is in the payloads it sends."""

    team_id: str
    team_domain: str
    api_app_id: str
    bot_user_id: str
    verification_token: str


def sign(body: bytes, timestamp: int, signing_secret: str) -> dict[str, str]:
    """Slack's v0 request signature headers: HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    verifier = SignatureVerifier(signing_secret)
    signature = verifier.generate_signature(timestamp=str(timestamp), body=body) or ""
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature}


def post_signed(
    url: str,
    body: bytes,
    *,
    content_type: str,
    signing_secret: str,
    timestamp: int | None = None,
    extra_headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes, dict[str, str]]:
    """POST a signed body; returns (status, response headers, response body, request headers)."""
    headers = {
        "Content-Type": content_type,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    headers.update(sign(body, int(time.time()) if timestamp is None else timestamp, signing_secret))
    headers.update(extra_headers or {})
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return resp.status, dict(resp.headers.items()), resp.read(), headers
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read(), headers


def form_body(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()


def interaction_body(payload: dict[str, Any]) -> bytes:
    """Interactions arrive as ``payload=<url-quoted JSON>``."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def _user(ident: SlackIdentity, user_id: str, user_name: str) -> dict[str, Any]:
    return {"id": user_id, "username": user_name, "name": user_name, "team_id": ident.team_id}


def slash_command_payload(
    ident: SlackIdentity,
    *,
    user_id: str,
    user_name: str,
    channel_id: str,
    channel_name: str,
    team_id: str,
    command: str,
    text: str,
    response_url: str,
    trigger_id: str,
) -> dict[str, str]:
    return {
        "token": ident.verification_token,
        "team_id": team_id,
        "team_domain": ident.team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": ident.api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def block_action_payload(
    ident: SlackIdentity,
    *,
    user_id: str,
    user_name: str,
    action: dict[str, Any],
    trigger_id: str,
    channel_id: str | None,
    channel_name: str | None,
    message: dict[str, Any] | None,
    view: dict[str, Any] | None,
    response_url: str | None,
    is_ephemeral: bool = False,
    message_ts: str | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(ident, user_id, user_name),
        "api_app_id": ident.api_app_id,
        "token": ident.verification_token,
        "trigger_id": trigger_id,
        "team": {"id": ident.team_id, "domain": ident.team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id")}
        payload["view"] = view
        payload["state"] = view.get("state") or {"values": {}}
    else:
        payload["container"] = {
            "type": "message",
            "message_ts": (message or {}).get("ts") or message_ts,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        }
        if channel_id is not None:
            payload["channel"] = {"id": channel_id, "name": channel_name or channel_id}
        if message is not None:
            payload["message"] = message
        payload["state"] = {"values": {}}
        payload["response_url"] = response_url
    payload["actions"] = [action]
    return payload


def view_submission_payload(
    ident: SlackIdentity,
    *,
    user_id: str,
    user_name: str,
    view: dict[str, Any],
    state_values: dict[str, Any],
    trigger_id: str,
) -> dict[str, Any]:
    submitted = {**view, "state": {"values": state_values}}
    submitted.setdefault("id", "V" + secrets.token_hex(5).upper())
    submitted.setdefault("team_id", ident.team_id)
    submitted.setdefault("type", "modal")
    submitted.setdefault("callback_id", "")
    submitted.setdefault("private_metadata", "")
    submitted.setdefault("hash", f"{int(time.time())}.{secrets.token_hex(4)}")
    submitted.setdefault("app_id", ident.api_app_id)
    submitted.setdefault("root_view_id", submitted["id"])
    return {
        "type": "view_submission",
        "team": {"id": ident.team_id, "domain": ident.team_domain},
        "user": _user(ident, user_id, user_name),
        "api_app_id": ident.api_app_id,
        "token": ident.verification_token,
        "trigger_id": trigger_id,
        "view": submitted,
        "response_urls": [],
        "enterprise": None,
        "is_enterprise_install": False,
    }


def view_closed_payload(
    ident: SlackIdentity, *, user_id: str, user_name: str, view: dict[str, Any], is_cleared: bool
) -> dict[str, Any]:
    return {
        "type": "view_closed",
        "team": {"id": ident.team_id, "domain": ident.team_domain},
        "user": _user(ident, user_id, user_name),
        "api_app_id": ident.api_app_id,
        "token": ident.verification_token,
        "view": view,
        "is_cleared": is_cleared,
        "enterprise": None,
        "is_enterprise_install": False,
    }


def event_envelope(
    ident: SlackIdentity, event: dict[str, Any], *, event_id: str | None = None
) -> dict[str, Any]:
    now = time.time()
    event = dict(event)
    event.setdefault("event_ts", f"{now:.6f}")
    return {
        "token": ident.verification_token,
        "team_id": ident.team_id,
        "context_team_id": ident.team_id,
        "context_enterprise_id": None,
        "api_app_id": ident.api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or "Ev" + secrets.token_hex(5).upper(),
        "event_time": int(now),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": ident.team_id,
                "user_id": ident.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-" + secrets.token_urlsafe(24),
    }
