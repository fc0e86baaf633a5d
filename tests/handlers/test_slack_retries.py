"""The bot's WebClient retries what Slack asks it to retry, through the real request path."""

from __future__ import annotations

from storage.models import Role
from tests.harness import ANA, CHANNEL, FAC, BotHarness


def test_a_rate_limited_announcement_is_retried_after_retry_after(sqlite_bot: BotHarness) -> None:
    sqlite_bot.fake.inject_error("chat.postMessage", "ratelimited", status=429, times=1)
    reply = sqlite_bot.slash("create Product Leads")
    assert "Created *Product Leads*" in reply.ack_text
    posts = sqlite_bot.calls("chat.postMessage")
    assert [c.status for c in posts] == [429, 200]
    assert posts[-1].args["channel"] == CHANNEL


def test_server_errors_and_dropped_connections_are_retried(sqlite_bot: BotHarness) -> None:
    sqlite_bot.slash("create Product Leads")
    sqlite_bot.fake.inject_error("users.info", status=503, times=1)
    sqlite_bot.fake.inject_connection_drop("users.info", times=1)
    reply = sqlite_bot.slash(f"add <@{ANA}|ana>")
    assert f"as participant: <@{ANA}>." in reply.all_text
    statuses = [c.status for c in sqlite_bot.calls("users.info") if c.args.get("user") == ANA]
    assert statuses == [0, 503, 200]  # 0: the connection was dropped without an answer
    assert sqlite_bot.members() == {FAC: Role.FACILITATOR, ANA: Role.PARTICIPANT}


def test_a_permanent_error_is_not_retried(sqlite_bot: BotHarness) -> None:
    sqlite_bot.fake.inject_error("chat.postMessage", "is_archived", times=1)
    reply = sqlite_bot.slash("create Product Leads")
    assert "Created *Product Leads*" in reply.ack_text
    assert [c.error for c in sqlite_bot.calls("chat.postMessage")] == ["is_archived"]
