"""/circle digest preview and /circle digest send, through signed requests and the fake Slack.

The circle and its week come from tests/bot/digest/test_compose.py (`the_week`); the clock stands on
Wednesday 18 Nov 2026 at 12:00 UTC, so "this week so far" is Monday 16 Nov to then.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from storage.models import Delivery, DeliveryStatus
from tests.bot.digest.test_compose import (
    CIRCLE_ONLY,
    DIGEST_AT,
    FOR_LEADERS,
    PRIVATE,
    PRIVATE_ITEM,
    only_the_circle_in_the_channel,
    posts_to,
    the_week,
    utc,
)
from tests.harness import ANA, CHANNEL, DANA, FAC, BotHarness, FakeClock

WEDNESDAY = utc(2026, 11, 18, 12)


def test_preview_shows_each_audience_to_the_facilitator_and_sends_nothing(
    sqlite_bot: BotHarness, clock: FakeClock
) -> None:
    bot = sqlite_bot
    the_week(bot)
    only_the_circle_in_the_channel(bot)
    clock.now = WEDNESDAY
    reply = bot.slash("digest preview")
    assert reply.ack_text == "Building the digest preview of *Product Leads* for this week so far…"
    [answer] = reply.follow_ups
    text = answer["text"]
    assert text.startswith(
        "*Digest preview for Product Leads*: what the next scheduled digest would say if it "
        "went out now. Nothing was sent."
    )
    leaders_at = text.index("*Leaders: a DM to each leader (this circle's section)*")
    circle_at = text.index("*The circle: a post in the channel*")
    facilitators_at = text.index("*Facilitators: a DM to each facilitator*")
    leaders, circle, facilitators = (
        text[leaders_at:circle_at],
        text[circle_at:facilitators_at],
        text[facilitators_at:],
    )
    assert "the week of Mon 16 Nov* (so far, to Wed 18 Nov 12:00)" in leaders
    assert FOR_LEADERS in leaders and "CIRCLE-SENTENCE" not in leaders
    assert "CIRCLE-SENTENCE" in circle
    # Due this week (16-22 Nov): Finn's item (his reflection is readable by the circle).
    assert "• Write the brief · name not shared · due Tue 17 Nov" in circle
    assert "SENTENCE" not in facilitators and "Write the brief" not in facilitators
    assert "• *Participation:* 67% (4 of 6 participants reflected)" in circle
    # A week in progress shows counts but no averages (two previews must not give a score).
    assert "• *Confidence:* shown when the week is over" in circle
    assert "median time to answer shown when the week is over" in circle
    assert "*Channel:* only the circle reads <#CPRODLEADS>" in facilitators
    for secret in (PRIVATE, PRIVATE_ITEM, "PRIVATE-"):
        assert secret not in text
    assert "<!channel>" not in text and CIRCLE_ONLY not in text  # escaped, not raw
    assert bot.calls("chat.postMessage") == []


def test_only_facilitators_preview_or_send(sqlite_bot: BotHarness, clock: FakeClock) -> None:
    bot = sqlite_bot
    the_week(bot)
    clock.now = WEDNESDAY
    for who in (ANA, DANA):
        assert "Only a facilitator of *Product Leads* can preview the digest" in (
            bot.slash("digest preview", user=who).ack_text
        )
        assert "Only a facilitator of *Product Leads* can send the digest" in (
            bot.slash("digest send", user=who).ack_text
        )
    assert bot.calls("chat.postMessage") == []


def test_send_goes_to_every_audience_once_per_minute(bot: BotHarness, clock: FakeClock) -> None:
    the_week(bot)
    clock.now = WEDNESDAY
    reply = bot.slash("digest send")
    assert reply.ack_text == (
        "Sending the digest of *Product Leads* for this week so far to the channel, "
        "1 facilitator and 1 leader…"
    )
    assert (
        "Sent the digest of *Product Leads* for the week of Mon 16 Nov so far: the channel "
        "post, 1 of 1 facilitator DMs, 1 of 1 leader DMs, 1 of 1 charts."
    ) in reply.all_text
    assert "The scheduled digest still covers the whole week when it goes out." in reply.all_text
    assert [len(posts_to(bot, who)) for who in (CHANNEL, FAC, DANA)] == [1, 1, 1]
    assert len(bot.calls("files.completeUploadExternal")) == 1

    again = bot.slash("digest send")  # the same minute: nothing twice
    assert "already went out this minute; nothing was sent twice" in again.all_text
    assert [len(posts_to(bot, who)) for who in (CHANNEL, FAC, DANA)] == [1, 1, 1]

    clock.advance(minutes=1)
    assert "the channel post, 1 of 1" in bot.slash("digest send").all_text
    assert [len(posts_to(bot, who)) for who in (CHANNEL, FAC, DANA)] == [2, 2, 2]


def test_a_send_mid_week_does_not_stop_mondays_digest(
    sqlite_bot: BotHarness, clock: FakeClock
) -> None:
    bot = sqlite_bot
    the_week(bot)
    clock.now = WEDNESDAY
    bot.slash("digest send")
    bot.services.deliverer.tick(DIGEST_AT)
    posts = posts_to(bot, CHANNEL)
    assert len(posts) == 2
    assert "(so far, to Wed 18 Nov 12:00)" in posts[0]["blocks"][0]["text"]["text"]
    assert "so far" not in posts[1]["blocks"][0]["text"]["text"]  # the whole week
    with bot.db.session() as s:
        keys = sorted(
            d.key for d in s.exec(select(Delivery).where(Delivery.kind == "digest_circle")).all()
        )
    assert keys[0].endswith(":2026-11-16") and ":2026-11-16:manual:20261118T1200" in keys[1]


def test_send_on_a_paused_circle_works_and_says_so(
    sqlite_bot: BotHarness, clock: FakeClock
) -> None:
    bot = sqlite_bot
    the_week(bot)
    clock.now = WEDNESDAY
    bot.slash("pause")
    reply = bot.slash("digest send")
    assert (
        "*Product Leads* is paused, so no scheduled digest goes out while it is; this one went "
        "out because you asked."
    ) in reply.all_text
    post = posts_to(bot, CHANNEL)[-1]
    assert "The circle is paused." in str(post["blocks"])


def test_a_transient_chart_failure_is_retried_and_listed_by_status(
    sqlite_bot: BotHarness, clock: FakeClock
) -> None:
    bot = sqlite_bot
    the_week(bot)
    clock.now = WEDNESDAY
    bot.fake.inject_error("files.getUploadURLExternal", "internal_error")
    reply = bot.slash("digest send")
    assert "1 of 1 leader DMs, 0 of 1 charts" in reply.all_text
    assert f"The digest chart for leaders to <@{DANA}> not sent yet: `internal_error`." in (
        reply.all_text
    )
    status = bot.slash("status").ack_text
    assert f"retrying for <@{DANA}>: `internal_error`" in status
    bot.services.deliverer.tick(WEDNESDAY + timedelta(seconds=30))  # the retry
    with bot.db.session() as s:
        [chart] = s.exec(select(Delivery).where(col(Delivery.kind) == "digest_chart")).all()
    assert (chart.status, chart.attempts) == (DeliveryStatus.SENT, 2)


def test_the_digest_commands_are_in_help_and_bad_words_get_the_usage(
    sqlite_bot: BotHarness,
) -> None:
    bot = sqlite_bot
    help_text = bot.slash("help").ack_text
    assert "• `/circle digest preview`: see what this week's digest says so far" in help_text
    assert "• `/circle digest send`: send this week's digest so far now" in help_text
    for text in ("digest", "digest now", "digest preview please"):
        assert bot.slash(text).ack_text.startswith(
            "Use `/circle digest preview` to see this week's digest so far, or "
            "`/circle digest send` to send it now."
        )


# --- the App Home's Preview digest button ---------------------------------------------------------


def open_home(bot: BotHarness, user: str) -> dict[str, Any]:
    bot.fake.send_event(
        bot.events_url,
        {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"},
    )
    bot.wait_idle()
    view = bot.fake.home_view(user)
    assert view is not None
    return view


def preview_buttons(view: dict[str, Any]) -> list[str]:
    return [
        element["value"]
        for block in view["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == "home_digest_preview"
    ]


def click_preview(bot: BotHarness, user: str, value: str, view: dict[str, Any]) -> None:
    status, _headers, _body = bot.fake.send_block_action(
        bot.events_url, user_id=user, action_id="home_digest_preview", value=value, view=view
    )
    assert status == 200
    bot.wait_idle()


def test_the_home_preview_digest_button_opens_the_preview_in_a_modal(
    sqlite_bot: BotHarness, clock: FakeClock
) -> None:
    bot = sqlite_bot
    circle_id = the_week(bot)
    clock.now = WEDNESDAY
    home = open_home(bot, FAC)
    assert preview_buttons(home) == [str(circle_id)]
    click_preview(bot, FAC, str(circle_id), home)
    [opened] = bot.calls("views.open")
    assert opened.ok, opened.response
    modal = opened.args["view"]
    modal = json.loads(modal) if isinstance(modal, str) else modal
    headers = [b["text"]["text"] for b in modal["blocks"] if b["type"] == "header"]
    assert headers == [
        "What leaders get (this circle's section)",
        "The post in the channel",
        "What facilitators get",
    ]
    text = json.dumps(modal, ensure_ascii=False)
    assert FOR_LEADERS in text and "PRIVATE-" not in text
    assert len(modal["blocks"]) <= 100
    assert bot.calls("chat.postMessage") == []


def test_a_forged_preview_click_is_refused(sqlite_bot: BotHarness, clock: FakeClock) -> None:
    bot = sqlite_bot
    circle_id = the_week(bot)
    clock.now = WEDNESDAY
    ana_home = open_home(bot, ANA)
    assert preview_buttons(ana_home) == []  # participants have no such button
    for value in (str(circle_id), "424242"):
        click_preview(bot, ANA, value, ana_home)
        home = bot.fake.home_view(ANA)
        assert home is not None
        assert "Only a facilitator of that circle can preview its digest." in json.dumps(home)
    click_preview(bot, ANA, "not-a-number", ana_home)
    assert bot.calls("views.open") == []
