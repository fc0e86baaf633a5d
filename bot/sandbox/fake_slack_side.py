"""The Slack side of FakeSlack: signed requests to the bot, and what Slack does with answers."""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
from typing import Any

from .fake_http import decode_json_args
from .fake_models import ApiError, RecordedCall, SentRequest
from .fake_senders import (
    SlackIdentity,
    block_action_payload,
    event_envelope,
    form_body,
    interaction_body,
    post_signed,
    sign,
    slash_command_payload,
    view_closed_payload,
    view_submission_payload,
)
from .fake_validation import check_message_content, check_view
from .fake_workspace import Workspace

_ACTION_FIELDS = frozenset(
    {
        "text",
        "selected_option",
        "selected_options",
        "selected_date",
        "selected_time",
        "selected_user",
        "selected_users",
        "selected_channel",
        "selected_channels",
        "selected_conversation",
        "selected_conversations",
        "initial_option",
        "style",
    }
)


class SlackSide:
    """Mixin of FakeSlack: the requests Slack sends to an app (slash commands, interactions,
    events), signed with the signing secret, plus Slack's reaction to the app's answers."""

    workspace: Workspace
    identity: SlackIdentity
    signing_secret: str
    team_id: str
    verification_token: str
    sent: list[SentRequest]
    _calls_cond: threading.Condition

    def _record(
        self,
        method: str,
        args: dict[str, Any],
        status: int,
        response: dict[str, Any],
        token: str | None,
    ) -> RecordedCall:
        raise NotImplementedError

    def issue_trigger_id(self, view_id: str | None = None) -> str:
        """A fresh trigger_id, valid for ``trigger_ttl_seconds`` and one views.open/push.

        ``view_id`` ties it to an open modal so that views.push stacks onto it."""
        return self.workspace.issue_trigger_id(view_id)

    def new_response_url(
        self,
        *,
        channel_id: str | None = None,
        message_ts: str | None = None,
        user_id: str | None = None,
    ) -> str:
        """A response_url on the fake (5 uses / 30 min). With channel/message context a post
        with replace_original/delete_original edits that stored message, in_channel posts to
        the channel, anything else becomes an ephemeral message."""
        return self.workspace.new_response_url(channel_id, message_ts, user_id)

    def sign(
        self, body: bytes, timestamp: int | None = None, signing_secret: str | None = None
    ) -> dict[str, str]:
        """X-Slack-Request-Timestamp / X-Slack-Signature headers for ``body``."""
        ts = int(time.time()) if timestamp is None else timestamp
        return sign(body, ts, signing_secret or self.signing_secret)

    def _user_name(self, user_id: str) -> str:
        with self.workspace.lock:
            user = self.workspace.users.get(user_id)
        return user.name if user else user_id

    def _channel_name(self, channel_id: str | None) -> str | None:
        if channel_id is None:
            return None
        if channel_id.startswith("D"):
            return "directmessage"
        with self.workspace.lock:
            ch = self.workspace.channels.get(channel_id)
        if ch is not None:
            return ch.name
        return "privategroup" if channel_id.startswith("G") else channel_id

    def _send(
        self,
        kind: str,
        url: str,
        body: bytes,
        payload: dict[str, Any],
        *,
        content_type: str,
        timestamp: int | None = None,
        signing_secret: str | None = None,
        extra_headers: dict[str, str] | None = None,
        trigger_id: str | None = None,
        response_url: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        started = time.monotonic()
        status, headers, resp_body, req_headers = post_signed(
            url,
            body,
            content_type=content_type,
            signing_secret=signing_secret or self.signing_secret,
            timestamp=timestamp,
            extra_headers=extra_headers,
        )
        sent = SentRequest(
            kind=kind,
            url=url,
            headers=req_headers,
            body=body,
            payload=payload,
            status=status,
            response_headers=headers,
            response_body=resp_body,
            trigger_id=trigger_id,
            response_url=response_url,
            elapsed=time.monotonic() - started,
        )
        with self._calls_cond:
            self.sent.append(sent)
        return status, headers, resp_body

    def last_sent(self) -> SentRequest:
        with self._calls_cond:
            return self.sent[-1]

    def build_slash_command(
        self,
        *,
        user_id: str,
        channel_id: str,
        text: str,
        command: str = "/circle",
        channel_name: str | None = None,
        team_id: str | None = None,
    ) -> dict[str, str]:
        """The fields Slack sends for a slash command (fresh response_url and trigger_id)."""
        return slash_command_payload(
            self.identity,
            user_id=user_id,
            user_name=self._user_name(user_id),
            channel_id=channel_id,
            channel_name=channel_name or self._channel_name(channel_id) or channel_id,
            team_id=team_id or self.team_id,
            command=command,
            text=text,
            response_url=self.new_response_url(channel_id=channel_id, user_id=user_id),
            trigger_id=self.issue_trigger_id(),
        )

    def send_slash_command(
        self,
        request_url: str,
        *,
        user_id: str,
        channel_id: str,
        text: str,
        command: str = "/circle",
        channel_name: str | None = None,
        team_id: str | None = None,
        timestamp: int | None = None,
        signing_secret: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """POST a signed slash command (form-encoded) to the bot like Slack does.

        A non-empty 200 answer is shown to the person the way Slack would (ephemeral, or
        in the channel with ``response_type: in_channel``) and recorded as method
        "command_response"."""
        fields = self.build_slash_command(
            user_id=user_id,
            channel_id=channel_id,
            text=text,
            command=command,
            channel_name=channel_name,
            team_id=team_id,
        )
        status, headers, body = self._send(
            "slash_command",
            request_url,
            form_body(fields),
            dict(fields),
            content_type="application/x-www-form-urlencoded",
            timestamp=timestamp,
            signing_secret=signing_secret,
            trigger_id=fields["trigger_id"],
            response_url=fields["response_url"],
        )
        if status == 200 and body.strip():
            self._apply_command_response(channel_id, user_id, headers, body)
        return status, headers, body

    def _apply_command_response(
        self, channel_id: str, user_id: str, headers: dict[str, str], body: bytes
    ) -> None:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = {"text": body.decode("utf-8", "replace")}
        decode_json_args(data)
        try:
            check_message_content(data)
        except ApiError as exc:
            self._record("command_response", data, 200, exc.body(), None)
            return
        ws = self.workspace
        with ws.lock:
            if data.get("response_type") == "in_channel" and channel_id in ws.channels:
                ws.post_locked(channel_id, data)
            else:
                msg = ws._bot_message(data)
                msg.update({"ts": ws._new_ts_locked(), "channel": channel_id})
                msg["ephemeral_user"] = user_id
                ws.ephemerals.append(msg)
        self._record("command_response", data, 200, {"ok": True}, None)

    def _stored_view(self, view: dict[str, Any]) -> dict[str, Any]:
        """The current version of a view the fake knows (else the given dict)."""
        with self.workspace.lock:
            stored = self.workspace.views.get(str(view.get("id")))
            return copy.deepcopy(stored) if stored is not None else dict(view)

    def build_block_action(
        self,
        *,
        user_id: str,
        action_id: str,
        value: str | None = None,
        block_id: str = "b",
        channel_id: str | None = None,
        message: dict[str, Any] | None = None,
        view: dict[str, Any] | None = None,
        action_type: str = "button",
        **extra: Any,
    ) -> dict[str, Any]:
        """A block_actions payload. ``extra`` keys that are action fields (selected_option,
        selected_date, text, ...) go into the action; any other key goes top-level."""
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id,
            "type": action_type,
            "action_ts": f"{time.time():.6f}",
        }
        if action_type == "button":
            action["text"] = {"type": "plain_text", "text": "Button", "emoji": True}
        if value is not None:
            action["value"] = value
        top: dict[str, Any] = {}
        for key, val in extra.items():
            (action if key in _ACTION_FIELDS else top)[key] = val
        msg = None
        if message is not None:
            msg = {k: v for k, v in message.items() if k != "channel"}
            channel_id = channel_id or message.get("channel")
        view_obj = None
        if view is not None:
            view_obj = self._stored_view(view)
            if "state" in view:
                view_obj["state"] = view["state"]
        payload = block_action_payload(
            self.identity,
            user_id=user_id,
            user_name=self._user_name(user_id),
            action=action,
            trigger_id=self.issue_trigger_id(view_obj.get("id") if view_obj else None),
            channel_id=channel_id,
            channel_name=self._channel_name(channel_id),
            message=msg,
            view=view_obj,
            response_url=None
            if view_obj is not None
            else self.new_response_url(
                channel_id=channel_id,
                message_ts=msg.get("ts") if msg else None,
                user_id=user_id,
            ),
            is_ephemeral=msg is None and channel_id is not None,
        )
        payload.update(top)
        return payload

    def send_block_action(
        self,
        request_url: str,
        *,
        user_id: str,
        action_id: str,
        value: str | None = None,
        block_id: str = "b",
        channel_id: str | None = None,
        message: dict[str, Any] | None = None,
        view: dict[str, Any] | None = None,
        action_type: str = "button",
        timestamp: int | None = None,
        signing_secret: str | None = None,
        **extra: Any,
    ) -> tuple[int, dict[str, str], bytes]:
        """POST a signed block_actions interaction (``payload=<JSON>``).

        ``message`` may be a dict from :meth:`messages` (its response_url then edits that
        message); ``view`` a dict from :attr:`views` (its trigger then pushes onto it)."""
        payload = self.build_block_action(
            user_id=user_id,
            action_id=action_id,
            value=value,
            block_id=block_id,
            channel_id=channel_id,
            message=message,
            view=view,
            action_type=action_type,
            **extra,
        )
        return self._send(
            "block_actions",
            request_url,
            interaction_body(payload),
            payload,
            content_type="application/x-www-form-urlencoded",
            timestamp=timestamp,
            signing_secret=signing_secret,
            trigger_id=payload["trigger_id"],
            response_url=payload.get("response_url"),
        )

    def build_view_submission(
        self, *, user_id: str, view: dict[str, Any], state_values: dict[str, Any], **extra: Any
    ) -> dict[str, Any]:
        """A view_submission payload; a view known to the fake is sent in its current form."""
        view_obj = self._stored_view(view)
        payload = view_submission_payload(
            self.identity,
            user_id=user_id,
            user_name=self._user_name(user_id),
            view=view_obj,
            state_values=state_values,
            trigger_id=self.issue_trigger_id(str(view_obj.get("id") or "") or None),
        )
        payload.update(extra)
        return payload

    def send_view_submission(
        self,
        request_url: str,
        *,
        user_id: str,
        view: dict[str, Any],
        state_values: dict[str, Any],
        timestamp: int | None = None,
        signing_secret: str | None = None,
        **extra: Any,
    ) -> tuple[int, dict[str, str], bytes]:
        """POST a signed view_submission and apply the bot's answer like Slack: empty body
        closes the view; ``response_action`` errors/update/push/clear is validated and applied
        and recorded as method "response_action"."""
        payload = self.build_view_submission(
            user_id=user_id, view=view, state_values=state_values, **extra
        )
        status, headers, body = self._send(
            "view_submission",
            request_url,
            interaction_body(payload),
            payload,
            content_type="application/x-www-form-urlencoded",
            timestamp=timestamp,
            signing_secret=signing_secret,
            trigger_id=payload["trigger_id"],
        )
        if status == 200:
            self._apply_view_response(str(payload["view"]["id"]), body)
        return status, headers, body

    def _apply_view_response(self, view_id: str, body: bytes) -> None:
        ws = self.workspace
        if not body.strip():
            with ws.lock:
                ws.close_view_locked(view_id, clear=False)
            return
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self._record("response_action", {"_raw": body}, 200, _err("invalid_json"), None)
            return
        decode_json_args(data)
        action = data.get("response_action")
        try:
            if action == "errors":
                if not isinstance(data.get("errors"), dict) or not data["errors"]:
                    raise ApiError("invalid_errors")
            elif action in ("update", "push"):
                check_view(data.get("view"), expected_type="modal")
                with ws.lock:
                    if view_id in ws.views:
                        if action == "update":
                            ws.update_view_locked(view_id, data["view"])
                        else:
                            root = ws.views[view_id].get("root_view_id")
                            ws.open_view_locked(data["view"], push_onto=root)
            elif action == "clear":
                with ws.lock:
                    ws.close_view_locked(view_id, clear=True)
            else:
                raise ApiError("invalid_response_action")
        except ApiError as exc:
            self._record("response_action", data, 200, exc.body(), None)
            return
        self._record("response_action", data, 200, {"ok": True}, None)

    def send_view_closed(
        self,
        request_url: str,
        *,
        user_id: str,
        view: dict[str, Any],
        is_cleared: bool = False,
    ) -> tuple[int, dict[str, str], bytes]:
        """POST a signed view_closed (sent only for views with notify_on_close)."""
        view_obj = self._stored_view(view)
        with self.workspace.lock:
            if view_obj.get("id"):
                self.workspace.close_view_locked(str(view_obj["id"]), clear=is_cleared)
        payload = view_closed_payload(
            self.identity,
            user_id=user_id,
            user_name=self._user_name(user_id),
            view=view_obj,
            is_cleared=is_cleared,
        )
        return self._send(
            "view_closed",
            request_url,
            interaction_body(payload),
            payload,
            content_type="application/x-www-form-urlencoded",
        )

    def build_event(self, event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        """An Events API ``event_callback`` envelope around ``event``."""
        return event_envelope(self.identity, event, event_id=event_id)

    def send_event(
        self,
        request_url: str,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        timestamp: int | None = None,
        signing_secret: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """POST a signed JSON event_callback; retries carry X-Slack-Retry-Num/-Reason."""
        envelope = self.build_event(event, event_id=event_id)
        extra: dict[str, str] = {}
        if retry_num is not None:
            extra["X-Slack-Retry-Num"] = str(retry_num)
            extra["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        return self._send(
            "event",
            request_url,
            json.dumps(envelope).encode(),
            envelope,
            content_type="application/json",
            timestamp=timestamp,
            signing_secret=signing_secret,
            extra_headers=extra,
        )

    def send_url_verification(self, request_url: str) -> tuple[int, dict[str, str], bytes]:
        """The Events API handshake; a correct app echoes ``challenge`` back."""
        payload = {
            "token": self.verification_token,
            "challenge": secrets.token_urlsafe(24),
            "type": "url_verification",
        }
        return self._send(
            "url_verification",
            request_url,
            json.dumps(payload).encode(),
            payload,
            content_type="application/json",
        )


def _err(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}
