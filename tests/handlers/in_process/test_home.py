"""The App Home in process: app_home_opened publishing it, and the Done button of an action item."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

import pytest

from storage.models import ActionItem, ActionItemStatus
from tests.handlers.in_process.flows import blocks_text, button, circle_with_ana_and_ben
from tests.harness import ANA, BEN, CHANNEL, EVE, TEAM, FakeClock
from tests.in_process import Answer, InProcessBot


def open_home(bot: InProcessBot, user: str, tab: str = "home") -> Answer:
    return bot.event({"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": tab})


def home_of(bot: InProcessBot, user: str) -> dict[str, Any]:
    view = bot.fake.home_view(user)
    assert view is not None
    return view


def notice(view: dict[str, Any]) -> str:
    [block] = [b for b in view["blocks"] if b.get("block_id") == "home_notice"]
    return str(block["text"]["text"])


def add_item(bot: InProcessBot, clock: FakeClock, circle_id: int, text: str, user: str) -> int:
    with bot.db.session() as session:
        item = ActionItem(
            team_id=TEAM,
            circle_id=circle_id,
            user_id=user,
            question_id="next_step",
            text=text,
            due_date=date(2026, 11, 20),
            created_at=clock.now - timedelta(days=7),
        )
        session.add(item)
        session.flush()
        assert item.id is not None
        return item.id


def item_row(bot: InProcessBot, item_id: int) -> ActionItem:
    with bot.db.session() as session:
        item = session.get(ActionItem, item_id)
        assert item is not None
        return item


def click_done(bot: InProcessBot, user: str, value: str, home: dict[str, Any]) -> Answer:
    return bot.block_action("action_item_done", value, user=user, view=home)


# --- app_home_opened ------------------------------------------------------------------------


def test_opening_the_home_publishes_the_circles_of_that_person(
    in_process_bot: InProcessBot,
) -> None:
    bot = in_process_bot
    circle_with_ana_and_ben(bot, "Product &lt;Leads&gt;")
    answer = open_home(bot, ANA)
    assert answer.status == 200
    [publish] = answer.calls_to("views.publish")
    assert publish.ok and publish.args["user_id"] == ANA
    shown = blocks_text(home_of(bot, ANA))
    assert f"*Product &lt;Leads&gt;* in <#{CHANNEL}>" in shown
    assert "You are a participant." in shown


def test_the_home_of_someone_without_a_circle_says_how_to_join(
    sqlite_in_process_bot: InProcessBot,
) -> None:
    bot = sqlite_in_process_bot
    open_home(bot, EVE)
    assert "You're not in a circle yet" in blocks_text(home_of(bot, EVE))


def test_the_messages_tab_publishes_nothing(sqlite_in_process_bot: InProcessBot) -> None:
    answer = open_home(sqlite_in_process_bot, EVE, tab="messages")
    assert answer.status == 200 and answer.calls == []


def test_slack_refusing_the_home_is_logged_not_raised(
    sqlite_in_process_bot: InProcessBot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = sqlite_in_process_bot
    bot.fake.inject_error("views.publish", "internal_error")
    answer = open_home(bot, ANA)
    assert answer.status == 200  # the event is acked all the same; Slack won't retry it
    assert [c.error for c in answer.calls_to("views.publish")] == ["internal_error"]
    assert f"could not publish the Home of {ANA}: internal_error" in caplog.text
    assert bot.fake.home_view(ANA) is None


# --- the Done button --------------------------------------------------------------------------


def test_done_completes_your_own_item_and_republishes_the_home(
    in_process_bot: InProcessBot, clock: FakeClock
) -> None:
    bot = in_process_bot
    circle_id = circle_with_ana_and_ben(bot)
    item = add_item(bot, clock, circle_id, "Ask Ben for feedback", ANA)
    open_home(bot, ANA)
    home = home_of(bot, ANA)
    assert button(home["blocks"], "action_item_done")["value"] == str(item)

    answer = click_done(bot, ANA, str(item), home)
    assert answer.status == 200
    done = item_row(bot, item)
    assert (done.status, done.done_at) == (ActionItemStatus.DONE, clock.now)
    [publish] = answer.calls_to("views.publish")
    assert publish.ok and publish.args["user_id"] == ANA
    home = home_of(bot, ANA)
    assert notice(home) == "Done: *Ask Ben for feedback*. Nice work!"
    assert "action_item_done" not in blocks_text(home)


def test_done_on_someone_elses_item_is_refused_logged_and_changes_nothing(
    in_process_bot: InProcessBot, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    bot = in_process_bot
    item = add_item(bot, clock, circle_with_ana_and_ben(bot), "Ana's commitment", ANA)
    open_home(bot, BEN)
    caplog.set_level(logging.WARNING, logger="handlers.action_items")
    click_done(bot, BEN, str(item), home_of(bot, BEN))
    row = item_row(bot, item)
    assert (row.status, row.done_at) == (ActionItemStatus.OPEN, None)
    home = home_of(bot, BEN)
    assert notice(home) == "This action item belongs to someone else, so I left it alone."
    assert "Ana's commitment" not in blocks_text(home)
    assert f"action_item_done refused (not_yours): {BEN} clicked item {item}" in caplog.text


@pytest.mark.parametrize("forged", ["999999", "abc", "-1", str(2**40)])
def test_done_with_an_unknown_or_forged_id_changes_nothing(
    sqlite_in_process_bot: InProcessBot, clock: FakeClock, forged: str
) -> None:
    bot = sqlite_in_process_bot
    item = add_item(bot, clock, circle_with_ana_and_ben(bot), "Write the doc", ANA)
    open_home(bot, ANA)
    click_done(bot, ANA, forged, home_of(bot, ANA))
    assert item_row(bot, item).status == ActionItemStatus.OPEN
    assert notice(home_of(bot, ANA)) == (
        "I couldn't find this action item any more, so nothing was changed."
    )
