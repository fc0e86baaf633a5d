"""A minimal Socket Mode (WebSocket, RFC 6455) endpoint for FakeSlack.

Enough for slack_sdk's builtin ``SocketModeClient``: ``apps.connections.open`` hands out a
``ws://127.0.0.1:PORT/link/?ticket=...`` URL; the HTTP server upgrades that request, sends a
``hello``, answers pings, pushes envelopes and records the client's acks.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from .fake_http import FakeSlackHandler

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """A single unmasked, final server-to-client frame."""
    length = len(payload)
    head = bytes([0x80 | opcode])
    if length <= 125:
        head += bytes([length])
    elif length <= 0xFFFF:
        head += struct.pack("!BH", 126, length)
    else:
        head += struct.pack("!BQ", 127, length)
    return head + payload


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("socket closed")
        buf += chunk
    return bytes(buf)


def read_frame(sock: socket.socket) -> tuple[bool, int, bytes]:
    """Read one frame; returns (fin, opcode, unmasked payload)."""
    b1, b2 = _recv_exact(sock, 2)
    length = b2 & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", _recv_exact(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", _recv_exact(sock, 8))
    mask = _recv_exact(sock, 4) if b2 & 0x80 else b""
    data = _recv_exact(sock, length) if length else b""
    if mask:
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return bool(b1 & 0x80), b1 & 0x0F, data


@dataclass
class _Conn:
    id: str
    sock: socket.socket
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    alive: bool = True

    def send(self, opcode: int, payload: bytes) -> None:
        with self.send_lock:
            self.sock.sendall(encode_frame(opcode, payload))


class SocketModeHub:
    """Tickets, live WebSocket connections and envelope delivery."""

    def __init__(self, app_id: str, record: Callable[[str, dict[str, Any]], None]) -> None:
        self.app_id = app_id
        self._record = record
        self._cond = threading.Condition()
        self._tickets: set[str] = set()
        self._conns: list[_Conn] = []

    def new_url(self, base_url: str) -> str:
        ticket = uuid.uuid4().hex
        with self._cond:
            self._tickets.add(ticket)
        ws_base = base_url.replace("http://", "ws://", 1)
        return f"{ws_base}/link/?ticket={ticket}&app_id={self.app_id}"

    def connections(self) -> int:
        with self._cond:
            return sum(1 for c in self._conns if c.alive)

    def wait_for_connection(self, timeout: float) -> _Conn:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                alive = [c for c in self._conns if c.alive]
                if alive:
                    return alive[-1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("no Socket Mode client connected to FakeSlack")
                self._cond.wait(remaining)

    def serve(self, handler: FakeSlackHandler, query: str) -> None:
        """Take over an upgrade request and run the connection until it closes."""
        ticket = (parse_qs(query).get("ticket") or [""])[0]
        key = handler.headers.get("Sec-WebSocket-Key", "")
        with self._cond:
            valid = ticket in self._tickets
            self._tickets.discard(ticket)
        handler.close_connection = True
        if not valid or not key:
            handler.wfile.write(
                b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            return
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()  # noqa: S324
        handler.wfile.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        sock = handler.connection
        sock.settimeout(None)
        conn = _Conn(id=secrets.token_hex(6), sock=sock)
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {
                "host": "fake-slack",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
        conn.send(OP_TEXT, json.dumps(hello).encode())
        with self._cond:
            self._conns.append(conn)
            self._cond.notify_all()
        try:
            self._run(conn)
        finally:
            with self._cond:
                conn.alive = False
                self._conns = [c for c in self._conns if c is not conn]

    def _run(self, conn: _Conn) -> None:
        pending = b""
        while conn.alive:
            try:
                fin, opcode, data = read_frame(conn.sock)
            except (OSError, ConnectionError):
                return
            if opcode == OP_PING:
                conn.send(OP_PONG, data)
            elif opcode == OP_CLOSE:
                with contextlib.suppress(OSError):
                    conn.send(OP_CLOSE, data[:2] or struct.pack("!H", 1000))
                return
            elif opcode in (OP_TEXT, OP_CONT, OP_BINARY):
                pending += data
                if not fin:
                    continue
                text, pending = pending, b""
                try:
                    message = json.loads(text)
                except ValueError:
                    message = {"_raw": text.decode("utf-8", "replace")}
                if isinstance(message, dict):
                    self._record("socket_mode_ack", message)

    def send(self, message: dict[str, Any], timeout: float) -> None:
        conn = self.wait_for_connection(timeout)
        conn.send(OP_TEXT, json.dumps(message).encode())

    def close_all(self) -> None:
        with self._cond:
            conns, self._conns = list(self._conns), []
        for conn in conns:
            conn.alive = False
            with contextlib.suppress(OSError):
                conn.send(OP_CLOSE, struct.pack("!H", 1001))
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
