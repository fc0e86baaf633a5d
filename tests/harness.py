"""The bot under test: real Bolt app behind waitress, real database, fake Slack over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt import App

from bot.app import bootstrap, build_app
from bot.core.settings import Settings
from bot.core.web import WebServer, make_wsgi_app
from bot.sandbox.fake_slack import FakeSlack, FakeUser, RecordedCall
from bot.services import Services
from storage.models import Circle, Membership, Person

TEAM = "T0CIRCLE"
FAC, ANA, BEN, CHLOE, DANA, EVE = "UFRAN", "UANA", "UBEN", "UCHLOE", "UDANA", "UEVE"
BOT_USER, GONE = "UDEPLOYBOT", "UGONE"
CHANNEL, OTHER_CHANNEL = "CPRODLEADS", "COTHER"

PEOPLE = [
    FakeUser(id=FAC, name="fran", real_name="Fran Okafor", tz="Europe/London", title="Eng Manager"),
    FakeUser(id=ANA, name="ana", real_name="Ana Lima", tz="America/New_York", title="Designer"),
    FakeUser(id=BEN, name="ben", real_name="Ben Weber", tz="Europe/Berlin", title="PM"),
    FakeUser(id=CHLOE, name="chloe", real_name="Chloé Martin", tz="Europe/Paris"),
    FakeUser(id=DANA, name="dana", real_name="Dana Rao", tz="Asia/Kolkata", title="VP Product"),
    FakeUser(id=EVE, name="eve", real_name="Eve Adams", tz="America/Los_Angeles"),
    FakeUser(id=BOT_USER, name="deploybot", real_name="Deploy Bot", is_bot=True),
    FakeUser(id=GONE, name="gone", real_name="Gus Gone", deleted=True),
]


class FakeClock:
    """The bot's clock in tests: fixed until a test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 16, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Reply:
    """What a person sees after a slash command: the ack, then any follow-ups."""

    status: int
    ack: dict[str, Any]
    follow_ups: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ack_text(self) -> str:
        return str(self.ack.get("text", ""))

    @property
    def texts(self) -> list[str]:
        return [self.ack_text] + [str(f.get("text", "")) for f in self.follow_ups]

    @property
    def all_text(self) -> str:
        return "\n".join(self.texts)


class BotHarness:
    def __init__(self, fake: FakeSlack, services: Services, server: WebServer, app: App) -> None:
        self.fake = fake
        self.services = services
        self.server = server
        self.app = app

    @classmethod
    @contextmanager
    def running(cls, db_url: str, clock: FakeClock) -> Iterator[BotHarness]:
        with FakeSlack(team_id=TEAM) as fake:
            for person in PEOPLE:
                fake.add_user(replace(person))  # a copy: tests may edit it
            humans = [p.id for p in PEOPLE if not p.is_bot and not p.deleted]
            fake.add_channel(CHANNEL, "product-leads", humans)
            fake.add_channel(OTHER_CHANNEL, "random", humans)
            settings = Settings(
                slack_bot_token=fake.bot_token,  # type: ignore[arg-type]
                slack_signing_secret=fake.signing_secret,  # type: ignore[arg-type]
                slack_api_url=fake.api_url,
                database_url=db_url,
            )
            services = bootstrap(settings, clock=clock)
            app = build_app(services)
            server = WebServer(make_wsgi_app(app, services.db), host="127.0.0.1", port=0)
            thread = server.start_in_thread()
            try:
                yield cls(fake, services, server, app)
            finally:
                server.stop()
                thread.join(timeout=5)
                services.executor.wait_idle(timeout=10)
                services.executor.shutdown(wait=True)
                services.db.dispose()

    @property
    def events_url(self) -> str:
        return f"{self.server.url}/slack/events"

    @property
    def db(self) -> Any:
        return self.services.db

    def wait_idle(self) -> None:
        assert self.services.executor.wait_idle(timeout=15), "listeners still running after 15 s"

    def slash(self, text: str, *, user: str = FAC, channel: str = CHANNEL, **extra: Any) -> Reply:
        """Type `/circle <text>` as `user` in `channel`; return the ack and follow-ups."""
        before = len(self.fake.calls)
        status, _headers, body = self.fake.send_slash_command(
            self.events_url, user_id=user, channel_id=channel, text=text, **extra
        )
        self.wait_idle()
        ack = json.loads(body) if body.strip().startswith(b"{") else {"raw": body.decode()}
        follow_ups = [
            call.args for call in self.fake.calls[before:] if call.method == "response_url"
        ]
        return Reply(status=status, ack=ack, follow_ups=follow_ups)

    def calls(self, method: str) -> list[RecordedCall]:
        return self.fake.calls_to(method)

    # --- rows -----------------------------------------------------------------------------

    def circles(self) -> list[Circle]:
        from sqlmodel import select

        with self.db.session() as session:
            return list(session.exec(select(Circle).order_by(Circle.id)).all())

    def members(self, circle_id: int | None = None, *, active_only: bool = True) -> dict[str, str]:
        from sqlmodel import col, select

        with self.db.session() as session:
            query = select(Membership)
            if circle_id is not None:
                query = query.where(Membership.circle_id == circle_id)
            if active_only:
                query = query.where(col(Membership.removed_at).is_(None))
            return {m.user_id: m.role for m in session.exec(query).all()}

    def person(self, user_id: str) -> Person | None:
        with self.db.session() as session:
            return session.get(Person, (TEAM, user_id))
