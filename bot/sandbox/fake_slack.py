"""FakeSlack: a faithful fake of the Slack Web API served over real HTTP on 127.0.0.1.

Used by the test-suite and by ``circlebot serve --sandbox``. Point a WebClient at it with
``WebClient(base_url=fake.api_url, token=fake.bot_token)``; drive the bot like Slack does with
the signed ``send_*`` methods; inspect what the bot did with ``calls``/``wait_for``/``messages``.

Behaviour choices where Slack's own behaviour is uncertain are documented on the methods,
e.g. posting to a deactivated person's id answers
``account_inactive`` (``deactivated_dm_error``), a trigger is consumed only by a successful
``views.open``/``views.push``, and a ``response_url`` use is counted only when accepted.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from .fake_demo import DEMO_CHANNEL_IDS, DEMO_USER_IDS, seed_demo
from .fake_http import (
    BadRequest,
    FakeSlackHandler,
    FakeSlackServer,
    Reply,
    decode_json_args,
    parse_body,
)
from .fake_models import ApiError, FakeUser, RecordedCall, SentRequest
from .fake_senders import SlackIdentity
from .fake_slack_side import SlackSide
from .fake_socket_mode import SocketModeHub
from .fake_workspace import FakeChannel, Workspace

__all__ = [
    "DEMO_CHANNEL_IDS",
    "DEMO_USER_IDS",
    "FakeSlack",
    "FakeSlackHandler",
    "FakeUser",
    "RecordedCall",
    "SentRequest",
]

_NO_AUTH_METHODS = frozenset({"api.test"})
_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
_JSON = [("Content-Type", "application/json; charset=utf-8")]
_TEXT = [("Content-Type", "text/plain; charset=utf-8")]
_SERVER_ERROR_PAGES = {
    500: b"<html><head><title>500 Internal Server Error</title></head>"
    b"<body><h1>Internal Server Error</h1></body></html>",
    503: b"<html><head><title>503 Service Unavailable</title></head>"
    b"<body><h1>Service Unavailable</h1></body></html>",
}


@dataclass
class _Injection:
    error: str
    status: int
    times: int
    match: Callable[[dict[str, Any]], bool] | None = None
    retry_after: float = 1.0
    extra: dict[str, Any] | None = None


@dataclass
class _Limit:
    limit: int
    per_seconds: float
    hits: deque[float] = field(default_factory=deque)


class _Drop:
    pass


_DROP = _Drop()


class FakeSlack(SlackSide):
    """A fake Slack workspace + Web API + the Slack side of interactions.

    Thread-safe: the HTTP server handles each connection in its own daemon thread; state
    changes take a lock; everything public may be called from any thread.
    """

    def __init__(
        self,
        *,
        team_id: str = "T0CIRCLE",
        team_domain: str = "circlebot-sandbox",
        bot_token: str | None = None,
        signing_secret: str | None = None,
        bot_user_id: str = "UBOT0001",
        trigger_ttl_seconds: float = 3.0,
        app_token: str | None = None,
        bot_id: str = "B0CIRCLE1",
        api_app_id: str = "A0CIRCLE1",
        response_url_ttl_seconds: float = 30 * 60,
        response_url_max_uses: int = 5,
        deactivated_dm_error: str | None = "account_inactive",
    ) -> None:
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_token = bot_token or "xoxb-" + secrets.token_hex(16)
        self.signing_secret = signing_secret or secrets.token_hex(16)
        self.app_token = app_token
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.api_app_id = api_app_id
        self.verification_token = secrets.token_urlsafe(18)
        self.workspace = Workspace(
            team_id=team_id,
            team_domain=team_domain,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            api_app_id=api_app_id,
            trigger_ttl_seconds=trigger_ttl_seconds,
            response_url_ttl_seconds=response_url_ttl_seconds,
            response_url_max_uses=response_url_max_uses,
            deactivated_dm_error=deactivated_dm_error,
        )
        self.identity = SlackIdentity(
            team_id=team_id,
            team_domain=team_domain,
            api_app_id=api_app_id,
            bot_user_id=bot_user_id,
            verification_token=self.verification_token,
        )
        self.calls: list[RecordedCall] = []
        self.sent: list[SentRequest] = []
        self._calls_cond = threading.Condition()
        self._ctl_lock = threading.RLock()
        self._limits: dict[str, _Limit] = {}
        self._injections: dict[str, list[_Injection]] = {}
        self._drops: dict[str, int] = {}
        self._methods = dict(self.workspace.methods)
        self._methods["apps.connections.open"] = self._apps_connections_open
        self._socket_mode = SocketModeHub(api_app_id, self._record_ack)
        self._server: FakeSlackServer | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None

    # ================================================================ lifecycle
    def start(self) -> FakeSlack:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        if self._server is not None:
            return self
        server = FakeSlackServer(("127.0.0.1", 0), self._dispatch)
        self._server = server
        self._base_url = f"http://127.0.0.1:{server.server_port}"
        self.workspace.base_url = self._base_url
        self._thread = threading.Thread(
            target=server.serve_forever,
            name=f"FakeSlack:{server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        # shutdown() waits for serve_forever's next poll; a throwaway connection wakes it now
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        while stopper.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", server.server_port), timeout=1).close()
            stopper.join(timeout=0.05)
        self._socket_mode.close_all()
        server.close_open_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (only after start())."""
        if self._base_url is None:
            raise RuntimeError("FakeSlack is not started; call start() first")
        return self._base_url

    @property
    def api_url(self) -> str:
        """What ``WebClient(base_url=...)`` takes: ``http://127.0.0.1:PORT/api/``."""
        return self.base_url + "/api/"

    # ================================================================ workspace state
    def add_user(self, user: FakeUser) -> FakeUser:
        """Add (or replace) a member; ``team_id`` is filled from the workspace when empty."""
        return self.workspace.add_user(user)

    def add_channel(
        self,
        channel_id: str,
        name: str,
        members: Iterable[str] = (),
        *,
        is_archived: bool = False,
        bot_is_member: bool = True,
        is_private: bool = False,
    ) -> None:
        """Add a channel (ids starting with G are private); the bot joins unless told not to."""
        self.workspace.add_channel(
            channel_id,
            name,
            members,
            is_archived=is_archived,
            bot_is_member=bot_is_member,
            is_private=is_private,
        )

    def add_message(
        self, channel_id: str, text: str, *, user: str, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """Store a message written by a person (the bot can read but not edit it)."""
        return self.workspace.add_message(channel_id, text, user=user, thread_ts=thread_ts)

    def seed_demo_workspace(self) -> None:
        """Fill the workspace with a small demo team.

        People (id, name, real name, tz, title):
          U0ANA0001 ana    Ana Souza       America/New_York     Head of Product
          U0BEN0002 ben    Ben Okafor      Europe/London        Product Lead, Payments
          U0CHLOE03 chloe  Chloe Martin    Europe/Berlin        Product Lead, Growth
          U0DANA004 dana   Dana Whitfield  America/Los_Angeles  Product Lead, Search
          U0EITAN05 eitan  Eitan Cohen     Europe/Berlin        Product Lead, Mobile
          U0FRAN006 fran   Fran Moretti    Europe/London        Product Lead, Platform
          U0GOPAL07 gopal  Gopal Rao       Asia/Kolkata         Product Lead, Data
          U0HANA008 hana   Hana Kim        America/Los_Angeles  Product Lead, Design Systems
        Bots and leavers:
          U0POLLY09 polly  Polly (another app's bot user, is_bot=True)
          U0OSCAR10 oscar  Oscar Lindqvist (deactivated, deleted=True)
        Channels (all eight people; the bot is a member unless noted):
          C0GENERAL  #general        (also polly)
          C0PRODLEAD #product-leads
          C0RANDOM1  #random         (bot NOT a member -> not_in_channel)
          C0OLDLNCH  #old-launch     (archived -> is_archived)
        The app's own bot user is ``bot_user_id`` (default UBOT0001, name "circlebot").
        Ids are also in ``DEMO_USER_IDS`` / ``DEMO_CHANNEL_IDS``.
        """
        seed_demo(self.workspace)

    def dm_channel_of(self, user_id: str) -> str:
        """The (stable) DM channel id between the bot and ``user_id``: ``"D" + user_id``."""
        return self.workspace.dm_channel_of(user_id)

    @property
    def users(self) -> dict[str, FakeUser]:
        """Snapshot of the members by id (the FakeUser objects themselves)."""
        with self.workspace.lock:
            return dict(self.workspace.users)

    @property
    def channels(self) -> dict[str, FakeChannel]:
        """Snapshot of the conversations by id (channels, DMs, group DMs)."""
        with self.workspace.lock:
            return dict(self.workspace.channels)

    def user(self, user_id: str) -> FakeUser:
        with self.workspace.lock:
            return self.workspace.users[user_id]

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Copies of stored messages (each with a ``channel`` key), oldest first."""
        ws = self.workspace
        with ws.lock:
            ws._deliver_due_locked()
            chans = [channel] if channel is not None else list(ws.messages)
            out = [
                {**copy.deepcopy(m), "channel": ch} for ch in chans for m in ws.messages.get(ch, [])
            ]
        if channel is None:
            out.sort(key=lambda m: m["ts"])
        return out

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[dict]:
        """Ephemeral messages (chat.postEphemeral and ephemeral response_url posts)."""
        with self.workspace.lock:
            return [
                copy.deepcopy(m)
                for m in self.workspace.ephemerals
                if (channel is None or m["channel"] == channel)
                and (user is None or m.get("ephemeral_user") == user)
            ]

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        """Snapshot of every view the bot opened/pushed/published, by view id."""
        with self.workspace.lock:
            return copy.deepcopy(self.workspace.views)

    def view(self, view_id: str) -> dict[str, Any]:
        with self.workspace.lock:
            return copy.deepcopy(self.workspace.views[view_id])

    def view_stack(self, view_id: str) -> list[str]:
        """Ids of the open modal stack that ``view_id`` belongs to (empty once closed)."""
        ws = self.workspace
        with ws.lock:
            view = ws.views.get(view_id)
            root = (view or {}).get("root_view_id") or view_id
            return list(ws.view_stacks.get(root, []))

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        """The Home tab last published for ``user_id`` (None if never published)."""
        ws = self.workspace
        with ws.lock:
            view_id = ws.home_views.get(user_id)
            return copy.deepcopy(ws.views[view_id]) if view_id else None

    def uploaded_file(self, file_id: str) -> bytes:
        """Bytes posted to a file's upload_url (KeyError if nothing was uploaded)."""
        return self.workspace.uploaded_file(file_id)

    # ================================================================ recording
    def _record(
        self,
        method: str,
        args: dict[str, Any],
        status: int,
        response: dict[str, Any],
        token: str | None,
    ) -> RecordedCall:
        call = RecordedCall(method, args, status, response, time.time(), token)
        with self._calls_cond:
            self.calls.append(call)
            self._calls_cond.notify_all()
        return call

    def _record_ack(self, method: str, message: dict[str, Any]) -> None:
        self._record(method, message, 200, {"ok": True}, self.app_token)

    def calls_snapshot(self) -> list[RecordedCall]:
        with self._calls_cond:
            return list(self.calls)

    def calls_to(self, method: str) -> list[RecordedCall]:
        with self._calls_cond:
            return [c for c in self.calls if c.method == method]

    def reset_calls(self) -> None:
        with self._calls_cond:
            self.calls.clear()

    def wait_for(
        self,
        predicate: Callable[[RecordedCall], bool] | str,
        *,
        count: int = 1,
        timeout: float = 5.0,
    ) -> list[RecordedCall]:
        """Wait until at least ``count`` recorded calls match; return all matches.

        ``predicate`` is a method name or a callable. On timeout raise AssertionError
        listing what was recorded.
        """
        matches: Callable[[RecordedCall], bool]
        if isinstance(predicate, str):
            name = predicate
            matches = lambda call: call.method == name  # noqa: E731
            label = repr(name)
        else:
            matches = predicate
            label = getattr(predicate, "__name__", "predicate")
        deadline = time.monotonic() + timeout
        with self._calls_cond:
            while True:
                found = [c for c in self.calls if matches(c)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    listing = "\n".join(
                        f"  {c.method} -> {c.status} {c.error or 'ok'}" for c in self.calls
                    )
                    raise AssertionError(
                        f"expected {count} call(s) matching {label} within {timeout}s, "
                        f"got {len(found)}. Recorded calls:\n{listing or '  (none)'}"
                    )
                self._calls_cond.wait(remaining)

    # ================================================================ failures and limits
    def set_rate_limit(self, method: str, limit: int, per_seconds: float = 60.0) -> None:
        """Allow ``limit`` calls per sliding ``per_seconds`` window; beyond it answer 429."""
        with self._ctl_lock:
            self._limits[method] = _Limit(limit=limit, per_seconds=per_seconds)

    def clear_rate_limits(self) -> None:
        with self._ctl_lock:
            self._limits.clear()

    def clear_failures(self) -> None:
        """Forget pending injected errors and connection drops."""
        with self._ctl_lock:
            self._injections.clear()
            self._drops.clear()

    def inject_error(
        self,
        method: str,
        error: str = "internal_error",
        *,
        status: int = 200,
        times: int = 1,
        match: Callable[[dict[str, Any]], bool] | None = None,
        retry_after: float = 1.0,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Fail the next ``times`` calls of ``method`` (whose args satisfy ``match``).

        status 200 -> ``{"ok": false, "error": error}``; 500/503 -> an HTML error page like
        Slack's edge; other statuses -> the JSON error body with that status (429 adds
        ``Retry-After: 1``, or ``retry_after``: tests may ask for less than Slack's whole
        seconds). ``extra`` adds fields to the JSON body (Slack's ``response_metadata``, or
        what a real error echoes of the request). ``method`` may also be "response_url" or
        "file_upload".
        """
        with self._ctl_lock:
            self._injections.setdefault(method, []).append(
                _Injection(
                    error=error,
                    status=status,
                    times=times,
                    match=match,
                    retry_after=retry_after,
                    extra=extra,
                )
            )

    def inject_connection_drop(self, method: str, times: int = 1) -> None:
        """Close the socket without answering the next ``times`` calls of ``method``."""
        with self._ctl_lock:
            self._drops[method] = self._drops.get(method, 0) + times

    def _gate(self, method: str, args: dict[str, Any]) -> Reply | _Drop | None:
        """Connection drops, injected errors and rate limits (None: carry on)."""
        if not (self._drops or self._injections or self._limits):
            return None
        with self._ctl_lock:
            if self._drops.get(method):
                self._drops[method] -= 1
                if not self._drops[method]:
                    del self._drops[method]
                return _DROP
            for inj in self._injections.get(method, []):
                if inj.match is None or inj.match(args):
                    inj.times -= 1
                    if inj.times <= 0:
                        self._injections[method].remove(inj)
                        if not self._injections[method]:
                            del self._injections[method]
                    body = _SERVER_ERROR_PAGES.get(inj.status)
                    if body is not None:
                        return inj.status, [("Content-Type", "text/html")], body
                    payload = json.dumps(
                        {"ok": False, "error": inj.error, **(inj.extra or {})}
                    ).encode()
                    headers = list(_JSON)
                    if inj.status == 429:
                        headers.append(("Retry-After", f"{inj.retry_after:g}"))
                    return inj.status, headers, payload
            lim = self._limits.get(method)
            if lim is not None:
                now = time.monotonic()
                while lim.hits and lim.hits[0] <= now - lim.per_seconds:
                    lim.hits.popleft()
                if len(lim.hits) >= lim.limit:
                    wait = max(1, math.ceil(lim.hits[0] + lim.per_seconds - now))
                    body = json.dumps({"ok": False, "error": "ratelimited"}).encode()
                    return 429, [*_JSON, ("Retry-After", str(wait))], body
                lim.hits.append(now)
        return None

    # ================================================================ HTTP dispatch
    def _dispatch(self, handler: FakeSlackHandler) -> Reply | None:
        path, _, query = handler.path.partition("?")
        if path.startswith("/api/"):
            return self._serve_api(handler, path[5:], query)
        if path.startswith("/link") and handler.headers.get("Upgrade", "").lower() == "websocket":
            self._socket_mode.serve(handler, query)
            return None
        body = handler.read_body()
        if path.startswith("/response/") and handler.command == "POST":
            return self._serve_response_url(path, body)
        if path.startswith("/upload/v1/") and handler.command == "POST":
            return self._serve_upload(path[len("/upload/v1/") :], handler, body)
        return 404, _TEXT, b"not found"

    def _serve_api(self, handler: FakeSlackHandler, method: str, query: str) -> Reply | None:
        body = handler.read_body()
        token: str | None = None
        auth = handler.headers.get("Authorization")
        if auth and auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
        try:
            args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
            args.update(parse_body(handler.headers.get("Content-Type", ""), body))
        except BadRequest as exc:
            args = {}
            reply: dict[str, Any] = {"ok": False, "error": str(exc)}
            self._record(method, args, 200, reply, token)
            return 200, _JSON, json.dumps(reply).encode()
        form_token = args.pop("token", None)
        if token is None and isinstance(form_token, str) and form_token:
            token = form_token
        decode_json_args(args)
        status, response = self._call_api(method, args, token)
        if status == 0:
            return None
        if isinstance(response, tuple):  # a canned failure reply from _gate
            return response
        return status, _JSON, json.dumps(response).encode()

    def _call_api(self, method: str, args: dict[str, Any], token: str | None) -> tuple[int, Any]:
        fn = self._methods.get(method)
        if fn is None:
            response = {"ok": False, "error": "unknown_method"}
            self._record(method, args, 404, response, token)
            return 404, response
        gated = self._gate(method, args)
        if gated is _DROP:
            self._record(method, args, 0, {"ok": False, "error": "connection_dropped"}, token)
            return 0, None
        if isinstance(gated, tuple):
            status, _headers, payload = gated
            try:
                recorded = json.loads(payload)
            except ValueError:
                recorded = {"ok": False, "error": f"http_{status}"}
            self._record(method, args, status, recorded, token)
            return status, gated
        try:
            self._check_token(method, token)
            status, response = 200, fn(args)
        except ApiError as exc:
            status, response = exc.status, exc.body()
        except Exception as exc:  # a bug in the fake: make it loud, not silent
            status, response = 500, {"ok": False, "error": "fake_slack_bug", "detail": repr(exc)}
        self._record(method, args, status, response, token)
        return status, response

    def _check_token(self, method: str, token: str | None) -> None:
        if method in _NO_AUTH_METHODS:
            return
        if not token:
            raise ApiError("not_authed")
        if method in _APP_TOKEN_METHODS:
            if token == self.bot_token:
                raise ApiError("not_allowed_token_type")
            if self.app_token is None or token != self.app_token:
                raise ApiError("invalid_auth")
            return
        if token == self.bot_token:
            return
        if self.app_token is not None and token == self.app_token:
            raise ApiError("not_allowed_token_type")
        raise ApiError("invalid_auth")

    def _serve_response_url(self, path: str, body: bytes) -> Reply | None:
        url = self.base_url + path
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            data = None
        args: dict[str, Any] = dict(data) if isinstance(data, dict) else {"_raw": body}
        args["_response_url"] = url
        gated = self._gate("response_url", args)
        if gated is _DROP:
            self._record(
                "response_url", args, 0, {"ok": False, "error": "connection_dropped"}, None
            )
            return None
        if isinstance(gated, tuple):
            self._record("response_url", args, gated[0], {"ok": False, "error": "injected"}, None)
            return gated
        if not isinstance(data, dict):
            status, text = 400, "invalid_payload"
        else:
            decode_json_args(data)
            args.update({k: data[k] for k in ("blocks", "attachments") if k in data})
            status, text = self.workspace.post_response_url(path.rsplit("/", 1)[-1], data)
        response = {"ok": True} if status == 200 else {"ok": False, "error": text}
        self._record("response_url", args, status, response, None)
        return status, _TEXT, text.encode()

    def _serve_upload(self, file_id: str, handler: FakeSlackHandler, body: bytes) -> Reply | None:
        ctype = handler.headers.get("Content-Type", "")
        data = body
        filename = None
        if ctype.lower().startswith("multipart/form-data"):
            try:
                parts = parse_body(ctype, body)
            except BadRequest:
                parts = {}
            filename = parts.pop("_filename", None)
            blobs = [v for v in parts.values() if isinstance(v, bytes)]
            data = blobs[0] if blobs else b""
        args: dict[str, Any] = {"file_id": file_id, "length": len(data)}
        if filename:
            args["filename"] = filename
        gated = self._gate("file_upload", args)
        if gated is _DROP:
            self._record("file_upload", args, 0, {"ok": False, "error": "connection_dropped"}, None)
            return None
        if isinstance(gated, tuple):
            self._record("file_upload", args, gated[0], {"ok": False, "error": "injected"}, None)
            return gated
        status, text = self.workspace.receive_upload(file_id, data)
        response = {"ok": True} if status == 200 else {"ok": False, "error": text}
        self._record("file_upload", args, status, response, None)
        return status, _TEXT, text.encode()

    # ================================================================ Socket Mode
    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self._socket_mode.new_url(self.base_url)}

    def send_socket_mode_envelope(
        self,
        type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = 5.0,
    ) -> str:
        """Push an envelope ("events_api", "slash_commands", "interactive") to the newest
        Socket Mode connection (waiting up to ``timeout`` for one); return its envelope_id.
        The client's ack is recorded as method "socket_mode_ack"."""
        envelope_id = secrets.token_hex(8) + "-" + secrets.token_hex(4)
        message: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": type,
            "accepts_response_payload": (
                type != "events_api"
                if accepts_response_payload is None
                else accepts_response_payload
            ),
        }
        if type == "events_api":
            message["retry_attempt"] = retry_attempt
            message["retry_reason"] = retry_reason
        self._socket_mode.send(message, timeout)
        return envelope_id

    def wait_for_socket_mode_connection(self, timeout: float = 5.0) -> None:
        self._socket_mode.wait_for_connection(timeout)

    def socket_mode_connections(self) -> int:
        return self._socket_mode.connections()

    def close_socket_mode_connections(self) -> None:
        """Close every Socket Mode connection from the server side (close frame 1001)."""
        self._socket_mode.close_all()

    def socket_mode_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the connected client to reconnect, like Slack does periodically."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-slack"}}
        self._socket_mode.send(message, timeout=1.0)
