"""/circle checkin now, debrief now and status, through signed requests and the fake Slack."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from storage.models import Delivery, DeliveryStatus, Membership
from tests.harness import ANA, BEN, CHANNEL, CHLOE, DANA, FAC, GONE, BotHarness, FakeClock


def circle_with_people(bot: BotHarness) -> None:
    bot.slash("create Product Leads")
    bot.slash(f"add <@{ANA}|ana> <@{BEN}|ben> <@{CHLOE}|chloe>")
    bot.slash(f"add <@{DANA}|dana> as leader")


def dms(bot: BotHarness, user_id: str) -> list[dict[str, object]]:
    return [c.args for c in bot.calls("chat.postMessage") if c.ok and c.args["channel"] == user_id]


def test_checkin_now_sends_to_every_participant_once(bot: BotHarness) -> None:
    circle_with_people(bot)
    reply = bot.slash("checkin now")
    assert reply.ack_text == "Sending the check-in to 3 participants of *Product Leads*…"
    assert "Sent the check-in of *Product Leads* to 3 of 3." in reply.all_text
    for user in (ANA, BEN, CHLOE):
        assert len(dms(bot, user)) == 1
    assert dms(bot, DANA) == [] and dms(bot, FAC) == []  # leaders and facilitators: not asked
    again = bot.slash("checkin now")  # the same minute: nothing twice
    assert "already went out this minute; nothing was sent twice" in again.all_text
    assert len(dms(bot, ANA)) == 1


def test_debrief_now_a_minute_later_is_a_new_send(bot: BotHarness, clock: FakeClock) -> None:
    circle_with_people(bot)
    bot.slash("debrief now")
    clock.advance(minutes=1)
    bot.slash("debrief now")
    assert len(dms(bot, BEN)) == 2
    assert all("debrief" in str(m["text"]).lower() for m in dms(bot, BEN))


def test_away_people_are_left_out_and_named(bot: BotHarness) -> None:
    circle_with_people(bot)
    with bot.db.session() as s:
        ben = s.exec(select(Membership).where(Membership.user_id == BEN)).one()
        ben.away_until = (bot.services.clock() + timedelta(days=3)).date()
    reply = bot.slash("checkin now")
    assert "to 2 of 2" in reply.all_text
    assert f"Away, so not sent: <@{BEN}>." in reply.all_text
    assert dms(bot, BEN) == []


def test_failures_are_reported_and_listed_by_status(bot: BotHarness) -> None:
    circle_with_people(bot)
    bot.fake.users[CHLOE].deleted = True  # left Slack after being added
    reply = bot.slash("checkin now")
    assert "to 2 of 3" in reply.all_text
    assert "Not delivered: account_inactive (1). `/circle status` shows who." in reply.all_text
    status = bot.slash("status")
    text = status.ack_text
    assert text.startswith("*Product Leads*: deliveries this week (since Monday 16 Nov")
    assert "• check-in: sent 2, answered 0, skipped 0, failed 1" in text
    assert f"failed for <@{CHLOE}>: `account_inactive`" in text


def test_status_counts_answers_and_skips(bot: BotHarness) -> None:
    circle_with_people(bot)
    bot.slash("checkin now")
    with bot.db.session() as s:
        rows = {d.recipient: d for d in s.exec(select(Delivery)).all()}
        rows[ANA].answered_at = bot.services.clock()
        rows[BEN].skipped_at = bot.services.clock()
    assert "sent 3, answered 1, skipped 1, failed 0" in bot.slash("status").ack_text


def test_status_with_nothing_due(sqlite_bot: BotHarness) -> None:
    sqlite_bot.slash("create Product Leads")
    assert "Nothing was due yet this week." in sqlite_bot.slash("status").ack_text


def test_only_facilitators_send_now_or_see_status(bot: BotHarness) -> None:
    circle_with_people(bot)
    for who in (ANA, DANA):
        assert "Only a facilitator of *Product Leads* can send a check-in" in (
            bot.slash("checkin now", user=who).ack_text
        )
        assert "can see delivery status" in bot.slash("status", user=who).ack_text
    assert bot.calls("chat.postMessage") == [
        c for c in bot.calls("chat.postMessage") if c.args["channel"] == CHANNEL
    ]


def test_a_paused_circle_sends_nothing_now(bot: BotHarness) -> None:
    circle_with_people(bot)
    bot.slash("pause")
    reply = bot.slash("checkin now")
    assert "is paused, so nothing is sent. Use `/circle resume` first." in reply.ack_text
    assert dms(bot, ANA) == []
    bot.slash("resume")
    assert "to 3 of 3" in bot.slash("checkin now").all_text


def test_a_circle_without_participants(sqlite_bot: BotHarness) -> None:
    sqlite_bot.slash("create Product Leads")
    sqlite_bot.slash(f"add <@{GONE}|gone>")  # refused: deactivated
    reply = sqlite_bot.slash("checkin now")
    assert "has no participants to send a check-in to" in reply.ack_text


def test_sent_rows_are_recorded(bot: BotHarness) -> None:
    circle_with_people(bot)
    bot.slash("checkin now")
    with bot.db.session() as s:
        rows = s.exec(select(Delivery)).all()
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    assert {r.key.split(":")[0] for r in rows} == {"checkin-now"}
    assert all(r.message_ts and r.channel_id for r in rows)
