"""Signing up to demo in process: the reminder's button, the modal and its submission."""

from __future__ import annotations

import json
from typing import Any

import pytest

from storage.models import DemoSignup
from tests.handlers.in_process.flows import (
    add_demo_day,
    circle_with_ana_and_ben,
    click_in_message,
    ephemeral_texts,
    opened_view,
    post_reminder,
    rows,
)
from tests.harness import ANA, EVE, FAC, TEAM, FakeClock
from tests.in_process import Answer, InProcessBot

TITLE_BLOCK, TRIED_BLOCK = "demo_title", "demo_tried"


def setup(bot: InProcessBot, clock: FakeClock) -> tuple[int, dict[str, Any]]:
    demo_day_id = add_demo_day(bot, clock, circle_with_ana_and_ben(bot))
    return demo_day_id, post_reminder(bot, clock, demo_day_id)


def sign_up(bot: InProcessBot, reminder: dict[str, Any], user: str) -> dict[str, Any] | None:
    """Press "Sign up to demo"; the modal the bot opened, if any."""
    before = len(bot.calls("views.open"))
    assert click_in_message(bot, reminder, "demoday_signup", user=user).status == 200
    return opened_view(bot, before)


def submit(
    bot: InProcessBot, view: dict[str, Any], user: str, title: str | None, tried: str | None
) -> Answer:
    values = {
        TITLE_BLOCK: {"title": {"type": "plain_text_input", "value": title}},
        TRIED_BLOCK: {"what_tried": {"type": "plain_text_input", "value": tried}},
    }
    return bot.view_submission(view, values, user=user)


def dms(bot: InProcessBot, user: str) -> list[str]:
    return [m["text"] for m in bot.fake.messages(bot.fake.dm_channel_of(user))]


def test_the_button_opens_the_signup_modal(in_process_bot: InProcessBot, clock: FakeClock) -> None:
    bot = in_process_bot
    demo_day_id, reminder = setup(bot, clock)
    view = sign_up(bot, reminder, ANA)
    assert view is not None
    assert view["callback_id"] == "demoday_signup_modal"
    assert json.loads(view["private_metadata"]) == {"demo_day_id": demo_day_id}
    assert "Q4 &lt;demo&gt; day" in view["blocks"][0]["text"]["text"]
    assert view["blocks"][1]["element"]["max_length"] == 150
    assert rows(bot, DemoSignup) == []


def test_an_outsider_is_refused_without_a_modal(
    in_process_bot: InProcessBot, clock: FakeClock
) -> None:
    bot = in_process_bot
    _id, reminder = setup(bot, clock)
    assert sign_up(bot, reminder, EVE) is None
    assert bot.calls("views.open") == []
    [refusal] = ephemeral_texts(bot, EVE)
    assert "Only members of *Product Leads* can sign up to demo" in refusal
    assert f"<@{FAC}>" in refusal
    assert rows(bot, DemoSignup) == []


def test_a_submitted_signup_is_saved_and_confirmed_by_dm(
    in_process_bot: InProcessBot, clock: FakeClock
) -> None:
    bot = in_process_bot
    demo_day_id, reminder = setup(bot, clock)
    view = sign_up(bot, reminder, ANA)
    assert view is not None
    answer = submit(bot, view, ANA, "  Pricing <!channel> test ", "Two prices, one week")
    assert (answer.status, answer.json) == (200, None)
    assert bot.fake.view_stack(view["id"]) == []  # the modal closed
    [signup] = rows(bot, DemoSignup)
    assert (signup.team_id, signup.demo_day_id, signup.user_id) == (TEAM, demo_day_id, ANA)
    assert (signup.title, signup.what_tried) == ("Pricing <!channel> test", "Two prices, one week")
    assert signup.created_at == clock.now
    [dm] = dms(bot, ANA)
    assert "You're signed up to demo *Pricing &lt;!channel&gt; test*" in dm
    assert "<!channel>" not in dm


@pytest.mark.parametrize("title", ["", "   ", None])
def test_an_empty_title_is_an_error_under_the_title(
    sqlite_in_process_bot: InProcessBot, clock: FakeClock, title: str | None
) -> None:
    bot = sqlite_in_process_bot
    _id, reminder = setup(bot, clock)
    view = sign_up(bot, reminder, ANA)
    assert view is not None
    answer = submit(bot, view, ANA, title, "Something")
    assert answer.json == {
        "response_action": "errors",
        "errors": {TITLE_BLOCK: "Give your demo a title."},
    }
    assert bot.fake.view_stack(view["id"]) == [view["id"]]  # still open
    assert rows(bot, DemoSignup) == [] and dms(bot, ANA) == []


def test_over_long_answers_are_refused_even_if_the_client_allowed_them(
    in_process_bot: InProcessBot, clock: FakeClock
) -> None:
    bot = in_process_bot
    _id, reminder = setup(bot, clock)
    view = sign_up(bot, reminder, ANA)
    assert view is not None
    answer = submit(bot, view, ANA, "t" * 151, "w" * 301)
    assert answer.json is not None and answer.json["errors"] == {
        TITLE_BLOCK: "Keep this to 150 characters or fewer.",
        TRIED_BLOCK: "Keep this to 300 characters or fewer.",
    }
    assert rows(bot, DemoSignup) == []
