"""views.*, response_url and files.* parts of the fake Web API."""

from __future__ import annotations

import copy
import secrets
import time
from typing import Any

from .fake_models import ApiError
from .fake_state import (
    MAX_MODAL_STACK,
    WorkspaceState,
    _File,
    _required,
    _ResponseUrl,
    _Trigger,
    _with_block_ids,
    flag,
)
from .fake_validation import check_message_content, check_view


class ViewsFilesApi(WorkspaceState):
    """Modals and Home tabs (with trigger_id rules), response_url posts and file uploads."""

    # ------------------------------------------------------------ triggers / views
    def issue_trigger_id(self, view_id: str | None = None) -> str:
        with self.lock:
            self._seq += 1
            trigger_id = f"{self._seq}.{int(time.time())}.{secrets.token_hex(16)}"
            self.triggers[trigger_id] = _Trigger(issued_at=time.monotonic(), view_id=view_id)
        return trigger_id

    def _check_trigger_locked(self, trigger_id: str) -> _Trigger:
        trig = self.triggers.get(trigger_id)
        if trig is None:
            raise ApiError("invalid_trigger_id")
        if trig.used or time.monotonic() - trig.issued_at > self.trigger_ttl_seconds:
            raise ApiError("expired_trigger_id")
        return trig

    def _view_json_locked(
        self,
        view: dict[str, Any],
        *,
        view_id: str,
        root_view_id: str | None,
        previous_view_id: str | None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": _with_block_ids(view.get("blocks") or []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": view.get("title"),
            "clear_on_close": flag(view.get("clear_on_close")),
            "notify_on_close": flag(view.get("notify_on_close")),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": previous_view_id,
            "root_view_id": root_view_id,
            "app_id": self.api_app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        if out["external_id"]:
            owner = self.external_ids.get(out["external_id"])
            if owner is not None and owner != view_id:
                raise ApiError("duplicate_external_id")
            self.external_ids[out["external_id"]] = view_id
        self.views[view_id] = out
        return out

    def open_view_locked(self, view: dict[str, Any], *, push_onto: str | None) -> dict[str, Any]:
        """Open a modal (new stack) or push it onto the stack whose root is ``push_onto``."""
        view_id = self._new_id_locked("V")
        if push_onto is not None and push_onto in self.view_stacks:
            stack = self.view_stacks[push_onto]
            if len(stack) >= MAX_MODAL_STACK:
                raise ApiError("push_limit_reached")
            out = self._view_json_locked(
                view, view_id=view_id, root_view_id=push_onto, previous_view_id=stack[-1]
            )
            self.view_stacks[push_onto] = [*stack, view_id]
        else:
            out = self._view_json_locked(
                view, view_id=view_id, root_view_id=view_id, previous_view_id=None
            )
            self.view_stacks[view_id] = [view_id]
        return out

    def _open_or_push(self, args: dict[str, Any], push: bool) -> dict[str, Any]:
        trigger_id = _required(args, "trigger_id", "invalid_trigger_id")
        view = args.get("view")
        check_view(view, expected_type="modal")
        assert isinstance(view, dict)
        with self.lock:
            trig = self._check_trigger_locked(trigger_id)
            root = None
            if push and trig.view_id is not None and trig.view_id in self.views:
                root = self.views[trig.view_id].get("root_view_id")
            out = self.open_view_locked(view, push_onto=root)
            trig.used = True
            return {"ok": True, "view": copy.deepcopy(out)}

    def views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._open_or_push(args, push=False)

    def views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._open_or_push(args, push=True)

    def update_view_locked(self, view_id: str, view: dict[str, Any]) -> dict[str, Any]:
        old = self.views[view_id]
        return self._view_json_locked(
            view,
            view_id=view_id,
            root_view_id=old.get("root_view_id"),
            previous_view_id=old.get("previous_view_id"),
        )

    def views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if not args.get("view_id") and not args.get("external_id"):
            raise ApiError("invalid_arguments", messages=["[ERROR] view_id or external_id"])
        with self.lock:
            view_id = str(args.get("view_id") or self.external_ids.get(str(args["external_id"])))
            current = self.views.get(view_id)
            if current is None or not self._is_open_locked(current):
                raise ApiError("not_found")
            expected = "home" if current["type"] == "home" else "modal"
        check_view(view, expected_type=expected)
        assert isinstance(view, dict)
        with self.lock:
            current = self.views.get(view_id)
            if current is None or not self._is_open_locked(current):
                raise ApiError("not_found")
            if args.get("hash") and args["hash"] != current["hash"]:
                raise ApiError("hash_conflict")
            return {"ok": True, "view": copy.deepcopy(self.update_view_locked(view_id, view))}

    def _is_open_locked(self, view: dict[str, Any]) -> bool:
        """Home tabs always are; a modal is while it is on an open stack."""
        if view["type"] == "home":
            return True
        return view["id"] in self.view_stacks.get(view.get("root_view_id") or view["id"], [])

    def views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = _required(args, "user_id", "invalid_arguments")
        view = args.get("view")
        check_view(view, expected_type="home")
        assert isinstance(view, dict)
        with self.lock:
            user = self.users.get(user_id)
            if user is None:
                raise ApiError("user_not_found")
            view_id = self.home_views.get(user_id)
            if view_id is not None:
                if args.get("hash") and args["hash"] != self.views[view_id]["hash"]:
                    raise ApiError("hash_conflict")
            else:
                view_id = self._new_id_locked("V")
                self.home_views[user_id] = view_id
            out = self._view_json_locked(
                view, view_id=view_id, root_view_id=view_id, previous_view_id=None
            )
            return {"ok": True, "view": copy.deepcopy(out)}

    def close_view_locked(self, view_id: str, *, clear: bool) -> None:
        view = self.views.get(view_id)
        if view is None:
            return
        root = view.get("root_view_id") or view_id
        stack = self.view_stacks.get(root, [])
        if clear or stack[:1] == [view_id]:
            self.view_stacks.pop(root, None)
        else:
            self.view_stacks[root] = [v for v in stack if v != view_id]

    # ------------------------------------------------------------ response_url
    def new_response_url(
        self, channel_id: str | None, message_ts: str | None, user_id: str | None
    ) -> str:
        key = secrets.token_hex(12)
        with self.lock:
            self.response_urls[key] = _ResponseUrl(
                created=time.monotonic(),
                channel_id=channel_id,
                message_ts=message_ts,
                user_id=user_id,
            )
        return f"{self.base_url}/response/{key}"

    def post_response_url(self, key: str, body: dict[str, Any]) -> tuple[int, str]:
        """Apply a post to a response_url; returns (HTTP status, plain-text answer)."""
        with self.lock:
            ru = self.response_urls.get(key)
            if ru is None:
                return 404, "no_service"
            if time.monotonic() - ru.created > self.response_url_ttl_seconds:
                return 404, "expired_url"
            if ru.uses >= self.response_url_max_uses:
                return 404, "used_url"
        delete = flag(body.get("delete_original"))
        try:
            check_message_content(body, require_content=not delete)
        except ApiError as exc:
            return 400, exc.error
        with self.lock:
            if ru.uses >= self.response_url_max_uses:
                return 404, "used_url"
            ru.uses += 1
            original = None
            if ru.channel_id and ru.message_ts:
                original = self.message_index.get((ru.channel_id, ru.message_ts))
            if delete:
                if original is not None and ru.channel_id:
                    self.delete_locked(ru.channel_id, original)
            elif flag(body.get("replace_original")) and original is not None:
                original["text"] = str(body.get("text") or "")
                if "blocks" in body:
                    original["blocks"] = _with_block_ids(body.get("blocks") or [])
                original["edited"] = {"user": self.bot_user_id, "ts": self._new_ts_locked()}
            elif body.get("response_type") == "in_channel" and ru.channel_id:
                self.post_locked(ru.channel_id, body)
            elif ru.channel_id:
                msg = self._bot_message(body)
                msg["ts"] = self._new_ts_locked()
                msg["channel"] = ru.channel_id
                msg["ephemeral_user"] = ru.user_id
                self.ephemerals.append(msg)
        return 200, "ok"

    # ------------------------------------------------------------ files
    def files_get_upload_url_external(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = _required(args, "filename")
        try:
            length = int(_required(args, "length"))
        except ValueError as exc:
            raise ApiError("invalid_arguments", messages=["[ERROR] length must be an int"]) from exc
        with self.lock:
            file_id = self._new_id_locked("F")
            self.files[file_id] = _File(
                id=file_id, name=filename, length=length, created=int(time.time())
            )
        return {
            "ok": True,
            "upload_url": f"{self.base_url}/upload/v1/{file_id}",
            "file_id": file_id,
        }

    def receive_upload(self, file_id: str, data: bytes) -> tuple[int, str]:
        with self.lock:
            f = self.files.get(file_id)
            if f is None:
                return 404, "file_not_found"
            f.data = data
        return 200, f"OK - {len(data)}"

    def uploaded_file(self, file_id: str) -> bytes:
        with self.lock:
            f = self.files.get(file_id)
            if f is None or f.data is None:
                raise KeyError(file_id)
            return f.data

    def _file_json(self, f: _File) -> dict[str, Any]:
        ext = f.name.rsplit(".", 1)[-1].lower() if "." in f.name else "text"
        return {
            "id": f.id,
            "created": f.created,
            "timestamp": f.created,
            "name": f.name,
            "title": f.title or f.name,
            "mimetype": "application/octet-stream",
            "filetype": ext,
            "user": self.bot_user_id,
            "size": len(f.data or b""),
            "url_private": f"{self.base_url}/files/{f.id}/{f.name}",
            "permalink": f"https://{self.team_domain}.slack.com/files/{self.bot_user_id}/{f.id}",
            "channels": list(f.channels),
            "shares": {},
        }

    def files_complete_upload_external(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        if not isinstance(files, list) or not files:
            raise ApiError("invalid_arguments", messages=["[ERROR] files must be a JSON array"])
        targets: list[str] = []
        if args.get("channel_id"):
            targets.append(str(args["channel_id"]))
        if args.get("channels"):
            targets.extend(c for c in str(args["channels"]).split(",") if c)
        with self.lock:
            chosen: list[_File] = []
            for item in files:
                f = self.files.get(str(item.get("id"))) if isinstance(item, dict) else None
                if f is None or f.data is None:
                    raise ApiError("file_not_found")
                chosen.append(f)
            channel_ids = [self._resolve_target_locked(t, allow_user=False) for t in targets]
            for f, item in zip(chosen, files, strict=True):
                if item.get("title"):
                    f.title = str(item["title"])
                for ch in channel_ids:
                    if ch not in f.channels:
                        f.channels = [*f.channels, ch]
            out = [self._file_json(f) for f in chosen]
            for ch in channel_ids:
                self.post_locked(
                    ch,
                    {
                        "text": args.get("initial_comment") or "",
                        "thread_ts": args.get("thread_ts"),
                        "files": [{"id": f.id, "name": f.name, "title": f.title} for f in chosen],
                    },
                )
        return {"ok": True, "files": out}

    def files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = _required(args, "file", "file_not_found")
        with self.lock:
            f = self.files.get(file_id)
            if f is None or f.data is None:
                raise ApiError("file_not_found")
            return {"ok": True, "file": self._file_json(f)}
