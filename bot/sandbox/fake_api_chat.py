"""chat.* and reactions.* methods of the fake Web API."""

from __future__ import annotations

import time
from typing import Any

from .fake_models import ApiError
from .fake_state import (
    MAX_SCHEDULE_AHEAD,
    SCHEDULE_MAX_PER_WINDOW,
    SCHEDULE_WINDOW,
    WorkspaceState,
    _paginate,
    _required,
    _with_block_ids,
)
from .fake_validation import check_message_content


class ChatApi(WorkspaceState):
    """Posting, editing, deleting and scheduling messages."""

    def chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        check_message_content(args)
        with self.lock:
            channel_id = self._resolve_target_locked(str(args.get("channel") or ""))
            msg = self.post_locked(channel_id, args)
            return {"ok": True, "channel": channel_id, "ts": msg["ts"], "message": dict(msg)}

    def chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        check_message_content(args)
        user_id = _required(args, "user", "user_not_in_channel")
        with self.lock:
            channel_id = self._resolve_target_locked(str(args.get("channel") or ""))
            if user_id not in self.channels[channel_id].members:
                raise ApiError("user_not_in_channel")
            msg = self._bot_message(args)
            msg["ts"] = self._new_ts_locked()
            msg["channel"] = channel_id
            msg["ephemeral_user"] = user_id
            if args.get("thread_ts"):
                msg["thread_ts"] = str(args["thread_ts"])
            self.ephemerals.append(msg)
            return {"ok": True, "message_ts": msg["ts"]}

    def _own_message_locked(self, args: dict[str, Any], not_own_error: str) -> tuple[str, dict]:
        channel_id = _required(args, "channel", "channel_not_found")
        ts = _required(args, "ts", "message_not_found")
        ch = self.channels.get(channel_id)
        if ch is None:
            raise ApiError("channel_not_found")
        msg = self.message_index.get((channel_id, ts))
        if msg is None:
            raise ApiError("message_not_found")
        if msg.get("bot_id") != self.bot_id:
            raise ApiError(not_own_error)
        return channel_id, msg

    def chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        check_message_content(args)
        with self.lock:
            channel_id, msg = self._own_message_locked(args, "cant_update_message")
            if "text" in args:
                msg["text"] = str(args.get("text") or "")
            if "blocks" in args:
                msg["blocks"] = _with_block_ids(args.get("blocks") or [])
            for key in ("attachments", "metadata"):
                if key in args:
                    msg[key] = args[key]
            msg["edited"] = {"user": self.bot_user_id, "ts": self._new_ts_locked()}
            return {
                "ok": True,
                "channel": channel_id,
                "ts": msg["ts"],
                "text": msg["text"],
                "message": dict(msg),
            }

    def chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            channel_id, msg = self._own_message_locked(args, "cant_delete_message")
            self.delete_locked(channel_id, msg)
            return {"ok": True, "channel": channel_id, "ts": msg["ts"]}

    def chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = _required(args, "channel", "channel_not_found")
        ts = _required(args, "message_ts", "message_not_found")
        with self.lock:
            if channel_id not in self.channels:
                raise ApiError("channel_not_found")
            if (channel_id, ts) not in self.message_index:
                raise ApiError("message_not_found")
        link = f"https://{self.team_domain}.slack.com/archives/{channel_id}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel_id, "permalink": link}

    def chat_schedule_message(self, args: dict[str, Any]) -> dict[str, Any]:
        check_message_content(args)
        try:
            post_at = int(float(_required(args, "post_at", "invalid_time")))
        except ValueError as exc:
            raise ApiError("invalid_time") from exc
        now = time.time()
        if post_at <= now:
            raise ApiError("time_in_past")
        if post_at > now + MAX_SCHEDULE_AHEAD:
            raise ApiError("time_too_far")
        with self.lock:
            channel_id = self._resolve_target_locked(str(args.get("channel") or ""))
            recent = [
                s
                for s in self.scheduled.values()
                if s["channel_id"] == channel_id and now - s["date_created"] < SCHEDULE_WINDOW
            ]
            if len(recent) >= SCHEDULE_MAX_PER_WINDOW:
                raise ApiError("restricted_too_many")
            sched_id = self._new_id_locked("Q")
            entry = {
                "id": sched_id,
                "channel_id": channel_id,
                "post_at": post_at,
                "date_created": int(now),
                "text": str(args.get("text") or ""),
                "args": dict(args),
            }
            self.scheduled[sched_id] = entry
            message = self._bot_message(args)
        return {
            "ok": True,
            "channel": channel_id,
            "scheduled_message_id": sched_id,
            "post_at": post_at,
            "message": message,
        }

    def chat_delete_scheduled_message(self, args: dict[str, Any]) -> dict[str, Any]:
        sched_id = _required(args, "scheduled_message_id", "invalid_scheduled_message_id")
        with self.lock:
            entry = self.scheduled.get(sched_id)
            if entry is None or entry["channel_id"] != args.get("channel"):
                raise ApiError("invalid_scheduled_message_id")
            del self.scheduled[sched_id]
        return {"ok": True}

    def chat_scheduled_messages_list(self, args: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._deliver_due_locked()
            items = [
                {k: v for k, v in e.items() if k != "args"}
                for e in self.scheduled.values()
                if not args.get("channel") or e["channel_id"] == args.get("channel")
            ]
        page, cursor = _paginate(items, args, 100)
        return {
            "ok": True,
            "scheduled_messages": page,
            "response_metadata": {"next_cursor": cursor},
        }

    def reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = _required(args, "channel", "channel_not_found")
        ts = _required(args, "timestamp", "message_not_found")
        name = _required(args, "name", "invalid_name").strip(":")
        with self.lock:
            msg = self.message_index.get((channel_id, ts))
            if msg is None:
                raise ApiError("message_not_found")
            reactions = [dict(r) for r in msg.get("reactions", [])]
            for r in reactions:
                if r["name"] == name:
                    if self.bot_user_id in r["users"]:
                        raise ApiError("already_reacted")
                    r["users"] = [*r["users"], self.bot_user_id]
                    r["count"] = len(r["users"])
                    break
            else:
                reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
            msg["reactions"] = reactions
        return {"ok": True}
