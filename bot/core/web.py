"""HTTP surface: `POST /slack/events` (Bolt) and `GET /healthz`, served by waitress.

waitress is a production WSGI server (multi-threaded, pure Python). One process serves
requests; Bolt runs listeners on its own executor after the ack.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress import wasyncore
from waitress.server import create_server

from storage.db import Database

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
MAX_BODY_BYTES = 1_000_000  # Slack payloads are far smaller; refuse floods early


def make_wsgi_app(app: App, db: Database) -> WSGIApplication:
    slack = SlackRequestHandler(app, path=EVENTS_PATH)

    def health(start_response: StartResponse) -> Iterable[bytes]:
        reachable = db.is_reachable()
        body = json.dumps(
            {"status": "ok" if reachable else "degraded", "database": reachable}
        ).encode()
        start_response(
            "200 OK" if reachable else "503 Service Unavailable",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def plain(start_response: StartResponse, status: str, text: str) -> Iterable[bytes]:
        body = text.encode()
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [body]

    def wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz":
            if method not in ("GET", "HEAD"):
                return plain(start_response, "405 Method Not Allowed", "use GET")
            return health(start_response)
        if path == EVENTS_PATH:
            if method != "POST":
                return plain(start_response, "405 Method Not Allowed", "Slack sends POST")
            return slack(environ, start_response)
        return plain(start_response, "404 Not Found", "not found")

    return wsgi


class WebServer:
    """waitress bound to host:port; `serve_forever` until `stop()` or SIGTERM/SIGINT."""

    def __init__(
        self, wsgi_app: WSGIApplication, *, host: str, port: int, threads: int = 8
    ) -> None:
        self._server: Any = create_server(
            wsgi_app,
            host=host,
            port=port,
            threads=threads,
            max_request_body_size=MAX_BODY_BYTES,
            ident="circlebot",
            clear_untrusted_proxy_headers=True,
        )
        self._stopped = threading.Event()
        self._serving_thread: int | None = None

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        return f"http://{self._server.effective_host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve until stop(); the serving thread itself closes the sockets.

        Closing waitress's sockets from another thread races its select() (EBADF), so the
        loop runs one poll at a time and checks the stop flag in between.
        """
        server = self._server
        self._serving_thread = threading.get_ident()
        try:
            while not self._stopped.is_set():
                server.asyncore.loop(
                    timeout=server.adj.asyncore_loop_timeout,
                    map=server._map,
                    use_poll=server.adj.asyncore_use_poll,
                    count=1,
                )
        finally:
            server.task_dispatcher.shutdown()  # lets requests in progress finish (up to 5 s)
            wasyncore.close_all(server._map)

    def stop(self) -> None:
        """Ask the serving thread to stop; safe from any thread and from signal handlers."""
        self._stopped.set()
        if threading.get_ident() != self._serving_thread:
            # Wake the poll now instead of after its timeout. Not from the serving thread
            # itself (a signal handler there): the trigger's lock might be held under us.
            with contextlib.suppress(OSError):  # it may already be closing its wake-up pipe
                self._server.trigger.pull_trigger()

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="web", daemon=True)
        thread.start()
        return thread


def stop_on_signals(stop: Callable[[], None], *, interrupt: bool = False) -> None:
    """Run `stop` on SIGTERM or SIGINT (main thread only).

    With `interrupt`, the handler also raises KeyboardInterrupt so a main thread blocked in
    input() (the sandbox prompt) wakes up and ends too.
    """

    def handler(signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        stop()
        if interrupt:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
