"""Request signing, replay protection, routing and /healthz over real HTTP."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from bot.core.web import WebServer, make_wsgi_app
from storage.db import Database
from tests.harness import CHANNEL, FAC, BotHarness


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_wrong_signature_is_rejected_and_nothing_is_stored(bot: BotHarness) -> None:
    status, _h, _b = bot.fake.send_slash_command(
        bot.events_url,
        user_id=FAC,
        channel_id=CHANNEL,
        text="create Sneaky",
        signing_secret="0" * 32,
    )
    assert status == 401
    bot.wait_idle()
    assert bot.circles() == []
    assert bot.fake.calls_to("response_url") == []


def test_a_request_older_than_five_minutes_is_rejected(bot: BotHarness) -> None:
    status, _h, _b = bot.fake.send_slash_command(
        bot.events_url,
        user_id=FAC,
        channel_id=CHANNEL,
        text="create Replayed",
        timestamp=int(time.time()) - 6 * 60,
    )
    assert status == 401
    assert bot.circles() == []


def test_a_request_signed_a_minute_ago_is_accepted(bot: BotHarness) -> None:
    """Its first delivery: only the same signature again is a replay (test_replay.py)."""
    status, _h, _b = bot.fake.send_slash_command(
        bot.events_url,
        user_id=FAC,
        channel_id=CHANNEL,
        text="create Fresh",
        timestamp=int(time.time()) - 60,
    )
    assert status == 200
    assert [c.name for c in bot.circles()] == ["Fresh"]


def test_unsigned_requests_are_rejected(sqlite_bot: BotHarness) -> None:
    body = b"command=%2Fcircle&text=create+X&team_id=T0CIRCLE&user_id=UFRAN&channel_id=CPRODLEADS"
    assert (
        post(sqlite_bot.events_url, body, {"Content-Type": "application/x-www-form-urlencoded"})
        == 401
    )
    assert sqlite_bot.circles() == []


def test_a_tampered_body_is_rejected(sqlite_bot: BotHarness) -> None:
    body = b"command=%2Fcircle&text=help&team_id=T0CIRCLE&user_id=UFRAN&channel_id=CPRODLEADS"
    headers = sqlite_bot.fake.sign(body)
    tampered = body.replace(b"help", b"create+Evil")
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert post(sqlite_bot.events_url, tampered, headers) == 401
    assert sqlite_bot.circles() == []


def test_healthz_reports_the_database(bot: BotHarness) -> None:
    status, body = get(f"{bot.server.url}/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok", "database": True}


def test_healthz_answers_503_when_the_database_is_unreachable(sqlite_bot: BotHarness) -> None:
    unreachable = Database("postgresql://postgres@127.0.0.1:1/nowhere")
    app = make_wsgi_app(sqlite_bot.app, unreachable)
    server = WebServer(app, host="127.0.0.1", port=0)
    thread = server.start_in_thread()
    try:
        status, body = get(f"{server.url}/healthz")
    finally:
        server.stop()
        thread.join(5)
        unreachable.dispose()
    assert status == 503
    assert json.loads(body) == {"status": "degraded", "database": False}


def test_unknown_paths_and_methods(sqlite_bot: BotHarness) -> None:
    assert get(f"{sqlite_bot.server.url}/nope")[0] == 404
    assert get(f"{sqlite_bot.server.url}/slack/events")[0] == 405
    assert post(f"{sqlite_bot.server.url}/healthz", b"", {}) == 405
