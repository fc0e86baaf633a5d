"""Composition root: builds the Slack client, the Bolt app and the services it needs.

Nothing is created at import time; `bootstrap()` wires everything from settings, so tests
and the sandbox can build as many independent bots as they like.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

from bot.core.replay import ReplayGuard
from bot.core.scheduler import RhythmScheduler, leadership_for
from bot.core.settings import Settings
from bot.delivery.engine import Deliverer, DeliveryConfig
from prompts import questions
from storage.db import Database

logger = logging.getLogger(__name__)


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


def build_web_client(settings: Settings) -> WebClient:
    """A WebClient that retries 429 (honouring Retry-After), 5xx and connection errors."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    kwargs: dict[str, Any] = {}
    if settings.slack_api_url:
        kwargs["base_url"] = settings.slack_api_url
    return WebClient(
        token=token,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=5),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
        **kwargs,
    )


def bootstrap(
    settings: Settings, *, clock: Callable[[], datetime] = utc_now, migrate: bool = True
) -> Services:
    # Every question set (shipped and PROMPTS_DIR) is validated before anything starts: a
    # broken one raises QuestionSetError naming its file and line.
    questions.configure(settings.prompts_dir)
    db = Database(settings.database_url)
    if migrate:
        db.upgrade()
    client = build_web_client(settings)
    deliverer = Deliverer(
        db,
        client,
        config=DeliveryConfig(
            grace=timedelta(hours=settings.missed_grace_hours),
            lease=timedelta(seconds=settings.delivery_lease_seconds),
            concurrency=settings.send_concurrency,
            digest_chart=settings.digest_chart,
        ),
    )
    return Services(
        settings=settings,
        db=db,
        client=client,
        executor=TrackedExecutor(),
        deliverer=deliverer,
        clock=clock,
    )


def start_scheduler(services: Services) -> RhythmScheduler:
    """Run the delivery tick continuously (only the elected leader actually ticks)."""
    scheduler = RhythmScheduler(
        services.deliverer,
        leadership_for(services.db),
        clock=services.clock,
        interval_seconds=services.settings.tick_seconds,
        retention_days=services.settings.data_retention_days,
    )
    scheduler.start()
    return scheduler


def build_app(services: Services, *, socket_mode: bool = False) -> App:
    from handlers import register_all

    settings = services.settings
    app = App(
        client=services.client,  # carries the bot token, base URL and retry handlers
        signing_secret=(
            settings.slack_signing_secret.get_secret_value()
            if settings.slack_signing_secret
            else None
        ),
        # Socket Mode connections are authenticated by the app token, not signatures.
        request_verification_enabled=not socket_mode,
        # Refuses a signed request seen before (bot/replay.py). Bolt runs this right after its
        # own RequestVerification (a bad signature is refused first and never remembered),
        # before authorisation and every other middleware and listener.
        before_authorize=None if socket_mode else ReplayGuard(services.db),
        # Listeners run on the executor and answer as soon as they ack (handlers/registry.py).
        process_before_response=True,
        listener_executor=services.executor,
        token_verification_enabled=True,
        logger=logging.getLogger("slack_bolt"),
    )

    def provide_services(context: BoltContext, next: Callable[[], None]) -> None:
        context["services"] = services
        next()

    app.use(provide_services)
    register_all(app, services.executor)
    return app
