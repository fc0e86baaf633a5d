"""State of the fake workspace, shared by the Web API method groups.

Validation happens before the state lock is taken; the lock is held only while state is read
or mutated, and answers are shallow copies made under the lock (stored objects are never
mutated in place below their top level, so a copy can be serialised safely while other
threads keep working).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .fake_models import ApiError, FakeUser, tz_fields

MAX_SCHEDULE_AHEAD = 120 * 24 * 3600
SCHEDULE_WINDOW = 300
SCHEDULE_MAX_PER_WINDOW = 30
MAX_MODAL_STACK = 3


@dataclass
class FakeChannel:
    id: str
    name: str
    members: list[str]
    is_archived: bool = False
    is_private: bool = False
    is_im: bool = False
    is_mpim: bool = False
    user: str | None = None  # the other person of a DM
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass
class _Trigger:
    issued_at: float
    view_id: str | None = None
    used: bool = False


@dataclass
class _ResponseUrl:
    created: float
    channel_id: str | None = None
    message_ts: str | None = None
    user_id: str | None = None
    uses: int = 0


@dataclass
class _File:
    id: str
    name: str
    length: int
    created: int
    title: str = ""
    data: bytes | None = None
    channels: list[str] = field(default_factory=list)


def flag(value: Any) -> bool:
    """Slack boolean argument: True, 1, "1", "true"."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _required(args: dict[str, Any], name: str, error: str = "invalid_arguments") -> str:
    value = args.get(name)
    if value is None or value == "":
        raise ApiError(error, messages=[f"[ERROR] missing required field: {name}"])
    return str(value)


def _paginate(items: list[Any], args: dict[str, Any], default_limit: int) -> tuple[list[Any], str]:
    try:
        limit = int(args.get("limit") or default_limit)
    except (TypeError, ValueError) as exc:
        raise ApiError("invalid_limit") from exc
    limit = max(1, min(limit, 1000))
    start = 0
    cursor = args.get("cursor")
    if cursor:
        try:
            kind, _, num = base64.b64decode(str(cursor)).decode().partition(":")
            start = int(num)
            if kind != "offset" or start < 0:
                raise ValueError(cursor)
        except (ValueError, binascii.Error) as exc:
            raise ApiError("invalid_cursor") from exc
    page = items[start : start + limit]
    end = start + limit
    next_cursor = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return page, next_cursor


def _with_block_ids(blocks: list[Any]) -> list[Any]:
    """Slack fills in a block_id for every block that lacks one."""
    out: list[Any] = []
    for block in blocks:
        if isinstance(block, dict) and "block_id" not in block:
            block = {**block, "block_id": secrets.token_urlsafe(4)[:5]}
        out.append(block)
    return out


class WorkspaceState:
    """Members, conversations, messages, views, files... and the helpers that change them."""

    def __init__(
        self,
        *,
        team_id: str,
        team_domain: str,
        bot_user_id: str,
        bot_id: str,
        api_app_id: str,
        trigger_ttl_seconds: float,
        response_url_ttl_seconds: float,
        response_url_max_uses: int,
        deactivated_dm_error: str | None,
    ) -> None:
        self.team_id = team_id
        self.team_domain = team_domain
        self.team_name = team_domain.replace("-", " ").title()
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.api_app_id = api_app_id
        self.trigger_ttl_seconds = trigger_ttl_seconds
        self.response_url_ttl_seconds = response_url_ttl_seconds
        self.response_url_max_uses = response_url_max_uses
        self.deactivated_dm_error = deactivated_dm_error
        self.base_url = "http://127.0.0.1:0"
        self.lock = threading.Lock()
        self.users: dict[str, FakeUser] = {}
        self.channels: dict[str, FakeChannel] = {}
        self.dm_by_user: dict[str, str] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.message_index: dict[tuple[str, str], dict[str, Any]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.scheduled: dict[str, dict[str, Any]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.view_stacks: dict[str, list[str]] = {}
        self.external_ids: dict[str, str] = {}
        self.home_views: dict[str, str] = {}
        self.triggers: dict[str, _Trigger] = {}
        self.response_urls: dict[str, _ResponseUrl] = {}
        self.files: dict[str, _File] = {}
        self._last_ts = 0
        self._seq = 0
        self.add_user(
            FakeUser(id=bot_user_id, name="circlebot", real_name="Circlebot", is_bot=True)
        )

    # ------------------------------------------------------------------ ids
    def next_seq(self) -> int:
        with self.lock:
            self._seq += 1
            return self._seq

    def _new_ts_locked(self) -> str:
        micros = max(int(time.time() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _new_id_locked(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq:09d}"

    # ------------------------------------------------------------ seeding
    def add_user(self, user: FakeUser) -> FakeUser:
        if not user.team_id:
            user.team_id = self.team_id
        with self.lock:
            self.users[user.id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        name: str,
        members: Iterable[str],
        *,
        is_archived: bool = False,
        bot_is_member: bool = True,
        is_private: bool = False,
    ) -> FakeChannel:
        member_list = [m for m in dict.fromkeys(members) if m != self.bot_user_id]
        if bot_is_member:
            member_list.append(self.bot_user_id)
        channel = FakeChannel(
            id=channel_id,
            name=name,
            members=member_list,
            is_archived=is_archived,
            is_private=is_private or channel_id.startswith("G"),
        )
        with self.lock:
            self.channels[channel_id] = channel
            self.messages.setdefault(channel_id, [])
        return channel

    def dm_channel_of(self, user_id: str) -> str:
        with self.lock:
            return self._dm_locked(user_id)

    def _dm_locked(self, user_id: str) -> str:
        existing = self.dm_by_user.get(user_id)
        if existing:
            return existing
        channel_id = f"D{user_id}"
        self.channels[channel_id] = FakeChannel(
            id=channel_id,
            name=user_id,
            members=[user_id, self.bot_user_id],
            is_im=True,
            user=user_id,
        )
        self.messages.setdefault(channel_id, [])
        self.dm_by_user[user_id] = channel_id
        return channel_id

    def add_message(
        self, channel_id: str, text: str, *, user: str, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """Store a message written by a person (so the bot can read, not edit, it)."""
        with self.lock:
            if channel_id not in self.channels:
                raise KeyError(channel_id)
            msg: dict[str, Any] = {"type": "message", "user": user, "text": text}
            msg["ts"] = self._new_ts_locked()
            msg["team"] = self.team_id
            if thread_ts:
                msg["thread_ts"] = thread_ts
            self._store_locked(channel_id, msg)
            return dict(msg)

    # ------------------------------------------------------------ JSON shapes
    def user_json(self, user: FakeUser) -> dict[str, Any]:
        tz, tz_label, tz_offset = tz_fields(user.tz)
        display = user.display_name  # Slack leaves it empty unless the person set one
        out: dict[str, Any] = {
            "id": user.id,
            "team_id": user.team_id or self.team_id,
            "name": user.name,
            "deleted": user.deleted,
            "color": "9f69e7",
            "real_name": user.real_name or user.name,
            "tz": tz,
            "tz_label": tz_label,
            "tz_offset": tz_offset,
            "profile": {
                "title": user.title,
                "real_name": user.real_name or user.name,
                "real_name_normalized": user.real_name or user.name,
                "display_name": display,
                "display_name_normalized": display,
                "email": user.email or None,
                "team": user.team_id or self.team_id,
            },
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "updated": 1700000000,
        }
        if user.id == self.bot_user_id:
            out["profile"]["bot_id"] = self.bot_id
            out["profile"]["api_app_id"] = self.api_app_id
        return out

    def _channel_json(self, ch: FakeChannel) -> dict[str, Any]:
        if ch.is_im:
            user = self.users.get(ch.user or "")
            return {
                "id": ch.id,
                "created": ch.created,
                "is_im": True,
                "is_org_shared": False,
                "user": ch.user,
                "is_user_deleted": bool(user and user.deleted),
                "priority": 0,
                "is_archived": False,
            }
        return {
            "id": ch.id,
            "name": ch.name,
            "name_normalized": ch.name,
            "is_channel": not ch.is_private and not ch.is_mpim,
            "is_group": ch.is_private and not ch.is_mpim,
            "is_im": False,
            "is_mpim": ch.is_mpim,
            "is_private": ch.is_private or ch.is_mpim,
            "created": ch.created,
            "is_archived": ch.is_archived,
            "is_general": ch.name == "general",
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": self.bot_user_id in ch.members,
            "creator": "",
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "num_members": len(ch.members),
        }

    def _visible_channel_locked(self, channel_id: str) -> FakeChannel:
        ch = self.channels.get(channel_id)
        if ch is None or (
            (ch.is_private or ch.is_im or ch.is_mpim) and self.bot_user_id not in ch.members
        ):
            raise ApiError("channel_not_found")
        return ch

    # ------------------------------------------------------------ messages
    def _resolve_target_locked(self, target: str, *, allow_user: bool = True) -> str:
        """Map a chat.postMessage `channel` (C/G/D id or U/W user id) to a conversation id."""
        if not target:
            raise ApiError("channel_not_found")
        if target[0] in "UW" and allow_user:
            user = self.users.get(target)
            if user is None:
                raise ApiError("channel_not_found")
            if user.is_bot:
                raise ApiError("cannot_dm_bot")
            if user.deleted and self.deactivated_dm_error:
                raise ApiError(self.deactivated_dm_error)
            return self._dm_locked(target)
        ch = self.channels.get(target)
        if ch is None:
            raise ApiError("channel_not_found")
        if ch.is_im:
            user = self.users.get(ch.user or "")
            if user is not None and user.deleted and self.deactivated_dm_error:
                raise ApiError(self.deactivated_dm_error)
            return ch.id
        if ch.is_private and self.bot_user_id not in ch.members:
            raise ApiError("channel_not_found")
        if ch.is_archived:
            raise ApiError("is_archived")
        if self.bot_user_id not in ch.members:
            raise ApiError("not_in_channel")
        return ch.id

    def _bot_message(self, args: dict[str, Any]) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "user": self.bot_user_id,
            "type": "message",
            "bot_id": self.bot_id,
            "app_id": self.api_app_id,
            "text": str(args.get("text") or ""),
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.api_app_id,
                "name": "Circlebot",
                "team_id": self.team_id,
                "deleted": False,
            },
        }
        if args.get("blocks"):
            msg["blocks"] = _with_block_ids(args["blocks"])
        for key in ("attachments", "metadata", "files"):
            if args.get(key):
                msg[key] = args[key]
        return msg

    def _store_locked(self, channel_id: str, msg: dict[str, Any]) -> None:
        self.messages.setdefault(channel_id, []).append(msg)
        self.message_index[(channel_id, msg["ts"])] = msg
        thread_ts = msg.get("thread_ts")
        parent = self.message_index.get((channel_id, thread_ts)) if thread_ts else None
        if parent is not None and parent is not msg:
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = int(parent.get("reply_count", 0)) + 1
            users = list(parent.get("reply_users", []))
            if msg.get("user") and msg["user"] not in users:
                users.append(msg["user"])
            parent["reply_users"] = users
            parent["latest_reply"] = msg["ts"]

    def post_locked(self, channel_id: str, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._bot_message(args)
        msg["ts"] = self._new_ts_locked()
        if args.get("thread_ts"):
            msg["thread_ts"] = str(args["thread_ts"])
            parent = self.message_index.get((channel_id, msg["thread_ts"]))
            if parent is not None and parent.get("user"):
                msg["parent_user_id"] = parent["user"]
        self._store_locked(channel_id, msg)
        return msg

    def delete_locked(self, channel_id: str, msg: dict[str, Any]) -> None:
        self.message_index.pop((channel_id, msg["ts"]), None)
        self.messages[channel_id] = [m for m in self.messages[channel_id] if m is not msg]

    def _deliver_due_locked(self) -> None:
        if not self.scheduled:
            return
        now = time.time()
        for sched_id, entry in list(self.scheduled.items()):
            if entry["post_at"] <= now:
                del self.scheduled[sched_id]
                self.post_locked(entry["channel_id"], entry["args"])
