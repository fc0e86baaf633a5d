"""Pacing sends so that Slack's rate limit, not bursts and back-offs, bounds a fan-out.

Slack answers a burst beyond its limit with 429 and a whole-second Retry-After. Senders that
each sleep on their own keep bursting into the limit and lose much of the allowed rate. The
`SendPacer` is shared by all senders of a fan-out: a 429 pauses all of them until Slack's
Retry-After, the sends that succeeded just before it give an estimate of the allowed rate,
and later sends are spaced at slightly under that rate. While nothing is throttled the pace
creeps up again, so a higher limit is found too. Until the first 429 nothing is paced.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry import RateLimitErrorRetryHandler, RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

HEADROOM = 0.97  # pace a little under the estimated limit
PROBE_EVERY = 15.0  # seconds without a 429 before the pace is raised
PROBE_STEP = 0.98  # interval multiplier per probe (about +2 % rate)


class SendPacer:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._interval = 0.0  # seconds between sends; 0 until Slack first throttles us
        self._next_at = 0.0
        self._resume_at = 0.0
        self._last_change = 0.0
        self._sent: deque[float] = deque()

    @property
    def rate(self) -> float | None:
        """Sends per second the pacer currently allows (None: not paced yet)."""
        return 1 / self._interval if self._interval else None

    def wait_turn(self) -> None:
        with self._lock:
            now = self._clock()
            if self._interval and now - self._last_change > PROBE_EVERY:
                self._interval *= PROBE_STEP
                self._last_change = now
            turn = max(now, self._next_at, self._resume_at)
            self._next_at = turn + self._interval
        if turn > now:
            self._sleep(turn - now)

    def sent(self) -> None:
        with self._lock:
            now = self._clock()
            self._sent.append(now)
            while self._sent and self._sent[0] < now - 60:
                self._sent.popleft()

    def throttled(self, retry_after: float) -> float:
        """Slack said 429; returns how long the caller should wait."""
        with self._lock:
            now = self._clock()
            if now < self._resume_at:  # the same throttling, seen by another sender
                return self._resume_at - now
            self._resume_at = now + retry_after
            window = max(retry_after, 1.0)
            recent = sum(1 for moment in self._sent if moment >= now - window)
            if recent:
                estimate = window / (recent * HEADROOM)
                self._interval = max(estimate, self._interval * 1.05 if self._interval else 0)
            elif self._interval:
                self._interval *= 1.5
            self._last_change = now
            return self._resume_at - now


class PacedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler, but the wait is coordinated through a shared SendPacer."""

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
        retry_after = 1.0
        for name, values in response.headers.items():
            if name.lower() == "retry-after" and values:
                retry_after = float(values[0])
        wait = self.pacer.throttled(retry_after)
        time.sleep(wait + random.random() * 0.05)  # a little jitter
        state.increment_current_attempt()


def paced_client(client: WebClient, pacer: SendPacer) -> WebClient:
    """A copy of `client` whose 429 handling goes through `pacer`."""
    handlers: list[RetryHandler] = [
        h for h in client.retry_handlers if not isinstance(h, RateLimitErrorRetryHandler)
    ]
    handlers.append(PacedRateLimitRetryHandler(pacer))
    options: dict[str, Any] = {"base_url": client.base_url, "timeout": client.timeout}
    return WebClient(token=client.token, retry_handlers=handlers, **options)
