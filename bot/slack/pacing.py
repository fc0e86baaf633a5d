"""The fan-out's Slack client: paced so Slack's rate limit, not bursts and back-offs, bounds a
fan-out, and keeping its HTTP connections alive.

Slack answers a burst beyond its limit with 429 and a whole-second Retry-After. Senders that
each sleep on their own keep bursting into the limit and lose much of the allowed rate. The
`SendPacer` is shared by all senders of a fan-out: every send, and every retry of a throttled
send, takes a turn from it. A 429 pauses all of them until Slack's Retry-After; the sends that
succeeded just before it give an estimate of the allowed rate, and later turns are spaced at
slightly under that rate. Until the first 429 nothing is paced.

Sends that leave on time can still arrive at Slack bunched, and a bunch overruns a sliding
window: so senders that wake late together (this process was paused) go one by one, and only
as many sends are in flight as the pace needs, so that a slow spell at Slack's end does not
pile sends up there to arrive together when it ends.

A pause costs at least a second of sending, so the pace is raised only now and then to find a
higher limit; a raise that runs into a 429 goes back to the rate before it and the next raise
waits twice as long.

slack-sdk's WebClient opens a new connection (a TCP and TLS handshake) for every call through
urllib, which costs more than everything else a send does. `KeepAliveWebClient` keeps
connections open between calls; retries, errors and responses stay slack-sdk's own.
"""

from __future__ import annotations

import http.client
import io
import math
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request

from slack_sdk import WebClient
from slack_sdk.http_retry import RateLimitErrorRetryHandler, RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

HEADROOM = 0.97  # pace a little under the estimated limit
BACK_OFF = 1.02  # a 429 at a rate that was fine before (timing jitter): slow down by 2 %
PROBE_EVERY = 30.0  # seconds without a 429 before the pace is first raised
PROBE_EVERY_MAX = 480.0  # raises that keep failing are tried at most this rarely
PROBE_STEP = 0.98  # interval multiplier per raise (about +2 % rate)
IN_FLIGHT_SPARE = 2  # sends in flight beyond what the pace and Slack's usual answer time need
CATCH_UP = 0.985  # senders that woke late together go at least this share of the interval apart


class SendPacer:
    """Turns to send, shared by all senders of a fan-out (thread-safe).

    Each send is `with pacer.turn(): client.chat_postMessage(...)`: it waits for its turn and
    tells the pacer when Slack answered, and whether Slack accepted it.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._answer = threading.Condition(self._lock)  # notified whenever Slack answers
        self._interval = 0.0  # seconds between sends; 0 until Slack first throttles us
        self._next_at = 0.0  # the next free turn
        self._resume_at = 0.0  # end of the current Retry-After pause
        self._released_at = float("-inf")  # when the last sender was let go
        self._pauses = 0  # how many times Slack has throttled us (turns booked before are void)
        self._in_flight: dict[int, float] = {}  # sender thread -> when it booked its turn
        self._latency = 0.0  # how long Slack usually takes to answer (slow average, seconds)
        self._last_change = 0.0
        self._probe_every = PROBE_EVERY
        self._before_probe: float | None = None  # the interval before an unconfirmed raise
        self._throttled_at: float | None = None  # a 429 whose estimate awaits the sends in flight
        self._window = 1.0
        self._interval_at_429 = 0.0
        self._accepted: deque[float] = deque()  # when each send that Slack accepted was let go
        self._local = threading.local()  # when this thread's send in flight was let go

    @property
    def rate(self) -> float | None:
        """Sends per second the pacer currently allows (None: not paced yet)."""
        return 1 / self._interval if self._interval else None

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for a turn, then send inside the block; an exception means Slack did not accept."""
        self.wait_turn()
        accepted = False
        try:
            yield
            accepted = True
        finally:
            self.answered(accepted=accepted)

    def wait_turn(self) -> None:
        """Wait for this sender's turn; a 429 meanwhile puts it back in the queue."""
        with self._lock:
            while self._interval and self._unanswered() >= self._most_in_flight():
                # Slack is slow to answer: sends piled up there would arrive together when it
                # catches up, beyond its limit. Book a turn when it answers.
                self._answer.wait(timeout=1.0)
            self._in_flight[threading.get_ident()] = self._clock()  # until Slack answers
            turn, pauses = self._book()
        while True:
            now = self._clock()
            if turn > now:
                self._sleep(turn - now)
            with self._lock:
                if self._pauses != pauses:  # throttled meanwhile: queue behind the pause
                    turn, pauses = self._book()
                    continue
                # Senders that woke late together (this process was paused, e.g. by the
                # garbage collector) go one by one, only a little faster than the pace.
                now = self._clock()
                slot = max(now, self._released_at + self._interval * CATCH_UP)
                self._released_at = slot
            if slot > now:
                self._sleep(slot - now)
            self._local.released = slot
            return

    def answered(self, *, accepted: bool) -> None:
        """Slack answered this thread's send: it accepted it, or not (error, 429, no answer)."""
        released: float | None = getattr(self._local, "released", None)
        if released is None:
            return
        self._local.released = None
        with self._lock:
            now = self._clock()
            self._in_flight.pop(threading.get_ident(), None)
            latency = max(now - released, 0.0)
            # Slow to follow, so that a slow spell does not let more sends pile up at Slack.
            self._latency = latency if not self._latency else 0.95 * self._latency + 0.05 * latency
            if accepted:
                self._accepted.append(released)
                while self._accepted and self._accepted[0] < now - 60:
                    self._accepted.popleft()
            self._answer.notify()

    def throttled(self, retry_after: float) -> None:
        """Slack said 429: pause every sender until Retry-After and pace them from then on."""
        with self._lock:
            now = self._clock()
            if now < self._resume_at:  # the same throttling, seen by another sender
                return
            self._pauses += 1
            self._resume_at = self._next_at = now + retry_after
            if self._before_probe is not None:  # the last raise went too far: undo it
                self._interval = self._before_probe
                self._before_probe = None
                self._probe_every = min(self._probe_every * 2, PROBE_EVERY_MAX)
            else:
                self._throttled_at, self._window = now, max(retry_after, 1.0)
                self._interval_at_429 = self._interval
                self._estimate()  # a first guess; refined when the pause is over
            self._last_change = now

    def _book(self) -> tuple[float, int]:
        now = self._clock()
        if self._throttled_at is not None and now >= self._resume_at:
            self._estimate()  # every send let go before the 429 has been answered by now
            self._throttled_at = None
            self._last_change = now
        elif self._interval and now - self._last_change > self._probe_every:
            self._before_probe = self._interval
            self._interval *= PROBE_STEP
            self._last_change = now
        turn = max(now, self._next_at, self._resume_at)
        self._next_at = turn + self._interval
        return turn, self._pauses

    def _estimate(self) -> None:
        """Pace at a little under the sends Slack accepted in the window before the 429."""
        assert self._throttled_at is not None
        since = self._throttled_at - self._window
        accepted = sum(1 for moment in self._accepted if since <= moment < self._throttled_at)
        before = self._interval_at_429
        if accepted:
            self._interval = max(self._window / (accepted * HEADROOM), before * BACK_OFF)
        elif before:
            self._interval = before * 1.5
        # Never slower than one send per window: Retry-After already pauses everyone, and a
        # storm of 429s with nothing accepted would otherwise slow the pace without bound.
        self._interval = min(self._interval, self._window)

    def _unanswered(self) -> int:
        """Sends booked or in flight; one unanswered for a minute (its sender died?) no longer
        counts."""
        since = self._clock() - 60
        return sum(1 for booked in self._in_flight.values() if booked > since)

    def _most_in_flight(self) -> int:
        """As many sends in flight as the pace needs while Slack answers as fast as usual."""
        return IN_FLIGHT_SPARE + math.ceil(2 * self._latency / self._interval)


class PacedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler, but the wait and the retry's turn come from a shared SendPacer."""

    def __init__(self, pacer: SendPacer, max_retry_count: int = 5) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.pacer = pacer

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error  # type: ignore[misc]
        state.next_attempt_requested = True
        self.pacer.answered(accepted=False)
        self.pacer.throttled(retry_after_seconds(response))
        self.pacer.wait_turn()  # the retry queues behind the pause like any other send
        state.increment_current_attempt()


def retry_after_seconds(response: HttpResponse) -> float:
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return max(float(values[0]), 0.0)
            except ValueError:
                break  # an HTTP date: Slack does not send those; wait the usual second
    return 1.0


def paced_client(client: WebClient, pacer: SendPacer) -> KeepAliveWebClient:
    """A copy of `client` whose 429 handling goes through `pacer`, keeping connections alive."""
    handlers: list[RetryHandler] = [
        h for h in client.retry_handlers if not isinstance(h, RateLimitErrorRetryHandler)
    ]
    handlers.append(PacedRateLimitRetryHandler(pacer))
    return KeepAliveWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        retry_handlers=handlers,
    )


IDLE_SECONDS = 20.0  # an idle connection older than this may have been dropped on the way
MAX_IDLE_CONNECTIONS = 64


class KeepAliveWebClient(WebClient):
    """A WebClient that reuses HTTP connections instead of opening one per call.

    Only the transport changes (slack-sdk's urllib request is sent over a kept-alive
    http.client connection); retry handlers, SlackResponse and errors behave as in slack-sdk:
    HTTP errors raise urllib's HTTPError, failures to connect or send raise URLError, and a
    connection that breaks before the answer raises what http.client raises (RemoteDisconnected,
    ConnectionResetError), which slack-sdk's connection retry handler knows. Connections the
    server has closed, or that sat idle for a while, are not reused. Through a proxy, calls go
    through urllib as before.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._idle: dict[tuple[str, str, int | None], list[_IdleConnection]] = {}
        self._idle_lock = threading.Lock()

    def close_idle_connections(self) -> None:
        with self._idle_lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for item in connections:
                item.connection.close()

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        parts = urlsplit(url)
        if self.proxy is not None or parts.scheme not in ("http", "https") or not parts.hostname:
            return super()._perform_urllib_http_request_internal(url, req)
        origin = (parts.scheme, parts.hostname, parts.port)
        connection = self._take(origin)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = dict(req.header_items())
        try:
            connection.request(req.get_method(), target, body=req.data, headers=headers)
        except OSError as exc:  # as urllib reports it: the request never reached Slack
            connection.close()
            raise URLError(exc) from exc
        try:
            response = connection.getresponse()
            body = response.read()
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._give_back(origin, connection)
        if response.status >= 400:
            raise HTTPError(url, response.status, response.reason, response.msg, io.BytesIO(body))
        if response.msg.get_content_type() == "application/gzip":
            return {"status": response.status, "headers": response.msg, "body": body}
        charset = response.msg.get_content_charset() or "utf-8"
        return {"status": response.status, "headers": response.msg, "body": body.decode(charset)}

    def _take(self, origin: tuple[str, str, int | None]) -> http.client.HTTPConnection:
        now = time.monotonic()
        while True:
            with self._idle_lock:
                pool = self._idle.get(origin)
                item = pool.pop() if pool else None
            if item is None:
                break
            if now - item.since < IDLE_SECONDS and not _closed_by_peer(item.connection):
                return item.connection
            item.connection.close()
        scheme, host, port = origin
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self.ssl)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def _give_back(
        self, origin: tuple[str, str, int | None], connection: http.client.HTTPConnection
    ) -> None:
        with self._idle_lock:
            pool = self._idle.setdefault(origin, [])
            if len(pool) < MAX_IDLE_CONNECTIONS:
                pool.append(_IdleConnection(connection, time.monotonic()))
                return
        connection.close()


class _IdleConnection:
    __slots__ = ("connection", "since")

    def __init__(self, connection: http.client.HTTPConnection, since: float) -> None:
        self.connection, self.since = connection, since


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """An idle connection has nothing to read, unless the server closed it (or sent junk)."""
    sock: socket.socket | None = connection.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True
