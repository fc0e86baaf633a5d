"""Bolt's middleware runs in process too: signature verification and the replay guard refuse
requests before any listener, exactly as they do behind waitress (tests/handlers/test_replay.py,
test_http_surface.py)."""

from __future__ import annotations

import time
from dataclasses import replace

from sqlalchemy import func, select

from storage.models import Delivery, SeenRequest
from tests.handlers.in_process.flows import (
    circle_with_ana_and_ben,
    ephemeral_texts,
    mention,
    sent_checkin,
)
from tests.harness import ANA, BEN, EVE, FakeClock
from tests.in_process import InProcessBot

SEEN = SeenRequest.__table__  # type: ignore[attr-defined]
REFUSED = '{"error": "invalid request"}'


def seen_count(bot: InProcessBot) -> int:
    with bot.db.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(SEEN)).scalar_one())


def test_a_bad_signature_is_refused_401_and_nothing_runs(in_process_bot: InProcessBot) -> None:
    bot = in_process_bot
    answer = bot.dispatch(bot.signed_slash("create Sneaky", signing_secret="0" * 32))
    assert (answer.status, answer.body) == (401, REFUSED)
    assert answer.calls == []  # no announcement, no lookups, no response_url
    assert bot.circles() == []
    assert seen_count(bot) == 0  # a bad signature is never remembered


def test_a_request_older_than_five_minutes_is_refused(
    sqlite_in_process_bot: InProcessBot,
) -> None:
    bot = sqlite_in_process_bot
    reply = bot.slash("create Late", timestamp=int(time.time()) - 6 * 60)
    assert reply.status == 401
    assert bot.circles() == []


def test_a_tampered_body_under_a_valid_signature_is_refused(
    sqlite_in_process_bot: InProcessBot,
) -> None:
    bot = sqlite_in_process_bot
    signed = bot.signed_slash("members")
    forged = replace(signed, body=signed.body.replace(b"text=members", b"text=create+Forged"))
    assert forged.body != signed.body
    assert bot.dispatch(forged).status == 401
    assert bot.circles() == []


def test_the_same_signed_command_dispatched_twice_is_refused_the_second_time(
    in_process_bot: InProcessBot,
) -> None:
    bot = in_process_bot
    bot.slash("create Product Leads")
    bot.slash(f"add {mention(ANA)} {mention(BEN)}")
    [circle] = bot.circles()
    signed = bot.signed_slash(f"remove {mention(BEN)}")

    first = bot.reply_to(signed)
    assert first.status == 200 and f"Removed from *Product Leads*: <@{BEN}>." in first.ack_text
    bot.slash(f"add {mention(BEN)}")
    assert BEN in bot.members(circle.id)

    replay = bot.dispatch(signed)
    assert (replay.status, replay.body) == (401, REFUSED)
    assert replay.calls == []  # no listener ran: no follow-up, no lookups
    assert BEN in bot.members(circle.id)


def test_a_replayed_click_is_refused_and_the_listener_does_not_run_again(
    in_process_bot: InProcessBot, clock: FakeClock
) -> None:
    bot = in_process_bot
    delivery, dm = sent_checkin(bot, clock, circle_with_ana_and_ben(bot))
    signed = bot.signed_block_action(
        "checkin_skip",
        str(delivery.id),
        user=EVE,  # refused by the listener: it answers with an ephemeral each time it runs
        block_id="checkin_actions",
        message=dm,
        channel_id=dm["channel"],
    )
    assert bot.dispatch(signed).status == 200
    assert len(ephemeral_texts(bot, EVE)) == 1
    replay = bot.dispatch(signed)
    assert (replay.status, replay.body, replay.calls) == (401, REFUSED, [])
    assert len(ephemeral_texts(bot, EVE)) == 1
    with bot.db.session() as session:
        row = session.get(Delivery, delivery.id)
        assert row is not None and row.skipped_at is None


def test_an_event_replayed_is_refused_but_slacks_retry_is_not(
    sqlite_in_process_bot: InProcessBot,
) -> None:
    bot = sqlite_in_process_bot
    event = {"type": "app_home_opened", "user": EVE, "channel": f"D{EVE}", "tab": "home"}
    signed = bot.signed_event(event, event_id="Ev1")
    assert bot.dispatch(signed).status == 200
    assert bot.dispatch(signed).status == 401
    # Slack's retry of the same delivery (same body, X-Slack-Retry-Num) is a new request.
    retry = bot.signed_event(event, event_id="Ev1", retry_num=1)
    assert bot.dispatch(retry).status == 200
    assert len(bot.calls("views.publish")) == 2
