"""What every listener receives (`context["services"]`): settings, database, Slack client, the
executor listeners run on, the delivery engine and the clock. Built by bot/app.py."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient

from bot.core.settings import Settings
from bot.delivery.engine import Deliverer
from bot.slash.base import Deps
from storage.db import Database


def utc_now() -> datetime:
    return datetime.now(UTC)


class TrackedExecutor(ThreadPoolExecutor):
    """Runs Bolt listeners after the ack; can wait until no work is in flight."""

    def __init__(self, max_workers: int = 16) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="listener")
        self._pending = 0
        self._idle = threading.Condition()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._idle:
            self._pending += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future[Any]) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)


@dataclass
class Services:
    settings: Settings
    db: Database
    client: WebClient
    executor: TrackedExecutor
    deliverer: Deliverer
    clock: Callable[[], datetime] = utc_now

    def deps(self, client: WebClient) -> Deps:
        """What a `/circle` subcommand works with, answering through this request's client."""
        return Deps(
            db=self.db,
            client=client,
            clock=self.clock,
            deliverer=self.deliverer,
            settings=self.settings,
        )
