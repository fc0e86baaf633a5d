"""HTTP plumbing of FakeSlack: a threading HTTP/1.1 server and request parsing."""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from email.message import Message
from email.parser import BytesParser
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import parse_qsl

from .fake_validation import decode_json_arg

logger = logging.getLogger(__name__)

JSON_ARGS = ("blocks", "view", "attachments", "files", "metadata")

# (status, headers, body); None means "drop the connection without answering"
Reply = tuple[int, list[tuple[str, str]], bytes]
Dispatch = Callable[["FakeSlackHandler"], Reply | None]


class BadRequest(Exception):
    """The request body could not be parsed."""


def parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """Arguments carried by a request body (JSON, form-urlencoded or multipart)."""
    if not body:
        return {}
    ctype = content_type.lower()
    if ctype.startswith("application/json"):
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise BadRequest("invalid_json") from exc
        if not isinstance(data, dict):
            raise BadRequest("invalid_json")
        return data
    if ctype.startswith("multipart/form-data"):
        return parse_multipart(content_type, body)
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError as exc:
        raise BadRequest("invalid_form_data") from exc


def parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """Parse multipart/form-data with the stdlib email parser; file parts stay bytes."""
    raw = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    message = BytesParser().parsebytes(raw)
    out: dict[str, Any] = {}
    if not message.is_multipart():
        raise BadRequest("invalid_form_data")
    for part in cast(list[Message], message.get_payload()):
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        if part.get_filename():
            out[name] = data
            out.setdefault("_filename", part.get_filename())
        else:
            out[name] = data.decode("utf-8", "replace")
    return out


def decode_json_args(args: dict[str, Any]) -> dict[str, Any]:
    for key in JSON_ARGS:
        if key in args:
            args[key] = decode_json_arg(args[key])
    return args


class Headers(dict[str, str]):
    """Request headers with case-insensitive ``get`` (keys are stored lower-cased)."""

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


_REASONS = {s.value: s.phrase for s in HTTPStatus}
_date_cache: list[Any] = [0, ""]


def _http_date() -> str:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[:] = [now, formatdate(now, usegmt=True)]
    return str(_date_cache[1])


class FakeSlackHandler(socketserver.StreamRequestHandler):
    """A small HTTP/1.1 (keep-alive) request loop.

    http.server's BaseHTTPRequestHandler parses headers with the email package, which costs
    more than everything FakeSlack does with a request; this loop parses them directly and
    writes each answer with a single send.
    """

    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections are closed after this
    command: str = ""
    path: str = ""
    request_version: str = "HTTP/1.1"
    headers: Headers
    close_connection: bool = True
    _body_read: bool = False

    def setup(self) -> None:
        super().setup()
        cast(FakeSlackServer, self.server).track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            cast(FakeSlackServer, self.server).track(self.connection, add=False)

    def handle(self) -> None:
        self.close_connection = False
        while not self.close_connection:
            try:
                if not self._handle_one():
                    return
            except (TimeoutError, ConnectionError):
                return
            except OSError:
                return

    def _handle_one(self) -> bool:
        line = self.rfile.readline(65537)
        if not line:
            return False
        if line in (b"\r\n", b"\n"):
            return True
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            self.close_connection = True
            self.send_reply(400, [("Content-Type", "text/plain")], b"bad request")
            return False
        self.command, self.path, self.request_version = parts
        fields: dict[str, str] = {}
        while True:
            raw = self.rfile.readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        self.headers = Headers(fields)
        connection = fields.get("connection", "").lower()
        if self.request_version == "HTTP/1.0":
            self.close_connection = connection != "keep-alive"
        else:
            self.close_connection = connection == "close"
        if fields.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._body_read = False
        reply = cast(FakeSlackServer, self.server).dispatch(self)
        if reply is None:
            self.close_connection = True  # drop: close without answering
            return False
        if not self._body_read:
            self.read_body()
        self.send_reply(*reply)
        return True

    def read_body(self) -> bytes:
        self._body_read = True
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            return b""
        return self.rfile.read(length) if length > 0 else b""

    def send_reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, '')}",
            "Server: FakeSlack/1.0",
            f"Date: {_http_date()}",
            *(f"{name}: {value}" for name, value in headers),
            f"Content-Length: {len(body)}",
        ]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + body)


class FakeSlackServer(socketserver.TCPServer):
    """A TCP server that hands each connection to a cached pool of daemon worker threads.

    Like ThreadingMixIn (a thread per connection, so keep-alive connections never starve)
    but threads are reused, which saves a thread start per request when clients (urllib,
    hence slack_sdk's WebClient) open a new connection for every call.
    """

    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], dispatch: Dispatch) -> None:
        self.dispatch = dispatch
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._jobs: queue.SimpleQueue[tuple[Any, Any] | None] = queue.SimpleQueue()
        self._pool_lock = threading.Lock()
        self._idle = 0
        self._workers = 0
        super().__init__(address, FakeSlackHandler)

    @property
    def server_port(self) -> int:
        return int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._pool_lock:
            spawn = self._idle == 0
            if spawn:
                self._workers += 1
            else:
                self._idle -= 1
        self._jobs.put((request, client_address))
        if spawn:
            worker = threading.Thread(target=self._work, name="FakeSlack-worker", daemon=True)
            worker.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            request, client_address = job
            try:
                self.finish_request(request, client_address)
            except Exception:  # usually a client that went away mid-request
                logger.debug("FakeSlack: error while serving %s", client_address, exc_info=True)
            finally:
                self.shutdown_request(request)
            with self._pool_lock:
                self._idle += 1

    def server_close(self) -> None:
        super().server_close()
        with self._pool_lock:
            workers = self._workers
        for _ in range(workers):
            self._jobs.put(None)

    def track(self, sock: socket.socket, *, add: bool) -> None:
        with self._open_lock:
            if add:
                self._open.add(sock)
            else:
                self._open.discard(sock)

    def close_open_connections(self) -> None:
        with self._open_lock:
            socks, self._open = list(self._open), set()
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
