"""The bot under test without HTTP: the real Bolt app, called with `app.dispatch(BoltRequest)`.

Like Bolt's own scenario tests (slackapi/bolt-python tests/scenario_tests): a real `App` whose
WebClient talks to a local fake Web API (FakeSlack), and requests signed with the app's signing
secret and a fresh timestamp, dispatched in the test's thread. Everything Bolt runs for an HTTP
request still runs: signature verification, the replay guard (bot/core/replay.py), authorization,
`provide_services` and the listeners (on the executor, acked promptly). Only waitress, the socket
and the WSGI adapter are skipped: about 1-3 ms per request and the server's start and stop per
test. Most of a test's time is elsewhere (the fresh database, `bootstrap`, the listeners' own Web
API calls to the fake and their database work), so expect roughly a fifth off on SQLite, not
an order of magnitude.

The payloads are the ones FakeSlack sends over HTTP (`build_slash_command`, `build_block_action`,
`build_view_submission`, `build_event`), and what Slack does with the bot's answer (an ephemeral
ack shown, a modal closed or its errors applied) is applied to the fake the same way, so
`fake.ephemerals()`, `fake.view_stack()` and `fake.sent` read as they do with `BotHarness`.
The HTTP surface itself (routing, /healthz, body limits, waitress) stays covered by
tests/handlers/test_http_surface.py and the HTTP listener tests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from slack_bolt import App, BoltRequest
from sqlmodel import col, select

from bot.app import bootstrap, build_app
from bot.core.settings import Settings
from bot.sandbox.fake_models import SentRequest
from bot.sandbox.fake_senders import form_body, interaction_body, sign
from bot.sandbox.fake_slack import FakeSlack, RecordedCall
from bot.services import Services
from storage.db import Database
from storage.models import Circle, Membership, Person
from tests.harness import CHANNEL, FAC, OTHER_CHANNEL, PEOPLE, TEAM, FakeClock, Reply

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
IN_PROCESS_URL = "in-process:/slack/events"  # what `fake.sent` records as the request URL


@dataclass(frozen=True)
class SignedRequest:
    """A request as Slack sends it: the exact body and headers, to dispatch (again)."""

    kind: str
    body: bytes
    headers: dict[str, str]
    payload: dict[str, Any]
    trigger_id: str | None = None
    response_url: str | None = None


@dataclass
class Answer:
    """What the bot answered to one request, and the calls the fake Slack received meanwhile
    (the listener's Web API calls and response_url posts, after the executor went idle)."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    calls: list[RecordedCall] = field(default_factory=list)

    @property
    def json(self) -> dict[str, Any] | None:
        """The answer as JSON; None for an empty body (e.g. a modal that closes)."""
        if not self.body.strip():
            return None
        data = json.loads(self.body)
        assert isinstance(data, dict), self.body
        return data

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.method == method]


def populate(fake: FakeSlack) -> None:
    """The workspace of tests/harness.py: the same people, #product-leads and #random."""
    for person in PEOPLE:
        fake.add_user(replace(person))  # a copy: tests may edit it
    humans = [p.id for p in PEOPLE if not p.is_bot and not p.deleted]
    fake.add_channel(CHANNEL, "product-leads", humans)
    fake.add_channel(OTHER_CHANNEL, "random", humans)


class InProcessBot:
    """The real services and Bolt app, with requests dispatched in process (no HTTP server)."""

    def __init__(self, fake: FakeSlack, services: Services, app: App) -> None:
        self.fake = fake
        self.services = services
        self.app = app

    @classmethod
    @contextmanager
    def running(
        cls, db_url: str, clock: FakeClock, *, migrate: bool = False
    ) -> Iterator[InProcessBot]:
        """The bot on `db_url`, already migrated (the `db_url` fixtures copy a migrated
        template); `migrate=True` runs the start-up migration as `BotHarness` does (about
        10 ms a test: Alembic loads every revision to find there is nothing to do)."""
        with FakeSlack(team_id=TEAM) as fake:
            populate(fake)
            settings = Settings(
                slack_bot_token=fake.bot_token,  # type: ignore[arg-type]
                slack_signing_secret=fake.signing_secret,  # type: ignore[arg-type]
                slack_api_url=fake.api_url,
                database_url=db_url,
            )
            services = bootstrap(settings, clock=clock, migrate=migrate)
            app = build_app(services)
            try:
                yield cls(fake, services, app)
            finally:
                services.executor.wait_idle(timeout=10)
                services.executor.shutdown(wait=True)
                services.db.dispose()

    @property
    def db(self) -> Database:
        return self.services.db

    def wait_idle(self) -> None:
        assert self.services.executor.wait_idle(timeout=15), "listeners still running after 15 s"

    # --- signing and dispatching ----------------------------------------------------------

    def signed(
        self,
        kind: str,
        body: bytes,
        payload: dict[str, Any],
        *,
        content_type: str,
        timestamp: int | None = None,
        signing_secret: str | None = None,
        extra_headers: dict[str, str] | None = None,
        trigger_id: str | None = None,
        response_url: str | None = None,
    ) -> SignedRequest:
        """Sign `body` as Slack does (the headers `post_signed` sends), now unless told."""
        headers = {"Content-Type": content_type, "User-Agent": USER_AGENT}
        headers.update(
            sign(
                body,
                int(time.time()) if timestamp is None else timestamp,
                signing_secret or self.fake.signing_secret,
            )
        )
        headers.update(extra_headers or {})
        return SignedRequest(kind, body, headers, payload, trigger_id, response_url)

    def dispatch(self, request: SignedRequest) -> Answer:
        """Run one signed request through Bolt's whole middleware chain and its listeners.

        A fresh BoltRequest each time (Bolt keeps per-request state on it), from the exact
        signed bytes and headers, so dispatching one SignedRequest twice is a byte-for-byte
        replay."""
        before = len(self.fake.calls_snapshot())
        started = time.monotonic()
        sent_headers: dict[str, str | Sequence[str]] = dict(request.headers)
        bolt_request = BoltRequest(body=request.body.decode("utf-8"), headers=sent_headers)
        response = self.app.dispatch(bolt_request)
        elapsed = time.monotonic() - started
        self.wait_idle()
        headers = {name: ", ".join(values) for name, values in response.headers.items()}
        body = response.body
        sent = SentRequest(
            kind=request.kind,
            url=IN_PROCESS_URL,
            headers=request.headers,
            body=request.body,
            payload=request.payload,
            status=response.status,
            response_headers=headers,
            response_body=body.encode(),
            trigger_id=request.trigger_id,
            response_url=request.response_url,
            elapsed=elapsed,
        )
        with self.fake._calls_cond:
            self.fake.sent.append(sent)
        return Answer(response.status, body, headers, self.fake.calls_snapshot()[before:])

    # --- what Slack sends -----------------------------------------------------------------

    def signed_slash(
        self,
        text: str,
        *,
        user: str = FAC,
        channel: str = CHANNEL,
        timestamp: int | None = None,
        signing_secret: str | None = None,
        **extra: Any,
    ) -> SignedRequest:
        """`/circle <text>` typed by `user` in `channel`, signed (fresh response_url/trigger)."""
        fields = self.fake.build_slash_command(user_id=user, channel_id=channel, text=text, **extra)
        return self.signed(
            "slash_command",
            form_body(fields),
            dict(fields),
            content_type=FORM,
            timestamp=timestamp,
            signing_secret=signing_secret,
            trigger_id=fields["trigger_id"],
            response_url=fields["response_url"],
        )

    def reply_to(self, request: SignedRequest) -> Reply:
        """Dispatch a signed slash command; the ack (shown like Slack shows it) and follow-ups."""
        answer = self.dispatch(request)
        raw = answer.body.encode()
        if answer.status == 200 and raw.strip():
            self.fake._apply_command_response(
                request.payload["channel_id"], request.payload["user_id"], answer.headers, raw
            )
        ack = json.loads(raw) if raw.strip().startswith(b"{") else {"raw": answer.body}
        follow_ups = [call.args for call in answer.calls if call.method == "response_url"]
        return Reply(status=answer.status, ack=ack, follow_ups=follow_ups)

    def slash(self, text: str, *, user: str = FAC, channel: str = CHANNEL, **extra: Any) -> Reply:
        """Type `/circle <text>` as `user` in `channel`; return the ack and follow-ups."""
        return self.reply_to(self.signed_slash(text, user=user, channel=channel, **extra))

    def signed_block_action(
        self,
        action_id: str,
        value: str | None = None,
        *,
        user: str,
        timestamp: int | None = None,
        signing_secret: str | None = None,
        **fields: Any,
    ) -> SignedRequest:
        """A block_actions click; `fields` are those of `FakeSlack.build_block_action`
        (block_id, channel_id, message, view, action_type, action fields...)."""
        payload = self.fake.build_block_action(
            user_id=user, action_id=action_id, value=value, **fields
        )
        return self.signed(
            "block_actions",
            interaction_body(payload),
            payload,
            content_type=FORM,
            timestamp=timestamp,
            signing_secret=signing_secret,
            trigger_id=payload["trigger_id"],
            response_url=payload.get("response_url"),
        )

    def block_action(
        self, action_id: str, value: str | None = None, *, user: str, **fields: Any
    ) -> Answer:
        """Click a button (or other block element) as `user`."""
        return self.dispatch(self.signed_block_action(action_id, value, user=user, **fields))

    def view_submission(
        self,
        view: dict[str, Any],
        state_values: dict[str, Any],
        *,
        user: str,
        timestamp: int | None = None,
        signing_secret: str | None = None,
        **extra: Any,
    ) -> Answer:
        """Submit a modal as `user`; Slack's reaction to the answer (close it, show errors,
        update or push) is applied to the fake like `send_view_submission` does."""
        payload = self.fake.build_view_submission(
            user_id=user, view=view, state_values=state_values, **extra
        )
        request = self.signed(
            "view_submission",
            interaction_body(payload),
            payload,
            content_type=FORM,
            timestamp=timestamp,
            signing_secret=signing_secret,
            trigger_id=payload["trigger_id"],
        )
        answer = self.dispatch(request)
        if answer.status == 200:
            self.fake._apply_view_response(str(payload["view"]["id"]), answer.body.encode())
        return answer

    def signed_event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        timestamp: int | None = None,
        signing_secret: str | None = None,
    ) -> SignedRequest:
        """An Events API event_callback around `event`; retries carry X-Slack-Retry-*."""
        envelope = self.fake.build_event(event, event_id=event_id)
        extra: dict[str, str] = {}
        if retry_num is not None:
            extra["X-Slack-Retry-Num"] = str(retry_num)
            extra["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        return self.signed(
            "event",
            json.dumps(envelope).encode(),
            envelope,
            content_type=JSON,
            timestamp=timestamp,
            signing_secret=signing_secret,
            extra_headers=extra,
        )

    def event(self, event: dict[str, Any], **options: Any) -> Answer:
        """Deliver an event (options: event_id, retry_num, retry_reason, timestamp, ...)."""
        return self.dispatch(self.signed_event(event, **options))

    # --- what the fake Slack and the database hold ----------------------------------------

    def calls(self, method: str) -> list[RecordedCall]:
        return self.fake.calls_to(method)

    def circles(self) -> list[Circle]:
        with self.db.session() as session:
            return list(session.exec(select(Circle).order_by(col(Circle.id))).all())

    def members(self, circle_id: int | None = None, *, active_only: bool = True) -> dict[str, str]:
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
