"""The fake workspace: its state plus every Web API method FakeSlack answers.

Every method takes the merged request arguments and returns the JSON body of a successful
answer, or raises :class:`ApiError`.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from typing import Any

from .fake_api_chat import ChatApi
from .fake_api_views import ViewsFilesApi
from .fake_models import ApiError
from .fake_state import FakeChannel, _paginate, _required, flag

Method = Callable[[dict[str, Any]], dict[str, Any]]

__all__ = ["FakeChannel", "Method", "Workspace"]


class Workspace(ChatApi, ViewsFilesApi):
    """State + methods; ``methods`` maps Slack method names to implementations."""

    @functools.cached_property
    def methods(self) -> dict[str, Method]:
        return {
            "api.test": self.api_test,
            "auth.test": self.auth_test,
            "team.info": self.team_info,
            "bots.info": self.bots_info,
            "users.info": self.users_info,
            "users.list": self.users_list,
            "users.lookupByEmail": self.users_lookup_by_email,
            "conversations.info": self.conversations_info,
            "conversations.list": self.conversations_list,
            "conversations.open": self.conversations_open,
            "conversations.members": self.conversations_members,
            "conversations.join": self.conversations_join,
            "conversations.history": self.conversations_history,
            "conversations.replies": self.conversations_replies,
            "chat.postMessage": self.chat_post_message,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.update": self.chat_update,
            "chat.delete": self.chat_delete,
            "chat.getPermalink": self.chat_get_permalink,
            "chat.scheduleMessage": self.chat_schedule_message,
            "chat.deleteScheduledMessage": self.chat_delete_scheduled_message,
            "chat.scheduledMessages.list": self.chat_scheduled_messages_list,
            "reactions.add": self.reactions_add,
            "views.open": self.views_open,
            "views.push": self.views_push,
            "views.update": self.views_update,
            "views.publish": self.views_publish,
            "files.getUploadURLExternal": self.files_get_upload_url_external,
            "files.completeUploadExternal": self.files_complete_upload_external,
            "files.info": self.files_info,
        }

    # ------------------------------------------------------------ team / auth / users
    def api_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "args": {k: v for k, v in args.items() if isinstance(v, str)}}

    def auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": "circlebot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def team_info(self, args: dict[str, Any]) -> dict[str, Any]:
        team = {
            "id": self.team_id,
            "name": self.team_name,
            "domain": self.team_domain,
            "email_domain": "",
            "icon": {"image_default": True},
        }
        return {"ok": True, "team": team}

    def bots_info(self, args: dict[str, Any]) -> dict[str, Any]:
        bot = args.get("bot") or self.bot_id
        if bot != self.bot_id:
            raise ApiError("bot_not_found")
        info = {
            "id": self.bot_id,
            "deleted": False,
            "name": "Circlebot",
            "updated": 1700000000,
            "app_id": self.api_app_id,
            "user_id": self.bot_user_id,
            "icons": {},
        }
        return {"ok": True, "bot": info}

    def users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = _required(args, "user", "user_not_found")
        with self.lock:
            user = self.users.get(user_id)
        if user is None:
            raise ApiError("user_not_found")
        return {"ok": True, "user": self.user_json(user)}

    def users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            users = list(self.users.values())
        page, cursor = _paginate(users, args, 200)
        return {
            "ok": True,
            "members": [self.user_json(u) for u in page],
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": cursor},
        }

    def users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = _required(args, "email", "users_not_found").lower()
        with self.lock:
            found = [u for u in self.users.values() if u.email and u.email.lower() == email]
        if not found:
            raise ApiError("users_not_found")
        return {"ok": True, "user": self.user_json(found[0])}

    # ------------------------------------------------------------ conversations
    def conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = _required(args, "channel", "channel_not_found")
        with self.lock:
            ch = self._visible_channel_locked(channel_id)
            return {"ok": True, "channel": self._channel_json(ch)}

    def conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        types = set(str(args.get("types") or "public_channel").split(","))
        exclude_archived = flag(args.get("exclude_archived"))
        with self.lock:
            chans = []
            for ch in self.channels.values():
                kind = (
                    "im"
                    if ch.is_im
                    else "mpim"
                    if ch.is_mpim
                    else "private_channel"
                    if ch.is_private
                    else "public_channel"
                )
                if kind not in types or (exclude_archived and ch.is_archived):
                    continue
                if kind != "public_channel" and self.bot_user_id not in ch.members:
                    continue
                chans.append(self._channel_json(ch))
        page, cursor = _paginate(chans, args, 100)
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": cursor}}

    def conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            with self.lock:
                ch = self._visible_channel_locked(str(args["channel"]))
                return {"ok": True, "channel": {"id": ch.id}}
        ids = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
        if not ids:
            raise ApiError("users_list_not_supplied")
        if len(ids) > 8:
            raise ApiError("too_many_users")
        with self.lock:
            for uid in ids:
                user = self.users.get(uid)
                if user is None:
                    raise ApiError("user_not_found")
                if user.deleted:
                    raise ApiError("user_disabled")
                if user.is_bot and len(ids) == 1:
                    raise ApiError("cannot_dm_bot")
            if len(ids) == 1:
                channel_id = self._dm_locked(ids[0])
            else:
                members = sorted(set(ids))
                # The same people always get the same group DM (as on Slack); others another.
                digest = hashlib.sha1(",".join(members).encode()).hexdigest()  # noqa: S324
                channel_id = "G" + digest[:10].upper()
                if channel_id not in self.channels:
                    names = "--".join(self.users[m].name for m in members)
                    self.channels[channel_id] = FakeChannel(
                        id=channel_id,
                        name=f"mpdm-{names}-1",
                        members=[*members, self.bot_user_id],
                        is_mpim=True,
                        is_private=True,
                    )
                    self.messages.setdefault(channel_id, [])
            body: dict[str, Any] = {"ok": True, "channel": {"id": channel_id}}
            if flag(args.get("return_im")):
                body["channel"] = self._channel_json(self.channels[channel_id])
            return body

    def conversations_members(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = _required(args, "channel", "channel_not_found")
        with self.lock:
            members = list(self._visible_channel_locked(channel_id).members)
        page, cursor = _paginate(members, args, 100)
        return {"ok": True, "members": page, "response_metadata": {"next_cursor": cursor}}

    def conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = _required(args, "channel", "channel_not_found")
        with self.lock:
            ch = self._visible_channel_locked(channel_id)
            if ch.is_im or ch.is_mpim:
                raise ApiError("method_not_supported_for_channel_type")
            if ch.is_archived:
                raise ApiError("is_archived")
            if self.bot_user_id not in ch.members:
                ch.members = [*ch.members, self.bot_user_id]
            return {"ok": True, "channel": self._channel_json(ch)}

    def conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = _required(args, "channel", "channel_not_found")
        with self.lock:
            ch = self._visible_channel_locked(channel_id)
            if self.bot_user_id not in ch.members:
                raise ApiError("not_in_channel")
            self._deliver_due_locked()
            msgs = [
                dict(m)
                for m in reversed(self.messages.get(channel_id, []))
                if m.get("thread_ts") in (None, m["ts"])
            ]
        page, cursor = _paginate(msgs, args, 100)
        return {
            "ok": True,
            "messages": page,
            "has_more": bool(cursor),
            "response_metadata": {"next_cursor": cursor},
        }

    def conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = _required(args, "channel", "channel_not_found")
        ts = _required(args, "ts", "thread_not_found")
        with self.lock:
            self._visible_channel_locked(channel_id)
            if (channel_id, ts) not in self.message_index:
                raise ApiError("thread_not_found")
            msgs = [
                dict(m)
                for m in self.messages.get(channel_id, [])
                if m["ts"] == ts or m.get("thread_ts") == ts
            ]
        page, cursor = _paginate(msgs, args, 100)
        return {"ok": True, "messages": page, "has_more": bool(cursor)}
