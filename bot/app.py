"""Composition root: builds the Slack client, the Bolt app and the services it needs.

Nothing is created at import time; `bootstrap()` wires everything from settings, so tests
and the sandbox can build as many independent bots as they like.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

from bot.core.replay import ReplayGuard
from bot.core.scheduler import RhythmScheduler, leadership_for
from bot.core.settings import Settings
from bot.data_rights.retention import retention_job
from bot.delivery.engine import Deliverer, DeliveryConfig, wall_clock
from bot.delivery.kinds import MessageKinds
from bot.digest.kinds import DigestKinds
from bot.pairing.kinds import PairingKinds
from bot.rhythm.kinds import RhythmKinds
from bot.services import Services, TrackedExecutor, utc_now
from handlers import register_all
from prompts import questions
from storage.db import Database

logger = logging.getLogger(__name__)


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


def message_kinds(*, charts: bool = True) -> tuple[MessageKinds, ...]:
    """What each feature sends through the delivery engine (bot/delivery/kinds.py)."""
    return (RhythmKinds(), DigestKinds(charts=charts), PairingKinds())


def make_deliverer(
    db: Database,
    client: WebClient,
    *,
    config: DeliveryConfig | None = None,
    charts: bool = True,
    clock: Callable[[], datetime] = wall_clock,
) -> Deliverer:
    """The delivery engine with every feature's message kinds plugged in."""
    return Deliverer(db, client, kinds=message_kinds(charts=charts), config=config, clock=clock)


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
    deliverer = make_deliverer(
        db,
        client,
        config=DeliveryConfig(
            grace=timedelta(hours=settings.missed_grace_hours),
            lease=timedelta(seconds=settings.delivery_lease_seconds),
            concurrency=settings.send_concurrency,
        ),
        charts=settings.digest_chart,
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
    """Run the delivery tick continuously (only the elected leader actually ticks), and the
    retention sweep once a day when DATA_RETENTION_DAYS is set."""
    days = services.settings.data_retention_days
    scheduler = RhythmScheduler(
        services.deliverer,
        leadership_for(services.db),
        clock=services.clock,
        interval_seconds=services.settings.tick_seconds,
        daily=None if days is None else retention_job(services.db, days),
    )
    scheduler.start()
    return scheduler


def build_app(services: Services, *, socket_mode: bool = False) -> App:
    settings = services.settings
    app = App(
        name="circlebot",  # without a name Bolt inspects the call stack to make one up
        client=services.client,  # carries the bot token, base URL and retry handlers
        signing_secret=(
            settings.slack_signing_secret.get_secret_value()
            if settings.slack_signing_secret
            else None
        ),
        # Socket Mode connections are authenticated by the app token, not signatures.
        request_verification_enabled=not socket_mode,
        # Refuses a signed request seen before (bot/core/replay.py). Bolt runs this right after its
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


def shutdown(services: Services, scheduler: RhythmScheduler | None = None) -> None:
    """Stop scheduling, let listeners in flight finish, close the database."""
    if scheduler is not None:
        scheduler.shutdown()
    services.executor.wait_idle(timeout=10)
    services.executor.shutdown(wait=True)
    services.db.dispose()
    logger.info("Circlebot stopped")
